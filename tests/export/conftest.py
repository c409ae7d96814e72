"""Fixtures of the export tests: the trained tiny network's export (see tests/support/exports.py; the network
itself is `trained_model` in tests/conftest.py)."""

import json
import os

import pytest

from tests.support.exports import exported_dir


@pytest.fixture(scope="session")
def export_dir() -> str:
    return exported_dir()


@pytest.fixture(scope="session")
def report(export_dir) -> dict:
    with open(os.path.join(export_dir, "report.json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def parity_images() -> list:
    """The report's parity photographs (odd sizes) as float32 in [0, 1]."""
    import numpy as np

    from export.calibration import PARITY_PHOTOS
    from tfrecords_tools.photos import load_photos

    return [p.astype(np.float32) / np.float32(255.0) for _, p in load_photos(PARITY_PHOTOS, 48)]
