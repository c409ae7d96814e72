"""Fixtures of the serving tests: the shared export's SavedModels behind the stand-in server.

The export these tests serve is built once per test process by tests/support/exports.py.
"""

import os

import pytest

from tests.support.exports import EXPORTED_HEAD, exported_dir


@pytest.fixture(scope="session")
def serving_dir() -> str:
    return os.path.join(exported_dir(), "serving")


@pytest.fixture(scope="session")
def head() -> str:
    return EXPORTED_HEAD


@pytest.fixture(scope="session")
def standin(serving_dir):
    from serving.standin import StandIn

    with StandIn(serving_dir) as server:
        yield server
