"""Where a trained network lives and what it is, read without Keras: the `.keras` path and its model config.

A `.keras` file is a zip whose `config.json` holds the network's `ModelConfig` (DuRBMNetwork stores it,
docs/design.md §2), so a command can learn a model's heads and widths, or refuse a wrong file, before
importing TensorFlow.
"""

from __future__ import annotations

import json
import os
import zipfile

from keras_durbm.model_config import ModelConfig, stored_model_config

MODEL_FILENAME = "model.keras"
NETWORK_CLASS = "DuRBMNetwork"


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


def read_model_config(path: str) -> ModelConfig:
    """The `ModelConfig` stored in a `.keras` file (or run folder), without loading its weights."""
    path = resolve_model_path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            stored = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"model {path} is not a Keras 3 .keras archive (corrupt or another format): {error}") from None
    if not isinstance(stored, dict) or stored.get("class_name") != NETWORK_CLASS:
        found = stored.get("class_name") if isinstance(stored, dict) else type(stored).__name__
        raise ValueError(f"model {path} is a {found}, not a keras_durbm network")
    try:
        return stored_model_config(stored["config"]["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"model {path}: its stored model config is unreadable ({error})") from None
