"""`python -m tfrecords_tools.inspect_shards`: per task/split table, random pair grid, shard verification; and the
two CLIs run as real `python -m` processes (exit status)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from keras_durbm.config.tasks import RAIN
from tfrecords_tools import inspect_shards, inspection
from tfrecords_tools.converters import convert_pairs, convert_reside_sots
from tfrecords_tools.writer import WriteConfig


def converted(tmp_path, trees):
    out = str(tmp_path / "out")
    pairs = trees.pairs(str(tmp_path / "p"), stems=("a", "b", "c"))
    convert_pairs(str(tmp_path / "p"), out, task=RAIN, write=WriteConfig(progress=False, workers=1, min_size=8))
    trees.reside_sots(str(tmp_path / "sots"), ids=(1400,), per_gt=4)
    convert_reside_sots(str(tmp_path / "sots"), out, write=WriteConfig(progress=False, workers=1, min_shards=2))
    return out, pairs


def test_table_grid_and_verify(tmp_path, trees, capsys):
    out, pairs = converted(tmp_path, trees)
    rows = {r["group"]: r for r in inspection.summarize(out)}
    assert rows["rain/train"]["examples"] == 3 and rows["rain/train"]["shards"] == 1
    assert rows["haze/test"]["examples"] == 4 and rows["haze/test"]["shards"] == 2
    assert list(rows["haze/test"]["min_hw"]) == [20, 24] and rows["haze/test"]["complete"]

    grid = str(tmp_path / "grid.png")
    assert inspect_shards.main([out, "--verify", "-n", "5", "--grid", grid]) == 0
    text = capsys.readouterr().out
    assert "rain/train" in text and "haze/test" in text and "verify: all shards match" in text
    assert "total" in text and " 7 " in text
    with Image.open(grid) as img:
        assert img.height == 5 * (160 + 14 + 6)

    picked = inspection.sample_examples(out, 3, seed=0, task=RAIN)
    assert sorted(p["source"] for p in picked) == ["input/a.png", "input/b.png", "input/c.png"]
    for p in picked:
        np.testing.assert_array_equal(p["input"], pairs[p["source"]][0])

    shard = os.path.join(out, "haze-test-00001.tfrecord")
    data = bytearray(open(shard, "rb").read())
    data[-20] ^= 1
    open(shard, "wb").write(bytes(data))
    assert inspect_shards.main([out, "--verify", "--no-grid"]) == 1
    err = capsys.readouterr().err
    assert "haze-test-00001.tfrecord: SHA-256 differs from manifest.json" in err


def test_inspect_of_a_folder_without_manifest_is_an_error(tmp_path, capsys):
    assert inspect_shards.main([str(tmp_path)]) == 2
    assert "manifest.json: no manifest.json" in capsys.readouterr().err


def test_command_line_entry_points_exit_status(tmp_path, trees):
    src = str(tmp_path / "sots")
    trees.reside_sots(src, ids=(1400,), per_gt=2)
    out = str(tmp_path / "out")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "2"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, timeout=300)

    ok = run("tfrecords_tools.convert", "reside-sots", src, out, "--no-progress")
    assert ok.returncode == 0, ok.stderr
    assert "haze/test: 2 examples in 1 shard(s)" in ok.stdout
    bad = run("tfrecords_tools.convert", "gopro", src, str(tmp_path / "o2"), "--no-progress")
    assert bad.returncode == 2 and "error: " in bad.stderr and "split folder 'train' does not exist" in bad.stderr
    shown = run("tfrecords_tools.inspect_shards", out, "--no-grid")
    assert shown.returncode == 0 and "haze/test" in shown.stdout
