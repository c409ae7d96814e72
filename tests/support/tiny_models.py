"""A tiny saved network with fixed random weights, shared by the evaluation/restoration tests (built once per
test process)."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile


@functools.cache
def tiny_model_path() -> str:
    """`model.keras` of a tiny `R>B>H` network with fixed random weights, in a temporary folder."""
    import keras

    from keras_durbm.config.model import model_preset
    from keras_durbm.models import build_durbm, save_durbm

    folder = tempfile.mkdtemp(prefix="durbm-tiny-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    keras.utils.set_random_seed(7)
    path = os.path.join(folder, "model.keras")
    save_durbm(build_durbm(model_preset("tiny", topology="R>B>H")), path)
    return path


@functools.cache
def tiny_model():
    """The network of `tiny_model_path()`, loaded once (its traced heads are cached with it)."""
    from keras_durbm.models.saving import load_durbm  # not the name reuse_loaded_tiny_model patches

    return load_durbm(tiny_model_path())


def reuse_loaded_tiny_model(monkeypatch) -> None:
    """Makes `load_durbm(tiny_model_path())` return the already loaded `tiny_model()`, so CLI tests skip
    re-loading and re-tracing (seconds each); any other path still goes through the real loader."""
    import keras_durbm.models

    real = keras_durbm.models.load_durbm

    def load(path):
        return tiny_model() if str(path) == tiny_model_path() else real(path)

    monkeypatch.setattr(keras_durbm.models, "load_durbm", load)
