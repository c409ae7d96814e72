"""Every kind of bad input: a clear error naming the file and what was expected, exit status 2 and nothing
half-written, or with --skip-bad the bad examples skipped and listed in the manifest."""

from __future__ import annotations

import dataclasses
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_durbm.config.tasks import HAZE
from tfrecords_tools import convert, pipeline
from tfrecords_tools.manifest import load_manifest, shard_files

CLI = ["--no-progress", "--workers", "1", "--min-size", "8"]


def run_fails(capsys, argv, *needles):
    out = argv[2]
    code = convert.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ")
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    if os.path.isdir(out):
        assert not [n for n in os.listdir(out) if n.endswith(".tfrecord") or ".tmp" in n], os.listdir(out)
    return err


@pytest.fixture
def gopro(tmp_path, trees):
    src = str(tmp_path / "GOPRO_Large")
    trees.gopro(src, "train", seqs=("GOPR0001_00_00",), frames=2)
    return src, os.path.join(src, "train", "GOPR0001_00_00")


def test_corrupt_image_file(tmp_path, gopro, capsys):
    src, seq = gopro
    bad = os.path.join(seq, "blur", "000047.png")
    open(bad, "wb").write(b"\x89PNG but then garbage")
    run_fails(capsys, ["gopro", src, str(tmp_path / "out"), *CLI], bad, "not a readable image",
              "expected an 8-bit RGB image")


def test_truncated_image_file(tmp_path, gopro, trees, capsys):
    src, seq = gopro
    bad = os.path.join(seq, "sharp", "000048.png")
    trees.truncate_file(bad, 0.5)
    run_fails(capsys, ["gopro", src, str(tmp_path / "out"), *CLI], bad, "truncated or corrupt image data")


def test_input_target_size_mismatch(tmp_path, gopro, trees, capsys):
    src, seq = gopro
    trees.save(os.path.join(seq, "sharp", "000047.png"), trees.random_image(20, 32, 0))
    run_fails(capsys, ["gopro", src, str(tmp_path / "out"), *CLI], os.path.join(seq, "blur", "000047.png"),
              "size 32x24 (WxH) differs from its target", "(32x20)", "expected input and target of the same size")


def test_missing_target_frame(tmp_path, gopro, capsys):
    src, seq = gopro
    os.remove(os.path.join(seq, "sharp", "000048.png"))
    run_fails(capsys, ["gopro", src, str(tmp_path / "out"), *CLI], os.path.join(seq, "sharp", "000048.png"),
              "target image missing", "sharp/000048.png next to blur/000048.png")


@pytest.mark.parametrize("kind", ["gray", "rgba", "rgb16"])
def test_grayscale_rgba_and_16_bit_images(tmp_path, trees, capsys, kind):
    src = str(tmp_path / "pairs")
    trees.pairs(src, stems=("a", "b"))
    bad = os.path.join(src, "input", "b.png")
    img = Image.fromarray(trees.random_image(20, 24, 1))
    if kind == "gray":
        img.convert("L").save(bad)
        what = "8-bit grayscale"
    elif kind == "rgba":
        img.convert("RGBA").save(bad)
        what = "RGB with alpha"
    else:
        open(bad, "wb").write(trees.png16_rgb(np.full((20, 24, 3), 1000, np.uint16)))
        what = "16-bit RGB"
    run_fails(capsys, ["pairs", src, str(tmp_path / "out"), "--task", "H", *CLI], bad, f"image is {what}",
              "expected an 8-bit RGB image (or pass --coerce-rgb")


def test_images_smaller_than_the_training_crop(tmp_path, gopro, capsys):
    src, seq = gopro
    run_fails(capsys, ["gopro", src, str(tmp_path / "out"), "--no-progress"], os.path.join(seq, "blur", "000047.png"),
              "image is 32x24 (WxH), smaller than the training crop", "expected at least 256x256",
              "and 1 more bad input")


def test_empty_and_missing_folders(tmp_path, trees, capsys):
    empty = tmp_path / "GOPRO_Large" / "train" / "GOPR0001_00_00"
    (empty / "blur").mkdir(parents=True)
    (empty / "sharp").mkdir()
    run_fails(capsys, ["gopro", str(tmp_path / "GOPRO_Large"), str(tmp_path / "o1"), *CLI], str(empty / "blur"),
              "no images in this folder", "nothing (empty folder)", "expected this layout")
    (tmp_path / "photos").mkdir()
    run_fails(capsys, ["synth", str(tmp_path / "photos"), str(tmp_path / "o2"), "--task", "haze", *CLI],
              str(tmp_path / "photos"), "no images in this folder")
    run_fails(capsys, ["reside-its", str(tmp_path / "nowhere"), str(tmp_path / "o3"), *CLI],
              str(tmp_path / "nowhere"), "RESIDE folder does not exist", "hazy/1_1_0.90179.png")
    assert not os.path.exists(tmp_path / "o3"), "nothing may be created for a missing source"


