"""The network rebuilt under mixed_bfloat16 with the float32 weights, and the CPU's bf16 flags."""

import keras
import numpy as np

from keras_durbm.config.model import model_preset
from keras_durbm.models import build_durbm, head_model
from keras_durbm.models.precision import BF16_POLICY, cpu_bf16_flags, float32_outputs, with_dtype_policy


def test_bf16_copy_has_the_weights_and_close_outputs_and_leaves_the_global_policy(rng):
    keras.utils.set_random_seed(0)
    model = build_durbm(model_preset("tiny", topology="R>H", classifier=True))
    before = keras.config.dtype_policy().name
    bf16 = with_dtype_policy(model)
    assert keras.config.dtype_policy().name == before
    assert bf16.config == model.config and bf16.dtype_policy.name == BF16_POLICY
    assert all(w.dtype == "float32" for w in bf16.weights)  # variables stay float32: saves like the original
    for a, b in zip(model.get_weights(), bf16.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = rng.random((1, 32, 40, 3)).astype("float32")
    for head in model.task_names:
        expected = np.asarray(head_model(model, head)(x, training=False))
        got = float32_outputs(head_model(bf16, head))(x)
        assert got.dtype == "float32"
        assert float(np.abs(np.asarray(got) - expected).max()) < 0.05  # bfloat16 has 8 bits of mantissa


def test_cpu_bf16_flags_read_proc_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\n\nprocessor\t: 1\n"
                    "flags\t\t: fpu avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert cpu_bf16_flags(str(info)) == ("avx512_bf16", "amx_bf16")
    info.write_text("flags\t\t: fpu sse4_2 avx2\n")
    assert cpu_bf16_flags(str(info)) == ()
    assert cpu_bf16_flags(str(tmp_path / "missing")) == ()
