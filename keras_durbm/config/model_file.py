"""Where a trained network lives and what it is, read without Keras: the `.keras` path and its model config.

A `.keras` file is a zip whose `config.json` holds the network's `ModelConfig` (DuRBMNetwork stores it,
docs/design.md §2), so a command can learn a model's heads and widths, or refuse a wrong file, before
importing TensorFlow.

Every reader of a `.keras` file checks its members first (`check_archive`): the sizes the zip's
central directory declares are held against what a network of this project can need, before any
member is inflated. Python's `zipfile` (which Keras uses too) never inflates a member past its declared
size, so a zip bomb (a few MB whose `config.json` inflates to gigabytes) is refused in milliseconds.
"""

from __future__ import annotations

import json
import os
import zipfile

from keras_durbm.config.model import ModelConfig, stored_model_config
from keras_durbm.errors import text_excerpt

MODEL_FILENAME = "model.keras"
#: The name every `--model` takes for the pretrained model that ships inside the package
#: (`keras_durbm/starter/`, its card in the README there); a file or folder of that name wins.
STARTER = "starter"
STARTER_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), STARTER, MODEL_FILENAME)
NETWORK_CLASS = "DuRBMNetwork"
WEIGHTS_MEMBER = "model.weights.h5"
#: Largest weights file accepted: 512 MiB, 14× the largest preset's (`paper`, four heads: 37.5 MB). Keras
#: reads the weights member whole into memory, so this bounds what loading a model costs.
WEIGHTS_LIMIT = 512 * 2**20
#: Largest size of every other member (`config.json` and `metadata.json` are under 1 KB).
MEMBER_LIMIT = 2**20
#: Most members a `.keras` file of this project holds (it has three).
MEMBERS_LIMIT = 64


def resolve_model_path(path: str) -> str:
    """Accepts a `.keras` file, a run folder holding `model.keras`, or `starter` (the model that ships in
    the package); errors say what was expected."""
    if path == STARTER and not os.path.exists(path):
        if not os.path.isfile(STARTER_PATH):
            raise FileNotFoundError(f"the starter model is not in this installation ({STARTER_PATH} is missing): "
                                    "reinstall keras_durbm, or train it: python -m keras_durbm.train --experiment "
                                    "starter --run-dir runs/starter, then pass --model runs/starter")
        return STARTER_PATH
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


def _not_keras(path: str, error: BaseException | str) -> ValueError:
    return ValueError(f"model {path} is not a Keras 3 .keras archive (corrupt or another format): "
                      f"{text_excerpt(str(error))}")


def check_members(archive: zipfile.ZipFile, path: str) -> None:
    """Refuses (`ValueError`) a `.keras` archive whose directory declares more members, or larger ones, than a
    network of this project has: read from the zip's central directory, before any member is inflated."""
    members = archive.infolist()
    if len(members) > MEMBERS_LIMIT:
        raise ValueError(f"model {path} holds {len(members):,} files; expected a .keras file of keras_durbm "
                         f"(3 files, at most {MEMBERS_LIMIT})")
    for info in members:
        limit = WEIGHTS_LIMIT if info.filename == WEIGHTS_MEMBER else MEMBER_LIMIT
        if info.file_size > limit:
            raise ValueError(f"model {path}: its member {text_excerpt(info.filename, 80)} declares "
                             f"{info.file_size:,} bytes, over the limit of {limit:,}; expected a .keras file of "
                             "keras_durbm (config.json is a few KB, weights at most "
                             f"{WEIGHTS_LIMIT // 2**20} MiB)")


def check_archive(path: str) -> None:
    """`check_members` of the `.keras` file at `path`; a file that is no zip is a `ValueError` too."""
    try:
        with zipfile.ZipFile(path) as archive:
            check_members(archive, path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as error:
        raise _not_keras(path, error) from None


def read_model_config(path: str) -> ModelConfig:
    """The `ModelConfig` stored in a `.keras` file (or run folder), without loading its weights."""
    path = resolve_model_path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            check_members(archive, path)
            stored = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError,
            RecursionError, EOFError) as error:
        raise _not_keras(path, error) from None
    if not isinstance(stored, dict) or stored.get("class_name") != NETWORK_CLASS:
        found = stored.get("class_name") if isinstance(stored, dict) else type(stored).__name__
        raise ValueError(f"model {path} is a {text_excerpt(str(found), 80)}, not a keras_durbm network")
    try:
        return stored_model_config(stored["config"]["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"model {path}: its stored model config is unreadable ({text_excerpt(str(error))})") from None
