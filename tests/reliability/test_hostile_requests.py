"""Hostile network input (issue 23, items 1, 2, 5, 6, 10, 13 and 15's base64): no request of a few bytes may
cost gigabytes, skip the pixel limit or go unanswered, and the page answers only to its own name.

The stand-in and the page run in this process, so `tracemalloc` sees every array a request makes (numpy
reports its buffers to it): a bound on its peak proves the array a hostile shape asks for was never built.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import socket
import time
import tracemalloc
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from export import signature_names as sig
from keras_durbm.errors import BadImageError
from keras_durbm.images.io import probe_image
from keras_durbm.images.pixels import encode_png
from serving import client as serving_client
from serving.errors import ServingError
from serving.standin import StandIn
from tests.app.conftest import Running, post_image, request, wait_for
from tests.support.exports import EXPORTED_HEAD, exported_dir
from tests.support.held_jobs import hold_the_first_job

MAX_PIXELS = 64 * 64  # the stand-in's --max-pixels in these tests
IDLE_TIMEOUT_S = 1.0
QUEUE_PIXELS = 600  # the page's --max-queue-pixels: two 16x16 images (256 pixels each), not three
KEEP_FINISHED = 2
_B64_PNG = base64.b64encode(encode_png(np.zeros((8, 8, 3), np.uint8))).decode()


def _unreadable_header_jpeg(height: int, width: int) -> bytes:
    """A JPEG with the bytes FF 01 after its start marker: Pillow cannot read its header, libjpeg (and so
    TensorFlow) skips them and decodes the image."""
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)).save(buffer, "JPEG")
    data = buffer.getvalue()
    return data[:2] + b"\xff\x01" + data[2:]


def _peak_bytes(call) -> int:
    """Peak of the memory traced (every thread of this process, numpy buffers included) while `call` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- the stand-in -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """The shared export's haze model alone (a link to it: loading `auto` too would double the start-up)."""
    root = tmp_path_factory.mktemp("serving")
    os.symlink(os.path.join(exported_dir(), "serving", EXPORTED_HEAD), root / EXPORTED_HEAD)
    with StandIn(str(root), idle_timeout=IDLE_TIMEOUT_S, max_pixels=MAX_PIXELS) as server:
        yield server


def _rest(server: StandIn, body: bytes) -> tuple[int | None, str]:
    """(status, error message) of a raw REST predict; (None, why) when the server closed without an answer."""
    host, port = server.http.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request("POST", f"/v1/models/{EXPORTED_HEAD}:predict", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read()).get("error", "")
    except (ConnectionError, http.client.HTTPException) as error:
        return None, f"no answer: {error!r}"
    finally:
        connection.close()


