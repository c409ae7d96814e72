"""Saving and loading trained networks (`.keras`, safe mode, atomic writes)."""

from __future__ import annotations

import os
import zipfile

import keras

from keras_durbm.atomic_files import atomic_path
from keras_durbm.model_file import MODEL_FILENAME, resolve_model_path
from keras_durbm.models.network import DuRBMNetwork  # importing it registers every layer of the network

__all__ = ["MODEL_FILENAME", "load_durbm", "resolve_model_path", "save_durbm"]


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
