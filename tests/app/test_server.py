"""The app's HTTP API against the model in-process: every result equals what `restore --format png` writes
for the same file (head, auto, chain, tiles, 16-bit with alpha), bad input is refused with a 4xx message
naming the file while the server keeps serving, and a second image waits in the queue instead of failing."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from PIL import Image

from keras_durbm.images.io import read_image
from keras_durbm.restoration.routing import classify
from keras_durbm.restoration.tiling import TilingConfig
from tests.app.conftest import (
    Running,
    decode_png,
    job_state,
    png_bytes,
    post_image,
    request,
    restore_and_download,
    restore_cli,
    wait_for,
)
from tests.support.bad_files import png_bomb, truncate
from tests.support.held_jobs import hold_the_first_job
from tests.support.tiny_models import tiny_model, tiny_model_path


def test_the_page_and_the_model_description_are_served(app):
    status, page = request(app.url)
    assert status == 200 and b'<script src="app.js">' in page
    for name in ("app.js", "app.css"):
        assert request(app.url + name)[0] == 200
    status, body = request(app.url + "api/model")
    info = json.loads(body)
    assert (info["heads"], info["classifier"], info["default_task"]) == (["rain", "haze"], True, "auto")
    assert info["classes"] == ["rain", "haze", "clean"]
    status, body = request(app.url + "api/jobs/0123456789abcdef")
    assert status == 404 and "no image 0123456789abcdef" in json.loads(body)["error"]
    assert app.server.server_address[0] == "127.0.0.1"


def test_a_head_result_equals_restore_output(app, trained_model_path, photos, tmp_path):
    path = tmp_path / "hazy.png"
    Image.fromarray(photos["hazy"]).save(path)
    job, png = restore_and_download(app.url, "hazy.png", path.read_bytes(), task="haze")
    assert job["heads"] == ["haze"] and job["steps"] == [] and job["download"] == "hazy.png"
    assert job["progress"] == {"done": 1, "total": 1, "pass": 1}
    expected = decode_png(restore_cli(tmp_path, trained_model_path, "haze", path))
    got = decode_png(png)
    assert got.shape == expected.shape == (60, 90, 3)
    assert np.array_equal(got, expected)
    assert not np.array_equal(got, photos["hazy"])  # the head changed the image


@pytest.mark.parametrize("chain", [False, True], ids=["auto", "auto-chain"])
def test_auto_equals_restore_auto_and_reports_the_classifier(app, trained_model, trained_model_path, photos, tmp_path, chain):
    path = tmp_path / "hazy.jpg"  # a JPEG input: written as PNG, as restore --format png does
    Image.fromarray(photos["hazy"]).save(path, quality=90)
    job, png = restore_and_download(app.url, "hazy.jpg", path.read_bytes(), task="auto", chain=chain)
    expected = restore_cli(tmp_path, trained_model_path, "auto", path, *(["--chain"] if chain else []))
    assert np.array_equal(decode_png(png), decode_png(expected))
    found = classify(trained_model, read_image(path)[0])
    first = job["steps"][0]
    assert first["task"] == found.best == "haze" and job["heads"][0] == "haze"
    assert first["probabilities"] == pytest.approx(found.probabilities, abs=1e-6)
    assert first["text"].startswith(f"haze {found.confidence:.2f}")
    assert (len(job["steps"]) > 1) == chain  # a chain classifies its result again
    assert job["download"] == "hazy.png"


def test_a_clean_png_judged_clean_is_the_uploaded_file(app, trained_model_path, photos, tmp_path):
    path = tmp_path / "clean.png"
    Image.fromarray(photos["clean"]).save(path)
    job, png = restore_and_download(app.url, "clean.png", path.read_bytes(), task="auto")
    assert job["outcome"] == "clean" and job["heads"] == []
    assert png == path.read_bytes() == restore_cli(tmp_path, trained_model_path, "auto", path)


def test_tiles_report_progress_and_16_bit_alpha_equals_restore(trained_model, trained_model_path, photos, tmp_path):
    rng = np.random.default_rng(0)
    rgb16 = photos["hazy"].astype(np.uint16) * 257 + rng.integers(0, 257, photos["hazy"].shape, dtype=np.uint16)
    alpha = rng.integers(0, 65536, rgb16.shape[:2], dtype=np.uint16)
    path = tmp_path / "deep.png"
    from keras_durbm.images.io import ImageExtras, write_image

    write_image(path, rgb16.astype(np.float32) / 65535, ImageExtras(str(path), "PNG", bit_depth=16, alpha=alpha))
    running = Running(trained_model, trained_model_path, TilingConfig(tile=32, overlap=8))
    try:
        job, png = restore_and_download(running.url, "deep.png", path.read_bytes(), task="haze")
    finally:
        running.close()
    assert (job["bit_depth"], job["alpha"]) == (16, True)
    # 60x90 in 32-px tiles at stride 24, the last moved back to the border: rows 0, 24, 28; columns 0, 24, 48, 58
    assert job["progress"] == {"done": 12, "total": 12, "pass": 1}
    expected = decode_png(restore_cli(tmp_path, trained_model_path, "haze", path, "--tile", "32", "--overlap", "8"))
    got = decode_png(png)
    assert got.dtype == np.uint16 and got.shape == (60, 90, 4)
    assert np.array_equal(got, expected)
    assert np.array_equal(got[..., 3], alpha)


def test_bad_input_is_refused_naming_the_file_and_the_server_keeps_serving(app, photos, tmp_path):
    good = png_bytes(photos["hazy"])
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good)
    truncate(truncated, 0.5)
    bomb = tmp_path / "bomb.png"
    png_bomb(bomb)
    cases = [
        ("noise.png", b"this is not an image at all", 400, "not a readable image"),
        ("cut.png", truncated.read_bytes(), 400, "truncated or corrupt"),
        ("bomb.png", bomb.read_bytes(), 413, "20000x20000 = 400,000,000 pixels, over the limit"),
        ("anim.gif", good, 400, "unsupported format (.gif); expected a PNG, JPEG, BMP, TIFF or WebP image"),
    ]
    for name, data, status, words in cases:
        got, body = post_image(app.url, name, data, task="haze")
        assert got == status, (name, body)
        assert body["error"].startswith(f"{name}: ") and words in body["error"], body
        assert "/tmp" not in body["error"]  # the user's file name, not the upload's temporary path
    got, body = post_image(app.url, "hazy.png", good, task="motion_blur")
    assert got == 400 and body["error"] == "hazy.png: this model has no 'motion_blur' head; its heads: rain, haze"
    got, body = post_image(app.url, "hazy.png", good, task="sharpen")
    assert got == 400 and body["error"].startswith("hazy.png: unknown task 'sharpen'; known tasks: ")
    got, body = post_image(app.url, "hazy.png", good, task="haze", chain=True)
    assert got == 400 and "chain needs auto" in body["error"]
    job, _ = restore_and_download(app.url, "hazy.png", good, task="haze")  # still serving
    assert job["state"] == "done"


def test_auto_without_a_classifier_and_an_upload_over_the_limit_are_refused(photos):
    running = Running(tiny_model(), tiny_model_path(), max_upload_bytes=4096)
    try:
        info = json.loads(request(running.url + "api/model")[1])
        assert not info["classifier"] and info["default_task"] == "rain" and info["max_upload_bytes"] == 4096
        small = png_bytes(photos["hazy"][:8, :8])
        status, body = post_image(running.url, "small.png", small, task="auto")
        assert status == 400
        assert body["error"].startswith("small.png: auto needs a usable degradation classifier: ")
        assert "has no degradation classifier" in body["error"] and "choose a head (rain, motion_blur, haze)" in body["error"]
        assert "--experiment router" in body["error"]
        status, body = post_image(running.url, "big.png", b"\0" * 5000, task="rain")
        assert status == 413 and body["error"].startswith("big.png: the file is 0.0 MB, over the upload limit")
        status, body = request(running.url + "api/jobs?name=x.png&task=rain", b"\0" * 10,
                               {"Origin": "http://evil.example", "Content-Type": "application/octet-stream"})
        assert status == 403 and "another web page" in json.loads(body)["error"]
        job, _ = restore_and_download(running.url, "small.png", small, task="rain")
        assert job["state"] == "done"
    finally:
        running.close()


def test_a_second_image_waits_in_the_queue_and_both_finish(app, trained_model_path, photos, tmp_path, monkeypatch):
    started, release = hold_the_first_job(monkeypatch, app.server.restorer)
    hazy, clean = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(photos["hazy"]).save(hazy)
    Image.fromarray(photos["hazy"][::-1]).save(clean)
    status, first = post_image(app.url, "a.png", hazy.read_bytes(), task="haze")
    assert status == 202 and started.wait(30)
    assert job_state(app.url, first["id"])["state"] == "running"
    status, second = post_image(app.url, "b.png", clean.read_bytes(), task="haze")
    assert status == 202 and (second["state"], second["position"]) == ("queued", 1)
    status, third = post_image(app.url, "c.png", hazy.read_bytes(), task="haze")
    assert (third["state"], third["position"]) == ("queued", 2)
    time.sleep(0.1)
    assert job_state(app.url, second["id"])["position"] == 1
    release.set()
    expected = {path: decode_png(restore_cli(tmp_path / path.stem, trained_model_path, "haze", path)) for path in (hazy, clean)}
    for job, path in ((first, hazy), (second, clean), (third, hazy)):
        done = wait_for(app.url, job["id"])
        assert done["state"] == "done", done
        _, png = request(app.url + done["result"].lstrip("/"))
        assert np.array_equal(decode_png(png), expected[path])
