"""Shared test set-up: quiet TensorFlow, deterministic seeds, CPU only; `tensorflow_only` tests are skipped
when Keras runs on another backend (tests/keras_durbm/test_backends.py runs the layer tests under JAX)."""

import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_durbm.cli import quiet_tensorflow  # noqa: E402

quiet_tensorflow()  # TensorFlow's C++ start-up lines stay out of the test output


#: Test files that use the shared trained model and its export (tests/support/exports.py): under pytest-xdist
#: they run in one worker, one after the other, like a single file. Others build it once too
#: (tests/support/shared_builds.py) but may wait for it.
SHARED_MODEL_FILES = ("tests/app/", "tests/export/", "tests/serving/", "tests/reliability/test_standin_load.py",
                      "tests/reliability/test_hostile_requests.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`./run.sh test` runs the suite in pytest-xdist workers: a file's tests stay in one worker (its module
    fixtures are built once), and so do all files of `SHARED_MODEL_FILES`."""
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::")[0]
            return "shared-trained-model" if path.startswith(SHARED_MODEL_FILES) else path

    return FileScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    import keras

    # Long files first (those with `slow` tests, and the shared model's), so that under pytest-xdist the
    # workers end together instead of one finishing a long file alone; the export tests lead, so the shared
    # export is built at the start, before another worker's file asks for it. The order within a file is kept.
    def path(item):
        return item.nodeid.split("::")[0]

    long_files = {path(i) for i in items if "slow" in i.keywords or path(i).startswith(SHARED_MODEL_FILES)}
    items.sort(key=lambda item: (path(item) not in long_files, not path(item).startswith("tests/export/")))
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"uses TensorFlow APIs on Keras tensors; Keras runs on {keras.backend.backend()}")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    """Gives a pytest-xdist run the id its workers share (tests/support/shared_builds.py keys on it)."""
    if not hasattr(config, "workerinput") and getattr(config.option, "numprocesses", None):
        import uuid

        config.option.testrunuid = config.option.testrunuid or uuid.uuid4().hex


def pytest_unconfigure(config):
    """Removes the folders the run's workers shared, once the run is over (in the controlling process)."""
    uid = getattr(config.option, "testrunuid", None)
    if uid and not hasattr(config, "workerinput"):
        import shutil

        from tests.support.shared_builds import run_folder

        shutil.rmtree(run_folder(uid), ignore_errors=True)


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
