"""Sharded writer: atomic shards, resume after a failure, detection of changed sources and settings,
determinism across worker counts."""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np
import pytest

from keras_durbm.errors import BadImageError
from tfrecords_tools.converters import convert_div2k_jpeg
from tfrecords_tools.errors import ManifestError
from tfrecords_tools.manifest import conversion_lock, load_manifest, shard_files
from tfrecords_tools.writer import WriteConfig, plan_shards

# 24x32 images: ~2.3 kB estimated per example, so 0.004 MB shards hold one example each.
ONE_PER_SHARD = WriteConfig(progress=False, workers=1, min_size=8, shard_mb=0.004)
QUALITIES = [10]


def stamps(out):
    return {n: (os.stat(os.path.join(out, n)).st_ino, os.stat(os.path.join(out, n)).st_mtime_ns)
            for n in sorted(os.listdir(out)) if n.endswith(".tfrecord")}


def shas(group):
    return [s.sha256 for s in group.shards]


@pytest.fixture
def div2k(tmp_path, trees):
    src = str(tmp_path / "DIV2K_train_HR")
    return src, trees.clean_folder(src, names=[f"{i:04d}.png" for i in range(1, 7)])


def test_plan_respects_shard_size_and_min_shards():
    assert plan_shards([(100, 100)] * 10, encoding="png", shard_mb=0.06) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert plan_shards([(100, 100)] * 10, encoding="raw", shard_mb=0.06) == [[i] for i in range(10)]
    assert plan_shards([(10, 10)] * 5, encoding="png", shard_mb=100, min_shards=3) == [[0, 1], [2, 3], [4]]
    assert len(plan_shards([(10, 10)] * 2, encoding="png", shard_mb=100, min_shards=4)) == 2


def test_failure_leaves_finished_shards_and_rerun_resumes_to_the_same_result(tmp_path, div2k, trees):
    src, clean = div2k
    out = str(tmp_path / "out")
    bad = os.path.join(src, "0004.png")
    trees.truncate_file(bad, 0.5)
    with pytest.raises(BadImageError, match=r"0004\.png: truncated or corrupt image data"):
        convert_div2k_jpeg(src, out, qualities=QUALITIES, write=ONE_PER_SHARD)
    assert sorted(stamps(out)) == [f"jpeg-train-{i:05d}.tfrecord" for i in range(3)]
    assert not [n for n in os.listdir(out) if ".tmp" in n], "no half-written shard may remain"
    assert load_manifest(out).groups["jpeg/train"].complete is False
    with pytest.raises(ManifestError, match="incomplete"):
        shard_files(out, "jpeg", "train")

    before = stamps(out)
    trees.save(bad, clean["0004.png"])
    group = convert_div2k_jpeg(src, out, qualities=QUALITIES, write=ONE_PER_SHARD)
    after = stamps(out)
    assert len(after) == 6 and group.complete
    for name, stamp in before.items():
        assert after[name] == stamp, f"{name} was rewritten although it was finished"
    fresh = convert_div2k_jpeg(src, str(tmp_path / "fresh"), qualities=QUALITIES, write=ONE_PER_SHARD)
    assert shas(group) == shas(fresh)


def test_changed_source_rebuilds_only_its_shard(tmp_path, div2k, trees, caplog):
    src, _ = div2k
    out = str(tmp_path / "out")
    first = convert_div2k_jpeg(src, out, qualities=QUALITIES, write=ONE_PER_SHARD)
    before = stamps(out)
    again = convert_div2k_jpeg(src, out, qualities=QUALITIES, write=ONE_PER_SHARD)
    assert stamps(out) == before and shas(again) == shas(first), "an unchanged rerun rewrites nothing"

    new = trees.random_image(24, 32, 77)
    trees.save(os.path.join(src, "0002.png"), new)
    with caplog.at_level(logging.WARNING, logger="tfrecords_tools"):
        group = convert_div2k_jpeg(src, out, qualities=QUALITIES, write=ONE_PER_SHARD)
    assert "jpeg-train-00001.tfrecord: sources or settings changed" in caplog.text
    after = stamps(out)
    changed = [n for n in before if after[n] != before[n]]
    assert changed == ["jpeg-train-00001.tfrecord"]
    assert shas(group)[1] != shas(first)[1] and shas(group)[2:] == shas(first)[2:]
    rec = {r["source"]: r for r in trees.read_group(out)}["0002.png#q=10"]
    np.testing.assert_array_equal(rec["target"], new)


def test_damaged_or_deleted_shard_is_rebuilt_on_rerun(tmp_path, div2k):
    src, _ = div2k
    out = str(tmp_path / "out")
    first = convert_div2k_jpeg(src, out, qualities=QUALITIES, write=ONE_PER_SHARD)
    os.remove(os.path.join(out, "jpeg-train-00003.tfrecord"))
    with open(os.path.join(out, "jpeg-train-00004.tfrecord"), "r+b") as f:
        f.seek(40)
        f.write(b"\xff\xfe")
    assert shas(convert_div2k_jpeg(src, out, qualities=QUALITIES, write=ONE_PER_SHARD)) == shas(first)


def test_other_settings_are_refused_unless_overwrite(tmp_path, div2k):
    src, _ = div2k
    out = str(tmp_path / "out")
    convert_div2k_jpeg(src, out, qualities=QUALITIES, write=ONE_PER_SHARD)
    with pytest.raises(ManifestError, match=r"jpeg/train was converted with different settings \(differs in: options\)"):
        convert_div2k_jpeg(src, out, qualities=[30], write=ONE_PER_SHARD)
    group = convert_div2k_jpeg(src, out, qualities=[30],
                               write=dataclasses.replace(ONE_PER_SHARD, overwrite=True, shard_mb=1.0))
    assert group.options["qualities"] == [30] and len(group.shards) == 1
    assert sorted(stamps(out)) == ["jpeg-train-00000.tfrecord"], "stale shards of the old conversion are removed"


def test_output_does_not_depend_on_the_number_of_workers(tmp_path, div2k):
    src, _ = div2k
    opts = dataclasses.replace(ONE_PER_SHARD, shard_mb=0.005)  # two examples per shard
    one = convert_div2k_jpeg(src, str(tmp_path / "w1"), qualities=QUALITIES, write=dataclasses.replace(opts, workers=1))
    three = convert_div2k_jpeg(src, str(tmp_path / "w3"), qualities=QUALITIES,
                               write=dataclasses.replace(opts, workers=3))
    assert shas(one) == shas(three) and len(one.shards) == 3


def test_a_folder_is_locked_while_a_conversion_writes_it(tmp_path, div2k):
    src, _ = div2k
    out = tmp_path / "out"
    out.mkdir()
    with conversion_lock(out), pytest.raises(ManifestError, match="another conversion is writing this folder"):
        convert_div2k_jpeg(src, str(out), qualities=QUALITIES, write=ONE_PER_SHARD)
