"""`bench/deploy.py` end to end on a tiny network at a tiny size: the rows of its JSON (no timings asserted)."""

import json
import os
import subprocess
import sys

import keras

from keras_durbm.config.model import model_preset
from keras_durbm.models import build_durbm, save_durbm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = {"variant", "size", "ms", "speedup_vs_keras_fp32", "psnr_loss_db", "partitions"}


def test_deploy_benchmark_writes_a_row_per_variant_with_the_quality_loss(tmp_path):
    keras.utils.set_random_seed(0)
    model_path = str(tmp_path / "model.keras")  # a .keras file counts as trained: PSNR columns are filled
    save_durbm(build_durbm(model_preset("tiny", topology="R>H")), model_path)
    out = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "deploy.py"), "--model", model_path, "--heads", "haze",
         "--size", "32", "--runs", "1", "--threads", "1", "--formats", "tflite", "--tflite-variants", "fp32",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "machine: " in done.stdout and "load average" in done.stdout and "size 32²" in done.stdout
    rows = json.loads(out.read_text())
    assert isinstance(rows, list) and [r["variant"] for r in rows] == ["keras_fp32", "tflite_fp32"]
    for row in rows:
        assert KEYS <= set(row) and row["size"] == 32 and row["head"] == "haze" and row["ms"] > 0
        assert row["gflops"] > 0 and row["percent_of_limit"] > 0 and row["cpu"]
        assert isinstance(row["vector_extensions"], list)  # bench/machine.py's names (AVX2, AVX512_VNNI, ...)
    keras_row, lite_row = rows
    assert keras_row["psnr_loss_db"] == 0.0 and keras_row["speedup_vs_keras_fp32"] == 1.0
    assert keras_row["partitions"] is None
    assert lite_row["partitions"] == 1 and lite_row["undelegated_ops"] == {}
    assert abs(lite_row["psnr_loss_db"]) < 0.01  # float32 TFLite restores the held-out pairs as Keras does


def test_preset_models_have_random_weights_and_no_quality_columns():
    deploy = _deploy_module()
    model, trained = deploy.load_model("tiny")
    assert not trained and model.config == model_preset("tiny")
    pairs = deploy.held_out_pairs("haze")
    assert [name for name, _, _ in pairs] == ["coffee", "astronaut", "motorcycle"]
    for _, degraded, clean in pairs:
        assert degraded.shape == clean.shape and degraded.dtype.name == "float32" and clean.dtype.name == "uint8"


def _deploy_module():
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        import deploy
    finally:
        sys.path.remove(os.path.join(ROOT, "bench"))
    return deploy


def test_onnx_is_shown_beside_tflite_in_fp32_and_int8():
    deploy = _deploy_module()
    rows = [{"head": "rain", "variant": v, "ms": ms, "psnr_loss_db": loss, "note": note}
            for v, ms, loss, note in (("keras_fp32", 30.0, 0.0, ""), ("tflite_fp32", 20.0, 0.0, ""),
                                      ("tflite_int8", 8.0, 0.01, ""), ("onnx_fp32", 25.0, 0.0, ""),
                                      ("onnx_int8", 16.0, 0.02, "7-bit"))]
    lines = deploy.side_by_side(rows)
    assert "onnx int8: 7-bit" in lines
    assert lines[-1].split() == ["rain", "20.0", "25.0", "0.80×", "(+0.00", "/", "+0.00", "dB)",
                                 "8.0", "16.0", "0.50×", "(+0.01", "/", "+0.02", "dB)"]
    assert deploy.side_by_side(rows[:2]) == []  # no ONNX: no comparison