def test_layout_that_does_not_match_the_kind(tmp_path, trees, gopro, capsys):
    src, seq = gopro
    its = str(tmp_path / "ITS")
    trees.reside_its(its)
    run_fails(capsys, ["gopro", its, str(tmp_path / "o1"), *CLI], os.path.join(its, "train"),
              "split folder 'train' does not exist", "ITS/ holds: clear/, hazy/, trans/", "GOPRO_Large/")
    run_fails(capsys, ["gopro", seq, str(tmp_path / "o2"), *CLI], seq, "looks like one sequence folder")
    run_fails(capsys, ["reside-its", src, str(tmp_path / "o3"), *CLI], src, "missing hazy/ or clear|gt/",
              "it holds: train/", "NNNN_k_beta.png")
    run_fails(capsys, ["didmdn", src, str(tmp_path / "o4"), *CLI], src, "no pair images here nor in "
              "Rain_*/train2018new/", "Rain_Heavy/train2018new/1.jpg")
    sots = str(tmp_path / "SOTS")
    trees.reside_sots(sots, ids=(1400,), per_gt=2)
    run_fails(capsys, ["reside-its", sots, str(tmp_path / "o5"), *CLI], os.path.join(sots, "hazy", "1400_1.png"),
              "file name does not follow the dataset's naming", "expected NNNN_k_beta.png")


def test_odd_width_did_mdn_pair(tmp_path, trees, capsys):
    src = str(tmp_path / "DID-MDN-test")
    trees.save(os.path.join(src, "1.png"), trees.random_image(16, 41, 0))
    run_fails(capsys, ["didmdn", src, str(tmp_path / "out"), *CLI], "1.png", "width 41 is odd",
              "expected a [rainy | clean] pair of even width")


def test_skip_bad_converts_the_rest_and_lists_what_it_skipped(tmp_path, trees, capsys):
    src = str(tmp_path / "pairs")
    good = trees.pairs(src, stems=("a", "b", "c", "d", "e", "f"))
    Image.fromarray(trees.random_image(20, 24, 1)).convert("L").save(os.path.join(src, "input", "b.png"))
    Image.fromarray(trees.random_image(20, 24, 1)).convert("RGBA").save(os.path.join(src, "target", "c.png"))
    trees.save(os.path.join(src, "target", "d.png"), trees.random_image(10, 24, 2))
    trees.truncate_file(os.path.join(src, "input", "e.png"), 0.5)
    os.remove(os.path.join(src, "target", "f.png"))
    out = str(tmp_path / "out")
    assert convert.main(["pairs", src, out, "--task", "rain", "--skip-bad", *CLI]) == 0
    assert "1 examples in 1 shard(s)" in capsys.readouterr().out
    recs = trees.read_group(out, "rain", "train")
    assert [r["source"] for r in recs] == ["input/a.png"]
    np.testing.assert_array_equal(recs[0]["input"], good["input/a.png"][0])
    skipped = {s.source: s.reason for s in load_manifest(out).groups["rain/train"].skipped}
    assert sorted(skipped) == ["input/b.png", "input/c.png", "input/d.png", "input/e.png", "input/f.png"]
    assert "8-bit grayscale" in skipped["input/b.png"] and "RGB with alpha" in skipped["input/c.png"]
    assert "differs from its target" in skipped["input/d.png"] and "truncated" in skipped["input/e.png"]
    assert "f.png" in skipped["input/f.png"] and "no matching target image" in skipped["input/f.png"]


def test_truncated_shard_fails_loudly_at_read_time_naming_the_shard(tmp_path, trees, fast):
    from tfrecords_tools.converters import convert_pairs

    src = str(tmp_path / "pairs")
    trees.pairs(src, stems=("a", "b", "c", "d"))
    out = str(tmp_path / "out")
    convert_pairs(src, out, task=HAZE, write=dataclasses.replace(fast, min_shards=2))
    files = shard_files(out, "haze", "train")
    trees.truncate_file(files[1], 0.7)
    with pytest.raises(tf.errors.DataLossError, match=r"haze-train-00001\.tfrecord: truncated"):
        pipeline.eval_dataset(files)
    with pytest.raises(tf.errors.DataLossError, match=r"haze-train-00001\.tfrecord"):
        pipeline.task_dataset(files, crop=8, batch_size=2, seed=0)


def test_shard_damaged_after_the_dataset_was_built_fails_naming_it(tmp_path, trees, fast):
    from tfrecords_tools.converters import convert_pairs

    src = str(tmp_path / "pairs")
    trees.pairs(src, stems=("a", "b", "c", "d"))
    out = str(tmp_path / "out")
    convert_pairs(src, out, task=HAZE, write=dataclasses.replace(fast, min_shards=2))
    files = shard_files(out, "haze", "train")
    ds = pipeline.eval_dataset(files)
    shutil.copy(files[1], files[1] + ".bak")
    data = bytearray(open(files[1], "rb").read())
    data[len(data) // 2] ^= 0xFF  # flips a payload byte: lengths still fit, the CRC does not
    open(files[1], "wb").write(bytes(data))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"DataLossError: TFRecord shard.*haze-train-00001\.tfrecord"):
        list(ds)
