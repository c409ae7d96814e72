"""Fixtures of the serving tests: the shared export's SavedModels behind the stand-in server."""

import os
import sys

import pytest

# Conftest folders are not on sys.path by themselves: this one holds client_checks.py, and the export these
# tests serve is built once per test process by tests/export/export_test_utils.py.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.normpath(os.path.join(HERE, os.pardir, "export"))]
from export_test_utils import EXPORTED_HEAD, exported_dir, trained_tiny_path  # noqa: E402


@pytest.fixture(scope="session")
def serving_dir() -> str:
    return os.path.join(exported_dir(), "serving")


@pytest.fixture(scope="session")
def head() -> str:
    return EXPORTED_HEAD


@pytest.fixture(scope="session")
def trained_model_path() -> str:
    return trained_tiny_path()


@pytest.fixture(scope="session")
def standin(serving_dir):
    from serving.standin import StandIn

    with StandIn(serving_dir) as server:
        yield server