def _grpc(server: StandIn, signature: str, key: str, fill) -> tuple[str, str]:
    """(status code name, details) of a raw gRPC Predict whose input `key` is filled by `fill(TensorProto)`."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = EXPORTED_HEAD, signature
    fill(request.inputs[key])
    with grpc.insecure_channel(server.grpc_target) as channel:
        try:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        except grpc.RpcError as error:
            return error.code().name, error.details()
    return "OK", ""


def _shape(proto, dtype, *sizes) -> None:
    proto.dtype = dtype
    for size in sizes:
        proto.tensor_shape.dim.add().size = size


def test_an_image_whose_size_cannot_be_read_from_its_header_is_refused(standin, tmp_path):
    """Item 1: 100x80 = 8,000 pixels over the limit of 4,096, hidden behind FF 01; it used to be restored (200)."""
    data = _unreadable_header_jpeg(80, 100)
    for client in (serving_client.RestClient(standin.rest_url, EXPORTED_HEAD, retries=0),
                   serving_client.GrpcClient(standin.grpc_target, EXPORTED_HEAD, retries=0)):
        with pytest.raises(ServingError, match=r"image_bytes\[0\]: the image size cannot be read from its header"):
            client.predict(sig.SERVE_PNG, {sig.INPUT_BYTES: [data]}, sig.OUTPUT_BYTES)
    path = tmp_path / "hidden.jpg"  # the file readers (restore, the serving client, the page) refuse it too
    path.write_bytes(data)
    with pytest.raises(BadImageError, match="not a readable image"):
        probe_image(path)
    with pytest.raises(BadImageError, match="not a readable image"):
        serving_client.restore_file(None, str(path), str(tmp_path / "out.png"))


def test_a_grpc_shape_bomb_is_refused_before_any_array_is_built(standin):
    """Item 2: a 65-byte request declaring [1, 2000, 10000, 3] floats with one value used to be filled to
    240 MB by tf.make_ndarray before the pixel check. Allowed here: 16 MB traced while it is refused."""
    answers = []

    def bomb():
        answers.append(_grpc(standin, sig.SERVING_DEFAULT, sig.INPUT_FLOAT, lambda proto: (
            _shape(proto, 1, 1, 2000, 10000, 3), proto.float_val.append(0.5))))  # 1: DT_FLOAT

    peak = _peak_bytes(bomb)
    assert answers == [("INVALID_ARGUMENT", f"{sig.INPUT_FLOAT}: image is 10000x2000 = 20,000,000 pixels, over the "
                        "limit of 4,096 (the server's --max-pixels); send tiles, e.g. python -m keras_durbm.restore "
                        "--tile")]
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MB traced: the array was built"


def test_the_pixel_limit_counts_every_image_of_a_request(standin):
    """Item 2: two 64x64 images are 8,192 pixels in one request; each used to be checked alone (and accepted)."""
    batch = np.zeros((2, 64, 64, 3), np.uint8)
    for client in (serving_client.RestClient(standin.rest_url, EXPORTED_HEAD, retries=0),
                   serving_client.GrpcClient(standin.grpc_target, EXPORTED_HEAD, retries=0)):
        with pytest.raises(ServingError, match=r"image_u8: 2 images of 64x64 = 8,192 pixels in one request, over "
                                               r"the limit of 4,096 per request"):
            client.predict(sig.SERVE_UINT8, {sig.INPUT_UINT8: batch}, sig.OUTPUT_UINT8)
        with pytest.raises(ServingError, match=r"image_bytes\[0\]: 2 images = 8,192 pixels in one request"):
            client.predict(sig.SERVE_PNG, {sig.INPUT_BYTES: [encode_png(batch[0])] * 2}, sig.OUTPUT_BYTES)


def test_a_rest_body_larger_than_the_pixel_limit_allows_is_refused_before_it_is_parsed(standin):
    """Item 2: a 2.5 MB JSON float image (200x200) used to be parsed (~43x its size) before the pixel check.
    The limit for 4,096 pixels is 1 MiB + 80 bytes a pixel; allowed here: 8 MB traced while it is refused."""
    body = json.dumps({"signature_name": sig.SERVING_DEFAULT, "inputs": {
        sig.INPUT_FLOAT: np.full((1, 200, 200, 3), 0.123456789, np.float32).tolist()}}).encode()
    answers = []
    peak = _peak_bytes(lambda: answers.append(_rest(standin, body)))
    [(status, message)] = answers
    assert status == 413, message
    assert message.startswith(f"request body of {len(body):,} bytes is over the limit of 1,376,256 (what an image "
                              "at the server's --max-pixels needs as JSON)")
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MB traced: the body was parsed"


@pytest.mark.parametrize("body, message", [
    (b"[" * 100_000, "JSON Parse error: nested too deeply"),
    (json.dumps({"signature_name": sig.SERVE_UINT8, "instances": [{sig.INPUT_UINT8: [[[0, 0, 0]]]}, {"other": 1}]}),
     "instances[1] names inputs ['other'], instances[0] ['image_u8']: every instance must name the same inputs"),
    (json.dumps({"signature_name": sig.SERVE_PNG, "instances": [{"b64": "!!" + _B64_PNG[:10] + "$*\n" + _B64_PNG[10:]}]}),
     'a {"b64": ...} value is not base64 (Only base64 data is allowed)'),
    (json.dumps({"signature_name": sig.SERVE_PNG, "instances": [{"b64": 7}]}),
     'a {"b64": ...} value must be a string, not int'),
], ids=["nested-brackets", "instances-with-other-keys", "base64-with-junk", "base64-not-a-string"])
def test_malformed_rest_requests_get_a_400_with_a_message(standin, body, message, capfd):
    """Items 6 and 15: the first two used to close the connection without an answer (RecursionError,
    KeyError tracebacks on the server); junk in base64 was skipped and the image restored."""
    status, text = _rest(standin, body.encode() if isinstance(body, str) else body)
    assert (status, text[:len(message)]) == (400, message)
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("fill, message", [
    (lambda proto: _shape(proto, 21, 1), "input image_u8: dtype DT_VARIANT is not supported"),  # 21: DT_VARIANT
    (lambda proto: (_shape(proto, 4, 1, 8, 8, 3), setattr(proto, "tensor_content", bytes(10))),  # 4: DT_UINT8
     "input image_u8: tensor_content has 10 bytes; shape [1, 8, 8, 3] of uint8 needs 192"),
    (lambda proto: (_shape(proto, 4, 1, -8, 8, 3), proto.int_val.append(1)),
     "input image_u8: shape [1, -8, 8, 3] has a negative dimension"),
    (lambda proto: (_shape(proto, 7, 5000), proto.string_val.append(b"x")),  # 7: DT_STRING
     "input image_u8: shape [5000] needs 5,000 string_val values, one per element; got 1"),
], ids=["variant-dtype", "tensor-content-size", "negative-dimension", "strings-repeated-to-fill"])
def test_malformed_grpc_requests_get_invalid_argument(standin, fill, message):
    """Item 6: these used to fail with UNKNOWN (an exception in the servicer)."""
    code, details = _grpc(standin, sig.SERVE_UINT8, sig.INPUT_UINT8, fill)
    assert (code, details[:len(message)]) == ("INVALID_ARGUMENT", message)


# --- the page ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(trained_model, trained_model_path):
    lines: list[str] = []
    running = Running(trained_model, trained_model_path, log=lines.append, idle_timeout=IDLE_TIMEOUT_S,
                      max_queue_pixels=QUEUE_PIXELS, keep_finished=KEEP_FINISHED)
    running.lines = lines
    yield running
    running.close()


def _eventually(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.02)


def _png(height: int, width: int, seed: int = 0) -> bytes:
    return encode_png(np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8))


def _raw_status(page: Running, method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, dict]:
    host, port = page.server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True)
        for key, value in {**headers, **({"Content-Length": str(len(body))} if body is not None else {})}.items():
            connection.putheader(key, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_the_page_answers_only_to_its_own_host_name(page, trained_model_path):
    """Item 5: a DNS-rebinding page (evil.example resolving to 127.0.0.1) was answered, jobs included, and
    /api/model gave the model's absolute path."""
    port = page.server.server_address[1]
    evil = f"evil.example:{port}"
    status, body = _raw_status(page, "GET", "/api/model", {"Host": evil})
    assert status == 403 and f"not to the Host '{evil}'" in body["error"], body
    jobs_before = len(page.server.jobs._jobs)
    status, body = _raw_status(page, "POST", "/api/jobs?name=a.png&task=haze", {
        "Host": evil, "Origin": f"http://{evil}", "Content-Type": "application/octet-stream"}, _png(8, 8))
    assert status == 403 and len(page.server.jobs._jobs) == jobs_before
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        status, info = _raw_status(page, "GET", "/api/model", {"Host": host})
        assert status == 200 and info["model"] == os.path.basename(trained_model_path), info  # no folder


