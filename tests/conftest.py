"""Shared test set-up: quiet TensorFlow, deterministic seeds, CPU only; `tensorflow_only` tests are skipped
when Keras runs on another backend (tests/keras_durbm/test_backends.py runs the layer tests under JAX)."""

import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_durbm.cli import quiet_tensorflow  # noqa: E402

quiet_tensorflow()  # TensorFlow's C++ start-up lines stay out of the test output


def pytest_collection_modifyitems(config, items):
    import keras

    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"uses TensorFlow APIs on Keras tensors; Keras runs on {keras.backend.backend()}")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def trained_model_path() -> str:
    """The briefly trained tiny network with a classifier, shared by the export and app tests
    (tests/support/exports.py)."""
    from tests.support.exports import trained_tiny_path

    return trained_tiny_path()


@pytest.fixture(scope="session")
def trained_model(trained_model_path):
    from keras_durbm.models import load_durbm

    return load_durbm(trained_model_path)
