"""`--bf16`: the heads' SavedModels under mixed_bfloat16 in DIR/serving_bf16, float32 in and out (checked on the
shared export of tests/support/exports.py, which asks for them)."""

import os

import numpy as np

from export.layout import BF16_SERVING
from keras_durbm.models.precision import cpu_bf16_flags


def test_bf16_savedmodels_sit_beside_the_float32_ones_and_answer_float32(export_dir, trained_model, rng):
    from export import saved_model
    from keras_durbm.config.tasks import get_task
    from keras_durbm.restoration.tiling import head_runner

    model, out = trained_model, export_dir
    path = saved_model.head_dir(os.path.join(out, BF16_SERVING), "haze")
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isfile(os.path.join(out, BF16_SERVING, "models.config"))
    assert not os.path.exists(os.path.join(out, BF16_SERVING, "rain"))  # only the exported heads
    x = rng.random((1, 30, 37, 3)).astype(np.float32)  # any size: the signature pads and crops
    import tensorflow as tf

    restored = saved_model.load_signature(path)(image=tf.constant(x))["restored"]
    assert restored.dtype == tf.float32 and restored.shape == x.shape
    padded = np.pad(x, [(0, 0), (0, 2), (0, 3), (0, 0)], mode="reflect")
    expected = head_runner(model, get_task("haze"))(padded)[:, :30, :37]
    assert float(np.abs(restored.numpy() - expected).max()) < 0.05


def test_bf16_rows_are_reported_only_on_a_cpu_with_bf16_units(report):
    assert report["bf16_cpu_flags"] == list(cpu_bf16_flags())
    rows = {(r["format"], r["variant"]): r for r in report["rows"] if r["head"] == "haze"}
    if cpu_bf16_flags():
        for key in (("keras", "bf16"), ("savedmodel", "bf16")):
            assert rows[key]["max_abs_diff"] < 0.05 and rows[key]["latency_ms"] > 0, rows[key]
            assert "mixed_bfloat16" in rows[key]["note"]
    else:
        assert not [key for key in rows if key[1] == "bf16"]
