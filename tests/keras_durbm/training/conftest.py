"""Fixtures of the training tests: the distributed helper and one single-device reference run."""

import pytest

from tests.support import dist_run as dist_run_module
from tests.support import processes


@pytest.fixture(scope="session")
def dist_run():
    return dist_run_module


@pytest.fixture(scope="session")
def reference_run(dist_run):
    """The fixed tiny experiment on the default (one-device) strategy, with weights after every step."""
    return dist_run.run("default", snapshots=True)


@pytest.fixture(scope="session")
def child_python():
    return processes
