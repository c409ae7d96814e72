"""Fixtures of the app tests: the trained tiny network (with a degradation classifier) served in-process on a
free port of 127.0.0.1, a held-out photograph, and what `python -m keras_durbm.restore --format png` writes
for it (the reference every result of the page is compared with, pixel for pixel)."""

from __future__ import annotations

import io
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from PIL import Image

from keras_durbm.images.pixels import to_uint8
from tfrecords_tools.photos import load_photos
from tfrecords_tools.synthesis import add_haze


class Running:
    """An `AppServer` serving in a thread; `url` is its address; `log` receives the job queue's lines."""

    def __init__(self, model, source: str, tiling=None, log=None, **limits):
        from keras_durbm.app.restoration import Restorer
        from keras_durbm.app.server import AppServer
        from keras_durbm.images.io import DEFAULT_MAX_PIXELS
        from keras_durbm.restoration.tiling import TilingConfig

        self.server = AppServer(("127.0.0.1", 0), **limits)
        self.server.start(Restorer(model, source, tiling or TilingConfig(), max_pixels=DEFAULT_MAX_PIXELS),
                          log=log or (lambda text: None))
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()
        self.thread.join(10)


def request(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    """(status, body) of GET `url` (POST with `data`); 4xx/5xx answers are returned, not raised."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post_image(base: str, name: str, data: bytes, task: str = "", chain: bool = False) -> tuple[int, dict]:
    query = urllib.parse.urlencode({"name": name, "task": task, "chain": "1" if chain else "0"})
    status, body = request(f"{base}api/jobs?{query}", data, {"Content-Type": "application/octet-stream"})
    return status, json.loads(body)


def job_state(base: str, job_id: str) -> dict:
    status, body = request(f"{base}api/jobs/{job_id}")
    assert status == 200, body
    return json.loads(body)


def wait_for(base: str, job_id: str, timeout: float = 60.0) -> dict:
    """The job's JSON once it is done or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = job_state(base, job_id)
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def restore_and_download(base: str, name: str, data: bytes, task: str = "", chain: bool = False) -> tuple[dict, bytes]:
    status, job = post_image(base, name, data, task, chain)
    assert status == 202, job
    job = wait_for(base, job["id"])
    assert job["state"] == "done", job
    status, png = request(base + job["result"].lstrip("/"))
    assert status == 200
    return job, png


def decode_png(data: bytes) -> np.ndarray:
    """The integer pixels of a PNG in its own bit depth and channels (16-bit through TensorFlow's codec)."""
    import tensorflow as tf

    if data[24] == 16:
        return tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
    return np.asarray(Image.open(io.BytesIO(data)))


def restore_cli(folder, source: str, task: str, path, *flags: str) -> bytes:
    """The PNG `python -m keras_durbm.restore --model source --task task path -o folder --format png` writes."""
    from keras_durbm.restore import main

    out = os.path.join(folder, f"restored-{task}-{'-'.join(f.strip('-') for f in flags) or 'default'}")
    assert main(["--model", source, "--task", task, str(path), "-o", out, "--format", "png", "--no-progress",
                 *flags]) == 0
    with open(os.path.join(out, os.path.splitext(os.path.basename(path))[0] + ".png"), "rb") as handle:
        return handle.read()


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def app(trained_model, trained_model_path):
    running = Running(trained_model, trained_model_path)
    yield running
    running.close()


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """A held-out photograph (the tiny model trained on others), clean and hazed (paper eq. 2), uint8 RGB."""
    [(_, clean)] = load_photos(("coffee",), 96)
    clean = clean[:60, :90]
    return {"clean": clean, "hazy": to_uint8(add_haze(clean.astype(np.float32) / 255.0, 5))}
