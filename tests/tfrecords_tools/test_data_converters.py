"""Every converter on a small tree laid out exactly like its dataset; records are compared pixel for pixel
with the source files (and with PIL for resizing and JPEG)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from keras_durbm.config.tasks import HAZE, JPEG, MOTION_BLUR, RAIN, get_task
from keras_durbm.errors import BadImageError
from keras_durbm.images.pixels import to_float, to_uint8
from tfrecords_tools import convert
from tfrecords_tools.converters import (
    convert_didmdn,
    convert_div2k_jpeg,
    convert_gopro,
    convert_pairs,
    convert_reside_its,
    convert_reside_sots,
    convert_synth,
)
from tfrecords_tools.manifest import load_manifest, shard_files
from tfrecords_tools.synthesis import SYNTHESIZERS, resolve_params
from tfrecords_tools.writer import WriteConfig


def by_source(records):
    return {r["source"]: r for r in records}


def test_gopro_pairs_blur_with_sharp_frames(tmp_path, trees, fast):
    src, out = str(tmp_path / "GOPRO_Large"), str(tmp_path / "out")
    expected = trees.gopro(src, "train")
    group = convert_gopro(src, out, split="train", write=fast)
    recs = by_source(trees.read_group(out, "motion_blur", "train"))
    assert sorted(recs) == sorted(expected) and group.num_examples == 4
    for source, (blur, _, sharp) in expected.items():
        r = recs[source]
        np.testing.assert_array_equal(r["input"], blur)
        np.testing.assert_array_equal(r["target"], sharp)
        assert (r["task"], r["height"], r["width"], r["encoding"]) == ("motion_blur", 24, 32, "png")
    m = load_manifest(out).groups["motion_blur/train"]
    assert m.kind == "gopro" and m.options["blur"] == "blur" and m.complete


def test_gopro_blur_gamma_and_half_size_via_cli(tmp_path, trees, capsys):
    src, out = str(tmp_path / "GOPRO_Large"), str(tmp_path / "out")
    expected = trees.gopro(src, "test", seqs=("GOPR0384_11_00",), frames=3)
    code = convert.main(["gopro", src, out, "--split", "test", "--blur", "blur_gamma", "--half",
                         "--min-size", "8", "--workers", "2", "--no-progress"])
    assert code == 0
    assert "motion_blur/test: 3 examples in 1 shard(s)" in capsys.readouterr().out
    recs = trees.read_group(out, "B", "test")
    assert [r["source"] for r in recs] == [s.replace("/blur/", "/blur_gamma/") for s in sorted(expected)]
    for r, (_, gamma, sharp) in zip(recs, (expected[k] for k in sorted(expected)), strict=True):
        np.testing.assert_array_equal(r["input"], trees.pil_half(gamma))
        np.testing.assert_array_equal(r["target"], trees.pil_half(sharp))
        assert r["input"].shape == (12, 16, 3)


def test_reside_its_maps_hazy_names_to_clear_images(tmp_path, trees, fast):
    src, out = str(tmp_path / "ITS"), str(tmp_path / "out")
    expected = trees.reside_its(src)
    convert_reside_its(src, out, write=fast)
    recs = by_source(trees.read_group(out, "haze", "train"))
    assert sorted(recs) == sorted(expected)
    for source, (hazy, clear) in expected.items():
        np.testing.assert_array_equal(recs[source]["input"], hazy)
        np.testing.assert_array_equal(recs[source]["target"], clear)
        stem = os.path.splitext(os.path.basename(source))[0]
        assert recs[source]["meta"]["beta"] == float(stem.split("_")[2])
        assert recs[source]["meta"]["k"] == int(stem.split("_")[1])


def test_reside_sots_ten_hazy_per_ground_truth_and_larger_gt_is_centre_cropped(tmp_path, trees, fast):
    src, out = str(tmp_path / "SOTS" / "indoor"), str(tmp_path / "out")
    expected = trees.reside_sots(src, gt_margin=2)
    group = convert_reside_sots(src, out, write=fast)
    assert group.split == "test" and group.num_examples == 20
    recs = by_source(trees.read_group(out, "haze", "test"))
    for source, (hazy, gt) in expected.items():
        np.testing.assert_array_equal(recs[source]["input"], hazy)
        np.testing.assert_array_equal(recs[source]["target"], gt[2:-2, 2:-2])
        assert recs[source]["meta"]["target_cropped_from_hw"] == [24, 28]
    with pytest.raises(BadImageError, match=r"size 24x20 \(WxH\) differs from its target .*1400\.png \(28x24\)"):
        convert_reside_sots(src, str(tmp_path / "strict"), crop_gt=False, write=fast)


def test_didmdn_splits_each_file_left_rainy_right_clean(tmp_path, trees, fast):
    src, out = str(tmp_path / "DID-MDN-training"), str(tmp_path / "out")
    expected = trees.didmdn_train(src)
    convert_didmdn(src, out, write=fast)
    recs = by_source(trees.read_group(out, "rain", "train"))
    assert sorted(recs) == sorted(expected) and len(recs) == 6
    for source, pair in expected.items():
        np.testing.assert_array_equal(recs[source]["input"], pair[:, :24])
        np.testing.assert_array_equal(recs[source]["target"], pair[:, 24:])
    convert_didmdn(src, str(tmp_path / "swapped"), rainy_side="right", write=fast)
    swapped = by_source(trees.read_group(str(tmp_path / "swapped")))
    for source, pair in expected.items():
        np.testing.assert_array_equal(swapped[source]["input"], pair[:, 24:])


def test_didmdn_test_set_is_a_flat_folder_of_pairs(tmp_path, trees, fast):
    src = str(tmp_path / "DID-MDN-test")
    pairs = {f"{i}.jpg": trees.save(os.path.join(src, f"{i}.jpg"), trees.random_image(16, 40, i), quality=95)
             for i in (1, 2)}
    convert_didmdn(src, str(tmp_path / "out"), split="test", write=fast)
    recs = by_source(trees.read_group(str(tmp_path / "out"), "rain", "test"))
    for name, pair in pairs.items():
        np.testing.assert_array_equal(recs[name]["target"], pair[:, 20:])


def test_div2k_jpeg_writes_each_image_at_each_quality_as_pil_jpeg(tmp_path, trees, fast):
    src, out = str(tmp_path / "DIV2K_train_HR"), str(tmp_path / "out")
    clean = trees.clean_folder(src)
    group = convert_div2k_jpeg(src, out, write=fast)
    assert group.num_examples == 8 and group.options["qualities"] == [10, 20, 30, 40]
    recs = by_source(trees.read_group(out, "jpeg", "train"))
    for name, img in clean.items():
        for q in (10, 20, 30, 40):
            r = recs[f"{name}#q={q}"]
            np.testing.assert_array_equal(r["input"], trees.pil_jpeg(img, q))
            np.testing.assert_array_equal(r["target"], img)
            assert r["meta"]["quality"] == q
    convert_div2k_jpeg(src, str(tmp_path / "half"), qualities=[20], half=True, write=fast)
    half = by_source(trees.read_group(str(tmp_path / "half")))
    np.testing.assert_array_equal(half["0001.png#q=20"]["input"], trees.pil_jpeg(trees.pil_half(clean["0001.png"]), 20))


def test_live1_jpeg_uses_quality_10_for_the_test_split(tmp_path, trees, fast, capsys):
    src, out = str(tmp_path / "LIVE1"), str(tmp_path / "out")
    clean = trees.clean_folder(src, names=("bikes.bmp", "buildings.bmp"))
    assert convert.main(["live1-jpeg", src, out, "--no-progress", "--workers", "1"]) == 0
    recs = by_source(trees.read_group(out, "J", "test"))
    assert sorted(recs) == ["bikes.bmp#q=10", "buildings.bmp#q=10"]
    for name, img in clean.items():
        np.testing.assert_array_equal(recs[f"{name}#q=10"]["input"], trees.pil_jpeg(img, 10))
    assert load_manifest(out).groups["jpeg/test"].kind == "live1-jpeg"


def test_pairs_match_by_stem_across_extensions(tmp_path, trees, fast, caplog):
    src, out = str(tmp_path / "mine"), str(tmp_path / "out")
    expected = trees.pairs(src, target_ext=".bmp")
    trees.save(os.path.join(src, "target", "orphan.png"), trees.random_image(20, 24, 9))
    convert_pairs(src, out, task=get_task("H"), split="val", write=fast)
    recs = by_source(trees.read_group(out, "haze", "val"))
    assert sorted(recs) == sorted(expected)
    for source, (x, y) in expected.items():
        np.testing.assert_array_equal(recs[source]["input"], x)
        np.testing.assert_array_equal(recs[source]["target"], y)
    assert "orphan" in caplog.text


@pytest.mark.parametrize("task", [HAZE, RAIN, MOTION_BLUR, JPEG], ids=lambda t: t.name)
def test_synth_records_equal_the_synthesizer_output_for_the_recorded_seed(tmp_path, trees, fast, task):
    src, out = str(tmp_path / "clean"), str(tmp_path / "out")
    clean = trees.clean_folder(src, names=("a.png", "b.jpg"), h=32, w=40)
    group = convert_synth(src, out, task=task, seed=3, variants=2, write=fast)
    assert group.num_examples == 4 and group.synthesis["params"] == resolve_params(task)
    assert group.synthesis["seed"] == 3 and group.synthesis["function"].endswith(SYNTHESIZERS[task.name].__name__)
    recs = by_source(trees.read_group(out, task, "train"))
    assert sorted(recs) == ["a.png#v=0", "a.png#v=1", "b.jpg#v=0", "b.jpg#v=1"]
    for source, r in recs.items():
        img = clean[source.split("#")[0]]
        np.testing.assert_array_equal(r["target"], img)
        params = {k: v for k, v in resolve_params(task).items()}
        ref = to_uint8(SYNTHESIZERS[task.name](to_float(img), r["meta"]["seed"], **params))
        np.testing.assert_array_equal(r["input"], ref)
    assert recs["a.png#v=0"]["meta"]["seed"] != recs["a.png#v=1"]["meta"]["seed"]


def test_synth_from_arrays_is_deterministic_and_seed_dependent(tmp_path, trees, fast):
    images = {"astro": trees.random_image(24, 24, 1), "cafe": trees.random_image(24, 30, 2)}
    shas = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        g = convert_synth(images, str(tmp_path / name), task=RAIN, seed=seed, params={"length": [4, 8]}, write=fast)
        shas.append([s.sha256 for s in g.shards])
    assert shas[0] == shas[1] != shas[2]
    recs = by_source(trees.read_group(str(tmp_path / "a")))
    np.testing.assert_array_equal(recs["cafe#v=0"]["target"], images["cafe"])
    with pytest.raises(BadImageError, match=r"gray: array is uint8 with shape \(8, 8\); expected a uint8 \(H, W, 3\)"):
        convert_synth({"gray": np.zeros((8, 8), np.uint8)}, str(tmp_path / "d"), task=RAIN, write=fast)


def test_manifest_records_counts_checksums_schema_and_shard_sizes(tmp_path, trees):
    src, out = str(tmp_path / "DIV2K"), str(tmp_path / "out")
    trees.clean_folder(src, names=[f"{i:04d}.png" for i in range(1, 7)])
    group = convert_div2k_jpeg(src, out, write=WriteConfig(progress=False, min_size=8, shard_mb=0.004, workers=2))
    manifest = json.loads(open(os.path.join(out, "manifest.json")).read())
    assert manifest["schema_version"] == 1
    files = shard_files(out, "jpeg", "train")
    assert len(files) == len(group.shards) > 1, "a tiny shard_mb must split the 24 examples"
    from tfrecords_tools.writer import sha256_file

    for f, entry in zip(files, group.shards, strict=True):
        assert entry.sha256 == sha256_file(f) and entry.num_bytes == os.path.getsize(f)
    assert sum(e.num_examples for e in group.shards) == group.num_examples == 24
    assert [r["source"] for r in trees.read_group(out)] == sorted(
        f"{i:04d}.png#q={q}" for i in range(1, 7) for q in (10, 20, 30, 40))
    assert not [n for n in os.listdir(out) if ".tmp" in n]
