"""TFLite models of the shared export: parity with Keras per variant, dynamic sizes, XNNPACK, calibration data."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from export import calibration, tflite_export, tflite_graph
from export.parity import float_psnr
from export.tflite_runtime import LiteRunner, delegate_summary
from keras_durbm.config.model import min_input_size
from keras_durbm.config.tasks import get_task
from keras_durbm.restoration.tiling import head_runner, pad_to_multiple, restore_with

# Measured on the trained tiny network (tests/support/exports.py), parity photographs of
# <= 48 px, against the Keras output: fp32 1.2e-7 / 150 dB, fp16 1.1e-4 / 89 dB, dynamic-range int8
# 1.0e-3 / 75 dB, full int8 1.4e-2 / 52 dB (max |Δ| / worst-image PSNR). Bounds leave a margin.
TOLERANCES = {  # variant: (max |Δ|, min PSNR dB)
    "fp32": (1e-4, 100.0),
    "fp16": (1e-3, 75.0),
    "dynamic_int8": (1e-2, 60.0),
    "int8": (6e-2, 38.0),
}
# The TV statistic (paper eq. 6) is written with ReLUs, SUB, ADD, MUL and MEAN, and scaled by TV_SCALE into
# the excitation MLP, so that every op of the full-int8 graph has an XNNPACK int8 kernel (docs/export.md).
WHOLE = {"partitions": 1, "undelegated_ops": {}}


@pytest.fixture(scope="module")
def tflite_rows(report):
    """The heads' TFLite rows (the classifier's file has its own test in test_export_auto.py)."""
    return {(r["variant"], r["head"]): r for r in report["rows"] if r["format"] == "tflite" and r["head"] in report["heads"]}


def tflite_path(export_dir, head, variant):
    return os.path.join(export_dir, "tflite", head, f"{variant}.tflite")


@pytest.mark.parametrize("variant", tflite_export.VARIANTS)
def test_variant_matches_keras_within_its_measured_tolerance(variant, export_dir, report, tflite_rows,
                                                             trained_model, parity_images):
    max_diff, min_psnr = TOLERANCES[variant]
    for head in report["heads"]:
        row = tflite_rows[(variant, head)]
        runner = LiteRunner(tflite_path(export_dir, head, variant), xnnpack="partitions" in row["xnnpack"])
        min_size = min_input_size(trained_model.config)
        worst_diff, worst_psnr = 0.0, np.inf
        for image in parity_images:
            expected = restore_with(head_runner(trained_model, get_task(head)), image, min_size=min_size)
            got = restore_with(runner, image, min_size=min_size)
            worst_diff = max(worst_diff, float(np.abs(got - expected).max()))
            worst_psnr = min(worst_psnr, float_psnr(got, expected))
        assert worst_diff <= max_diff and worst_psnr >= min_psnr, (variant, worst_diff, worst_psnr)
        # the report measured the same thing
        assert row["max_abs_diff"] == pytest.approx(worst_diff, rel=1e-3, abs=1e-9)


def test_fp32_takes_any_aligned_size_and_batch(export_dir, report, trained_model, rng):
    for head in report["heads"]:
        runner = LiteRunner(tflite_path(export_dir, head, "fp32"))
        keras_run = head_runner(trained_model, get_task(head))
        for shape in [(1, 32, 48, 3), (2, 40, 24, 3), (1, 8, 8, 3), (1, 32, 48, 3)]:
            batch = rng.random(shape).astype(np.float32)
            np.testing.assert_allclose(runner(batch), keras_run(batch), rtol=0, atol=1e-4)


def test_no_variant_has_mirror_pad_or_pow_and_the_dilated_convs_are_single_ops(export_dir, report):
    for head in report["heads"]:
        for variant in tflite_export.VARIANTS:
            with open(tflite_path(export_dir, head, variant), "rb") as handle:
                ops = tflite_export.op_names(handle.read())
            assert not ops & {"MIRROR_PAD", "POW", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"}, (variant, ops)
            assert "CONV_2D" in ops


def test_every_variant_full_int8_included_runs_whole_under_xnnpack(tflite_rows, export_dir, report):
    assert {variant for variant, _ in tflite_rows} == set(tflite_export.VARIANTS)
    for (variant, _head), row in tflite_rows.items():
        assert row["xnnpack"] == WHOLE, (variant, row["xnnpack"])
    for head in report["heads"]:  # the int8 file itself, prepared here, at another size
        runner = LiteRunner(tflite_path(export_dir, head, "int8"))
        runner(np.zeros((1, 24, 40, 3), np.float32))
        assert delegate_summary(runner) == WHOLE
        with open(tflite_path(export_dir, head, "int8"), "rb") as handle:
            assert not tflite_export.op_names(handle.read()) & {"ABS", "SQUARED_DIFFERENCE", "POW"}
    head = report["heads"][0]
    runner = LiteRunner(tflite_path(export_dir, head, "fp32"))
    runner(np.zeros((1, 16, 16, 3), np.float32))
    assert delegate_summary(runner) == WHOLE
    plain = LiteRunner(tflite_path(export_dir, head, "fp32"), xnnpack=False)
    plain(np.zeros((1, 16, 16, 3), np.float32))
    summary = delegate_summary(plain)
    assert summary["partitions"] == 0 and summary["undelegated_ops"]["CONV_2D"] > 10


def test_dilated_convolutions_keep_the_numbers_and_drop_space_to_batch(rng):
    conv = keras.layers.Conv2D(5, 3, dilation_rate=2, padding="valid")
    conv.build((None, None, None, 4))
    spec = tf.TensorSpec([None, None, None, 4], tf.float32)
    plain = tf.function(lambda x: conv(x)).get_concrete_function(spec)
    with tflite_graph.xnnpack_friendly_tracing():
        direct = tf.function(lambda x: conv(x)).get_concrete_function(spec)
    assert "SpaceToBatchND" in {op.type for op in plain.graph.get_operations()}
    ops = {op.type for op in direct.graph.get_operations()}
    assert "SpaceToBatchND" not in ops and "Conv2D" in ops
    x = rng.random((2, 19, 23, 4)).astype(np.float32)
    np.testing.assert_allclose(direct(tf.constant(x)).numpy(), plain(tf.constant(x)).numpy(), atol=1e-5)


def test_wide_concatenations_become_trees_of_at_most_five_inputs(rng):
    from keras_durbm.layers import reflect_pad_axis

    original = tf.concat
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    with tflite_graph.xnnpack_friendly_tracing():
        narrow = tf.function(lambda x: reflect_pad_axis(x, 6, axis=1)).get_concrete_function(spec)
    assert tf.concat is original  # the rewrite ends with the context
    widths = [len(op.inputs) - 1 for op in narrow.graph.get_operations() if op.type == "ConcatV2"]
    assert widths and max(widths) <= tflite_graph.MAX_CONCAT_INPUTS and sum(widths) - len(widths) + 1 == 13
    x = rng.random((1, 9, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(narrow(tf.constant(x)).numpy(), np.pad(x, [(0, 0), (6, 6), (0, 0), (0, 0)], "reflect"))


# --- calibration data -----------------------------------------------------------------------------


def test_calibration_reads_image_folders_and_crops_padded_batches(tmp_path, rng):
    rgb = (rng.random((40, 50, 3)) * 255).astype(np.uint8)
    grey = (rng.random((20, 12)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(grey).save(tmp_path / "b.png")
    images = calibration.load_images(str(tmp_path))
    assert [name for name, _ in images] == ["a.png", "b.png"]
    np.testing.assert_array_equal(images[0][1], rgb)
    np.testing.assert_array_equal(images[1][1], np.repeat(grey[..., None], 3, axis=-1))
    batches = calibration.calibration_batches(images, count=4, size=30, seed=1)
    assert [b.shape for b in batches] == [(1, 32, 32, 3)] * 4
    # the grey image (20x12) is smaller than the crop: padded as inference pads
    expected, _ = pad_to_multiple(images[1][1].astype(np.float32) / np.float32(255.0), 4, 32)
    np.testing.assert_array_equal(batches[1][0], expected)
    top_left = batches[0][0] * 255.0
    assert any(np.allclose(top_left, rgb[t:t + 32, s:s + 32]) for t in range(9) for s in range(19))


def test_calibration_reads_the_inputs_of_tfrecord_shards(tmp_path, rng):
    from tfrecords_tools.schema import make_example

    pairs = [((rng.random((24, 28, 3)) * 255).astype(np.uint8), (rng.random((24, 28, 3)) * 255).astype(np.uint8))
             for _ in range(3)]
    with tf.io.TFRecordWriter(str(tmp_path / "haze-train-00000.tfrecord")) as writer:
        for i, (hazy, clean) in enumerate(pairs):
            writer.write(make_example(hazy, clean, task="haze", source=f"img{i}"))
    images = calibration.load_images(str(tmp_path), limit=2)
    assert [name for name, _ in images] == ["img0", "img1"]
    for (_, got), (hazy, _) in zip(images, pairs, strict=False):
        np.testing.assert_array_equal(got, hazy)


def test_calibration_rejects_folders_without_data(tmp_path):
    with pytest.raises(ValueError, match="holds no shards or images"):
        calibration.load_images(str(tmp_path))
    with pytest.raises(ValueError, match="not a folder"):
        calibration.load_images(str(tmp_path / "missing"))
    (tmp_path / "broken.tfrecord").write_bytes(b"not a tfrecord file at all")
    with pytest.raises(ValueError, match="calibration data"):
        calibration.load_images(str(tmp_path))


def test_default_calibration_photos_are_not_the_parity_photos():
    assert not set(calibration.CALIBRATION_PHOTOS) & set(calibration.PARITY_PHOTOS)
