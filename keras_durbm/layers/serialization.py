"""One decorator that registers every project layer for `.keras` saving."""

import keras

PACKAGE = "keras_durbm"


def serializable(cls):
    """Registers `cls` under the `keras_durbm>` prefix so `load_model(safe_mode=True)` finds it."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
