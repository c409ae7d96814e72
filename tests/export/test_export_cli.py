"""`python -m export`: the report of the shared export, and bad inputs (clear error, exit 2, nothing written)."""

import os
import sys

import numpy as np
import pytest
import yaml

from export import bundle, layout
from export.__main__ import main
from export.parity import ParityRow, compare, float_psnr, format_table
from export.tflite_export import VARIANTS
from keras_durbm.config.engine import to_dict
from keras_durbm.config.model import model_preset
from keras_durbm.models.precision import cpu_bf16_flags


def leftovers(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_report_has_a_row_per_format_and_head_with_numbers(report, export_dir, trained_model):
    bf16 = [("keras", "bf16"), ("savedmodel", "bf16")] if cpu_bf16_flags() else []  # the export asks for --bf16
    expected = [("keras", ""), ("savedmodel", ""), *bf16, *[("tflite", v) for v in VARIANTS], ("onnx", "")]
    for head in report["heads"]:
        rows = [r for r in report["rows"] if r["head"] == head]
        assert [(r["format"], r["variant"]) for r in rows] == expected
        for row in rows:
            assert row["latency_ms"] > 0
            if row["format"] != "keras":
                assert os.path.exists(os.path.join(export_dir, row["path"]))
                assert row["size_bytes"] == bundle.parity.directory_size(os.path.join(export_dir, row["path"]))
                assert row["max_abs_diff"] < 0.1 and (row["psnr_db"] is None or row["psnr_db"] > 30)
    assert report["latency_size"] == 32 and report["command"].startswith("python -m export --model ")
    assert [p["name"] for p in report["parity_images"]] == ["coffee", "chelsea", "motorcycle"]
    with open(os.path.join(export_dir, layout.CONFIG_FILE), encoding="utf-8") as handle:
        assert yaml.safe_load(handle) == yaml.safe_load(yaml.safe_dump(to_dict(trained_model.config)))
    assert leftovers(export_dir) == [] and leftovers(os.path.dirname(export_dir)) == []


def test_parity_helpers_against_plain_formulas():
    a = np.full((4, 4, 3), 0.5)
    b = a + 0.01
    assert float_psnr(a, b) == pytest.approx(40.0)
    assert float_psnr(a, a) == np.inf
    assert float_psnr(np.full((2, 2, 3), 1.3), np.ones((2, 2, 3))) == np.inf  # clipped before comparing
    diff, psnr = compare(lambda x: x + 0.01, [a, a * 0.5], [a, a * 0.5])
    assert diff == pytest.approx(0.01) and psnr == pytest.approx(40.0)
    rows = [ParityRow("tflite", "int8", "haze", "tflite/haze/int8.tflite", 3 * 1024, 0.0123, 51.84, 4.56,
                      {"partitions": 3, "undelegated_ops": {"ABS": 2}}),
            ParityRow("keras", "", "haze", "", 0, 0.0, None, 12.0)]
    table = format_table(rows, 512).splitlines()
    assert table[0].split() == ["format", "variant", "head", "max", "|Δ|", "PSNR", "dB", "size", "ms", "@512²", "XNNPACK", "note"]
    assert table[2].split()[:8] == ["tflite", "int8", "haze", "1.23e-02", "51.8", "3", "KiB", "4.6"]
    assert "3 partition(s) + ABS×2" in table[2]
    assert table[3].split()[:6] == ["keras", "-", "haze", "0.00e+00", "inf", "-"]


def run_cli(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err


def test_a_folder_that_is_not_a_trained_model_is_refused(tmp_path, capsys):
    # The models lie in a folder of their own: an output inside a model's folder is refused for that reason.
    models = tmp_path / "models"
    (models / "run").mkdir(parents=True)
    (models / "run" / "notes.txt").write_text("no model here")
    (models / "bad.keras").write_bytes(b"not a zip archive")
    for model in (models / "run", models / "bad.keras", models / "missing.keras"):
        code, err = run_cli(["--model", str(model), "--out", str(tmp_path / "out"), "--no-progress"], capsys)
        assert code == 2 and str(model) in err and "error:" in err
    assert os.listdir(tmp_path) == ["models"] and sorted(os.listdir(models)) == ["bad.keras", "run"]


def test_unknown_heads_are_refused_with_the_models_heads(trained_model_path, tmp_path, capsys):
    for head, says in (("jpeg", "has no 'jpeg' head"), ("denoise", "unknown task 'denoise'")):
        code, err = run_cli(["--model", trained_model_path, "--out", str(tmp_path / "out"), "--heads", head], capsys)
        assert code == 2 and says in err and "rain, haze" in err
    assert os.listdir(tmp_path) == []


def test_unwritable_or_existing_output_is_refused(trained_model_path, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    code, err = run_cli(["--model", trained_model_path, "--out", str(blocker / "export")], capsys)
    assert code == 2 and "cannot write the export" in err
    code, err = run_cli(["--model", trained_model_path, "--out", str(blocker)], capsys)
    assert code == 2 and "already exists" in err
    if os.geteuid() != 0:  # root ignores permission bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        code, err = run_cli(["--model", trained_model_path, "--out", str(locked / "export")], capsys)
        assert code == 2 and "cannot write the export" in err
    assert sorted(os.listdir(tmp_path)) == ["file"] + (["locked"] if os.geteuid() != 0 else [])


def test_bad_options_and_calibration_data_are_refused_before_any_work(trained_model_path, tmp_path, capsys):
    out = str(tmp_path / "out")
    (tmp_path / "empty").mkdir()
    cases = [(["--formats", "savedmodel,coreml"], "unknown format(s) coreml"),
             (["--tflite-variants", "int4"], "unknown TFLite variant(s) int4"),
             (["--latency-runs", "0"], "latency-runs must be at least 1"),
             (["--calibration", str(tmp_path / "nowhere")], "not a folder"),
             (["--calibration", str(tmp_path / "empty")], "holds no shards or images")]
    for extra, says in cases:
        code, err = run_cli(["--model", trained_model_path, "--out", out, "--heads", "haze", *extra], capsys)
        assert code == 2 and says in err, (extra, err)
    assert sorted(os.listdir(tmp_path)) == ["empty"]


@pytest.fixture(scope="module")
def random_tiny():
    from keras_durbm.models import build_durbm

    return build_durbm(model_preset("tiny", topology="R>H"))


def test_a_failure_mid_export_leaves_nothing_behind(random_tiny, tmp_path, monkeypatch):
    from export import saved_model

    def half_then_fail(model, head, version_dir, **kwargs):
        os.makedirs(version_dir)
        with open(os.path.join(version_dir, "saved_model.pb"), "wb") as handle:
            handle.write(b"partial")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(saved_model, "export_head", half_then_fail)
    options = bundle.ExportConfig(formats=("savedmodel",), parity=False)
    with pytest.raises(RuntimeError, match="disk on fire"):
        bundle.export_bundle(random_tiny, str(tmp_path / "out"), options, progress=False)
    assert os.listdir(tmp_path) == []
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("the previous export")
    with pytest.raises(RuntimeError, match="disk on fire"):
        bundle.export_bundle(random_tiny, str(tmp_path / "out"), bundle.ExportConfig(
            formats=("savedmodel",), parity=False, overwrite=True), progress=False)
    assert os.listdir(tmp_path) == ["out"] and os.listdir(tmp_path / "out") == ["keep.txt"]


def test_overwrite_replaces_the_previous_export_only_when_the_new_one_is_complete(random_tiny, tmp_path,
                                                                                     monkeypatch):
    from export import saved_model

    def marker(model, head, version_dir, **kwargs):
        os.makedirs(version_dir)
        with open(os.path.join(version_dir, "saved_model.pb"), "w") as handle:
            handle.write(head)

    monkeypatch.setattr(saved_model, "export_head", marker)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("previous")
    bundle.export_bundle(random_tiny, str(tmp_path / "out"), bundle.ExportConfig(
        formats=("savedmodel",), parity=False, overwrite=True), progress=False)
    assert sorted(os.listdir(tmp_path / "out")) == ["model_config.yaml", "report.json", "serving"]
    assert sorted(os.listdir(tmp_path / "out" / "serving")) == ["batching_parameters.txt", "haze", "models.config", "rain"]
    assert os.listdir(tmp_path) == ["out"]


def test_module_entry_point_prints_usage(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python -m export", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0 and "--calibration DATA" in capsys.readouterr().out
