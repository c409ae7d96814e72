"""`--bf16`: the heads' SavedModels under mixed_bfloat16 in DIR/serving_bf16, float32 in and out."""

import os

import keras
import numpy as np
import pytest

from export.bundle import BF16_SERVING, ExportConfig, export_bundle
from keras_durbm.model_config import model_preset
from keras_durbm.models import build_durbm
from keras_durbm.models.precision import cpu_bf16_flags


@pytest.fixture(scope="module")
def bf16_export(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = build_durbm(model_preset("tiny", topology="R>H"))
    out = str(tmp_path_factory.mktemp("bf16") / "export")
    options = ExportConfig(formats=("savedmodel",), heads=("haze",), bf16=True, parity_max_side=40, latency_size=32,
                           latency_runs=1, warmup_size=16)
    return model, out, export_bundle(model, out, options, progress=False)


def test_bf16_savedmodels_sit_beside_the_float32_ones_and_answer_float32(bf16_export, rng):
    from export import saved_model
    from keras_durbm.inference import head_runner
    from keras_durbm.tasks import get_task

    model, out, _ = bf16_export
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


def test_bf16_rows_are_reported_only_on_a_cpu_with_bf16_units(bf16_export):
    _, _, report = bf16_export
    assert report["bf16_cpu_flags"] == list(cpu_bf16_flags())
    rows = {(r.format, r.variant): r for r in report["rows"]}
    if cpu_bf16_flags():
        for key in (("keras", "bf16"), ("savedmodel", "bf16")):
            assert rows[key].max_abs_diff < 0.05 and rows[key].latency_ms > 0, rows[key]
            assert "mixed_bfloat16" in rows[key].note
    else:
        assert not [key for key in rows if key[1] == "bf16"]
