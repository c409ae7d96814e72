"""Fixtures of the data tests: the dataset tree builders and test write options."""

from __future__ import annotations

import types

import pytest

from tests.support import dataset_trees as t
from tfrecords_tools.writer import WriteConfig


@pytest.fixture(scope="session")
def trees():
    """Builders of fixture trees and readers, as one namespace."""
    return types.SimpleNamespace(
        random_image=t.random_image, coord_image=t.coord_image, save=t.save, png16_rgb=t.png16_rgb,
        truncate_file=t.truncate_file, gopro=t.make_gopro, reside_its=t.make_reside_its,
        reside_sots=t.make_reside_sots, didmdn_train=t.make_didmdn_train, clean_folder=t.make_clean_folder,
        pairs=t.make_pairs, read_group=t.read_group, pil_half=t.pil_half, pil_jpeg=t.pil_jpeg)


@pytest.fixture
def fast() -> WriteConfig:
    """Write options for tests: no bars, one thread, tiny images allowed."""
    return WriteConfig(progress=False, workers=1, min_size=8)
