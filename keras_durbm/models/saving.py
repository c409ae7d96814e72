"""Saving and loading trained networks (`.keras`, safe mode, atomic writes)."""

from __future__ import annotations

import os

import keras

from keras_durbm.atomic_files import atomic_path
from keras_durbm.config.model_file import MODEL_FILENAME, check_archive, resolve_model_path
from keras_durbm.errors import text_excerpt
from keras_durbm.models.network import DuRBMNetwork  # importing it registers every layer of the network

__all__ = ["MODEL_FILENAME", "load_durbm", "resolve_model_path", "save_durbm"]


def load_durbm(path: str) -> DuRBMNetwork:
    """Loads a trained network with `safe_mode=True` (the model has no Lambda layers)."""
    path = resolve_model_path(path)
    check_archive(path)  # member sizes from the zip's directory: no zip bomb reaches Keras
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for malformed archives, quoting what it read
        raise ValueError(f"cannot load model {path}: {text_excerpt(str(error), 300)}") from error
    if not isinstance(model, DuRBMNetwork):
        raise ValueError(f"model {path} is a {type(model).__name__}, not a keras_durbm network")
    return model


def save_durbm(model: keras.Model, path: str) -> None:
    """Saves to `path` through a temporary file in the same folder, so a crash leaves no partial model."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        model.save(tmp, overwrite=True)