def test_silent_connections_are_closed_and_the_listen_backlog_is_128(page):
    """Item 10: half-sent requests used to stay open (and hold a thread) until the server stopped."""
    assert page.server.request_queue_size == 128
    host, port = page.server.server_address[:2]
    uploads = set(os.listdir(page.server.path("uploads", "")))
    half_sent = [b"GET /api/mo", b"POST /api/jobs?name=a.png&task=haze HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Length: 100000\r\n\r\n" + _png(8, 8)]
    sockets = []
    for index in range(12):
        sock = socket.create_connection((host, port), timeout=IDLE_TIMEOUT_S + 4)
        sock.sendall(half_sent[index % 2])
        sockets.append(sock)
    start = time.monotonic()
    try:
        for sock in sockets:
            assert sock.recv(1024) == b""  # closed by the server (a TimeoutError here: still open)
    finally:
        for sock in sockets:
            sock.close()
    assert time.monotonic() - start < IDLE_TIMEOUT_S + 3
    assert set(os.listdir(page.server.path("uploads", ""))) == uploads  # the cut uploads were removed


def test_the_queue_counts_pixels_from_the_header_before_decoding(page, monkeypatch):
    """Items 1 and 10: uploads used to be decoded before the queue (which counted images) was checked, and
    an image whose header cannot be read was decoded to find out."""
    restorer = page.server.restorer
    real_read, decoded = restorer.read, []
    started, release = hold_the_first_job(monkeypatch, restorer)
    monkeypatch.setattr(restorer, "read", lambda path, name: (decoded.append(name), real_read(path, name))[1])
    try:
        status, first = post_image(page.url, "a.png", _png(16, 16), task="haze")
        assert status == 202 and started.wait(30)
        status, second = post_image(page.url, "b.png", _png(16, 16, 1), task="haze")
        assert status == 202 and second["position"] == 1  # 512 pixels held
        status, third = post_image(page.url, "c.png", _png(16, 16, 2), task="haze")
        assert status == 503 and third["error"] == (
            "c.png: not queued: the images waiting or being restored hold 512 pixels, and this one's 256 would pass "
            "the queue's limit of 600 (--max-queue-pixels); try again when some have finished")
        status, hidden = post_image(page.url, "hidden.jpg", _unreadable_header_jpeg(80, 100), task="haze")
        assert status == 400 and hidden["error"].startswith("hidden.jpg: not a readable image"), hidden
        assert decoded == ["a.png", "b.png"]  # neither c.png nor hidden.jpg was decoded
    finally:
        release.set()
    for job in (first, second):
        assert wait_for(page.url, job["id"])["state"] == "done"
    status, _ = post_image(page.url, "c.png", _png(16, 16, 2), task="haze")
    assert status == 202  # the pixels were given back


