"""Saving and loading trained networks (`.keras`, safe mode, atomic writes)."""

from __future__ import annotations

import os
import zipfile

import keras

from keras_durbm.atomic_files import atomic_path
from keras_durbm.models.network import DuRBMNetwork  # importing it registers every layer of the network

MODEL_FILENAME = "model.keras"


def resolve_model_path(path: str) -> str:
    """Accepts a `.keras` file or a run folder holding `model.keras`; errors say what was expected."""
    if os.path.isdir(path):
        candidate = os.path.join(path, MODEL_FILENAME)
        if not os.path.isfile(candidate):
            raise FileNotFoundError(
                f"{path} is a folder without {MODEL_FILENAME}: expected a trained model file or a training run folder"
            )
        return candidate
    if not os.path.exists(path):
        raise FileNotFoundError(f"model {path} does not exist (expected a .keras file or a run folder)")
    if not path.endswith(".keras"):
        raise ValueError(f"model {path}: expected a .keras file (Keras 3 format) or a run folder")
    return path


def load_durbm(path: str) -> DuRBMNetwork:
    """Loads a trained network with `safe_mode=True` (the model has no Lambda layers)."""
    path = resolve_model_path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"model {path} is not a Keras 3 .keras archive (corrupt or another format)")
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for malformed archives
        raise ValueError(f"cannot load model {path}: {error}") from error
    if not isinstance(model, DuRBMNetwork):
        raise ValueError(f"model {path} is a {type(model).__name__}, not a keras_durbm network")
    return model


def save_durbm(model: keras.Model, path: str) -> None:
    """Saves to `path` through a temporary file in the same folder, so a crash leaves no partial model."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        model.save(tmp, overwrite=True)
