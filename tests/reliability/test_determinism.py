"""The same sources converted by two processes give byte-identical shards, so the SHA-256 in a manifest
proves a reproducible conversion (protobuf's map order used to differ between processes)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from tests.support.processes import run_python
from tfrecords_tools.manifest import load_manifest


@pytest.mark.slow
def test_two_processes_write_byte_identical_shards(tmp_path):
    os.makedirs(tmp_path / "photos")
    rng = np.random.default_rng(9)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(tmp_path / "photos" / f"p{i}.png")
    digests = []
    for run, hash_seed in (("a", "1"), ("b", "2")):
        done = run_python(["-m", "tfrecords_tools.convert", "synth", str(tmp_path / "photos"), str(tmp_path / run),
                           "--task", "haze", "--variants", "2", "--min-size", "16", "--no-progress", "-q"],
                          timeout=300, PYTHONHASHSEED=hash_seed)
        assert done.returncode == 0, done.stderr[-2000:]
        group = load_manifest(tmp_path / run).groups["haze/train"]
        digests.append([(s.file, s.num_examples, s.sha256) for s in group.shards])
    assert digests[0] == digests[1]