def test_finished_jobs_are_evicted_with_their_files(page, monkeypatch):
    """Item 10: uploads, inputs and results used to be kept until the server stopped."""
    jobs = []
    for seed in range(KEEP_FINISHED + 1):
        status, job = post_image(page.url, f"{seed}.png", _png(16, 16, seed), task="haze")
        assert status == 202
        jobs.append(wait_for(page.url, job["id"]))
        assert request(page.url + jobs[-1]["input"].lstrip("/"))[0] == 200  # the "before" PNG is written
    status, body = request(page.url + f"api/jobs/{jobs[0]['id']}")
    assert status == 404 and "finished images are removed after 60 min or 2 newer ones" in json.loads(body)["error"]
    assert request(page.url + jobs[0]["result"].lstrip("/"))[0] == 404
    kept = {job["id"] for job in jobs[1:]}
    assert {name[:16] for name in os.listdir(page.server.path("results", ""))} == kept
    assert {name[:16] for name in os.listdir(page.server.path("inputs", ""))} == kept
    assert len(os.listdir(page.server.path("uploads", ""))) == KEEP_FINISHED
    monkeypatch.setattr(page.server.jobs, "_keep_seconds", 0.0)  # and by age: nothing finished is kept now
    status, late = post_image(page.url, "late.png", _png(16, 16), task="haze")
    assert status == 202
    _eventually(lambda: request(page.url + f"api/jobs/{late['id']}")[0] == 404
                and os.listdir(page.server.path("results", "")) == [])


def test_log_lines_escape_the_control_characters_of_file_names(page, monkeypatch, capfd):
    """Item 13: a file name with a newline and terminal escapes was printed raw (a fake `error:` line)."""
    name = "x.png\n\x1b[31merror: all your files are deleted\x1b[0m.png"
    escaped = "x.png\\n\\x1b[31merror: all your files are deleted\\x1b[0m.png"
    query = urllib.parse.urlencode({"name": name, "task": "haze"})
    status, body = request(f"{page.url}api/jobs?{query}", _png(16, 16), {"Content-Type": "application/octet-stream"})
    assert status == 202
    _eventually(lambda: page.lines and page.lines[-1].startswith(f"{escaped}: restored with haze in "))
    monkeypatch.setattr(page.server.restorer, "run", lambda *args, **kwargs: 1 / 0)
    status, body = request(f"{page.url}api/jobs?{query}", _png(16, 16), {"Content-Type": "application/octet-stream"})
    assert status == 202
    err = []
    _eventually(lambda: err.append(capfd.readouterr().err) or "".join(err).endswith("\n"))
    assert "".join(err) == f"error: {escaped}: division by zero\n"
