"""The restore CLI: outputs equal `restore` on the decoded input, forms kept, failures named, exit codes."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from keras_durbm.config.tasks import HAZE, RAIN
from keras_durbm.images.io import read_image
from keras_durbm.images.pixels import to_uint8
from keras_durbm.restoration.tiling import restore
from keras_durbm.restore import main
from tests.support.tiny_models import reuse_loaded_tiny_model, tiny_model, tiny_model_path


def make_inputs(folder, rng):
    folder.mkdir()
    Image.fromarray(rng.integers(0, 256, (21, 13, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (10, 19), dtype=np.uint8), "L").save(folder / "g.jpg", quality=90)
    Image.fromarray(rng.integers(0, 256, (9, 9, 4), dtype=np.uint8), "RGBA").save(folder / "t.png")
    return folder


def listing(folder):
    return sorted(os.listdir(folder))  # hidden temporary files would show here too


def test_restores_every_image_keeping_format_mode_and_alpha(tmp_path, rng, capsys):
    inputs = make_inputs(tmp_path / "in", rng)
    out = tmp_path / "out"
    assert main(["--model", tiny_model_path(), "--task", "haze", str(inputs), "-o", str(out), "--no-progress"]) == 0
    assert "restored 3 of 3" in capsys.readouterr().out
    assert listing(out) == ["a.png", "g.jpg", "t.png"]
    image, _ = read_image(inputs / "a.png")
    expected = to_uint8(restore(tiny_model(), image, HAZE))
    np.testing.assert_array_equal(np.asarray(Image.open(out / "a.png")), expected)
    assert Image.open(out / "g.jpg").mode == "L" and Image.open(out / "g.jpg").size == (19, 10)
    rgba_in, rgba_out = np.asarray(Image.open(inputs / "t.png")), np.asarray(Image.open(out / "t.png"))
    np.testing.assert_array_equal(rgba_out[..., 3], rgba_in[..., 3])


def test_format_png_and_tiling_options(tmp_path, rng, monkeypatch):
    reuse_loaded_tiny_model(monkeypatch)
    inputs = make_inputs(tmp_path / "in", rng)
    out = tmp_path / "out"
    args = ["--model", tiny_model_path(), "--task", "R", str(inputs / "a.png"), str(inputs / "g.jpg"), "-o", str(out),
            "--format", "png", "--tile", "8", "--overlap", "2", "--no-progress"]
    assert main(args) == 0
    assert listing(out) == ["a.png", "g.png"]
    image, _ = read_image(inputs / "a.png")
    expected = to_uint8(restore(tiny_model(), image, RAIN, tile=8, overlap=2))
    np.testing.assert_array_equal(np.asarray(Image.open(out / "a.png")), expected)


def test_a_corrupt_image_is_named_the_others_are_written_and_the_exit_is_1(tmp_path, rng, capsys, monkeypatch):
    reuse_loaded_tiny_model(monkeypatch)
    inputs = make_inputs(tmp_path / "in", rng)
    (inputs / "b_broken.png").write_bytes((inputs / "a.png").read_bytes()[:60])
    out = tmp_path / "out"
    assert main(["--model", tiny_model_path(), "--task", "haze", str(inputs), "-o", str(out), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "b_broken.png" in captured.err and "truncated or corrupt" in captured.err
    assert "restored 3 of 4" in captured.out
    assert listing(out) == ["a.png", "g.jpg", "t.png"]
    out2 = tmp_path / "out2"
    assert main(["--model", tiny_model_path(), "--task", "haze", str(inputs / "b_broken.png"), str(inputs / "a.png"),
                 "-o", str(out2), "--fail-fast", "--no-progress"]) == 1
    assert listing(out2) == []


@pytest.mark.parametrize("case", ["missing", "task", "head", "out_is_file", "overwrites_input", "same_name", "model"])
def test_usage_errors_exit_2_and_write_nothing(tmp_path, rng, capsys, monkeypatch, case):
    reuse_loaded_tiny_model(monkeypatch)
    inputs = make_inputs(tmp_path / "in", rng)
    out, model, task, ins = tmp_path / "out", tiny_model_path(), "haze", [str(inputs / "a.png")]
    expected = {"missing": "no such file: ", "task": "known tasks: B=motion_blur, H=haze, R=rain, J=jpeg",
                "head": "its heads: rain, motion_blur, haze", "out_is_file": "exists and is not a folder",
                "overwrites_input": "would overwrite an input", "same_name": "would both be written to",
                "model": "does not exist"}[case]
    if case == "missing":
        ins.append(str(inputs / "nope.png"))
    elif case == "task":
        task = "fog"
    elif case == "head":
        task = "jpeg"
    elif case == "out_is_file":
        out.write_text("a file")
    elif case == "overwrites_input":
        out = inputs
    elif case == "same_name":
        other = tmp_path / "other"
        other.mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(other / "a.png")
        ins.append(str(other / "a.png"))
    elif case == "model":
        model = str(tmp_path / "missing.keras")
    before = listing(tmp_path)
    assert main(["--model", model, "--task", task, *ins, "-o", str(out), "--no-progress"]) == 2
    assert expected in capsys.readouterr().err
    assert listing(tmp_path) == before and listing(inputs) == ["a.png", "g.jpg", "t.png"]


def test_exit_code_and_message_from_a_real_process(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "keras_durbm.restore", "--model", tiny_model_path(), "--task",
                           "haze", str(tmp_path / "missing.png"), "-o", str(out)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 2
    assert f"error: no such file: {tmp_path / 'missing.png'}" in proc.stderr
    assert not out.exists()
