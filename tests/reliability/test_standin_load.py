"""The stand-in under load and under malformed REST traffic: 50 concurrent REST and gRPC clients, idle and
half-open connections, bad Content-Length headers and oversized images; the server keeps serving."""

from __future__ import annotations

import base64
import concurrent.futures
import http.client
import json
import os
import socket
import statistics
import time

import numpy as np
import pytest

from export import signature_names as sig
from keras_durbm.images.pixels import encode_png
from serving import client as serving_client
from serving.errors import ServingError
from serving.standin import StandIn
from tests.support.exports import EXPORTED_HEAD, exported_dir

CONCURRENT = 50
IDLE_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server():
    with StandIn(os.path.join(exported_dir(), "serving"), idle_timeout=IDLE_TIMEOUT_S, max_pixels=64 * 64) as running:
        yield running


@pytest.fixture(scope="module")
def png():
    rng = np.random.default_rng(0)
    return encode_png(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))


def _rest_once(server: StandIn, body: bytes) -> tuple[int, float]:
    host, port = server.http.server_address[:2]
    start = time.perf_counter()
    connection = http.client.HTTPConnection(host, port, timeout=120)
    try:
        connection.request("POST", f"/v1/models/{EXPORTED_HEAD}:predict", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - start
    finally:
        connection.close()


def _percentiles(seconds: list[float]) -> str:
    ms = sorted(1000 * s for s in seconds)
    return f"p50 {statistics.median(ms):.0f} ms, p99 {ms[min(len(ms) - 1, int(0.99 * len(ms)))]:.0f} ms"


@pytest.mark.slow
def test_fifty_concurrent_rest_and_fifty_grpc_clients_all_succeed(server, png, capsys):
    """One request per client, all at once (the listen backlog used to reset 16-24 of 50 REST clients)."""
    body = json.dumps({"signature_name": sig.SERVE_PNG, "inputs": {sig.INPUT_BYTES: [{"b64": base64.b64encode(png)
                                                                                       .decode()}]}}).encode()
    assert _rest_once(server, body)[0] == 200  # warm-up (TF Serving replays its warm-up records the same way)
    with concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        rest = list(pool.map(lambda _: _rest_once(server, body), range(CONCURRENT)))

    def grpc_once(_):
        client = serving_client.GrpcClient(server.grpc_target, EXPORTED_HEAD, retries=0, timeout=120)
        try:
            start = time.perf_counter()
            client.predict(sig.SERVE_PNG, {sig.INPUT_BYTES: [png]}, sig.OUTPUT_BYTES)
            return time.perf_counter() - start
        finally:
            client.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        grpc = list(pool.map(grpc_once, range(CONCURRENT)))
    assert [status for status, _ in rest] == [200] * CONCURRENT
    assert len(grpc) == CONCURRENT
    with capsys.disabled():
        print(f"\n  stand-in, {CONCURRENT} concurrent clients, one 32x24 PNG each: REST "
              f"{_percentiles([s for _, s in rest])}; gRPC {_percentiles(grpc)}")


def _raw(server: StandIn, data: bytes, wait: float = 5.0) -> bytes:
    host, port = server.http.server_address[:2]
    with socket.create_connection((host, port), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def _post(length: str, body: bytes = b"") -> bytes:
    return (f"POST /v1/models/{EXPORTED_HEAD}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode() + body


@pytest.mark.parametrize("length, body, message", [
    ("abc", b"{}", b"Content-Length must be a non-negative integer, got 'abc'"),
    ("-1", b"{}", b"Content-Length must be a non-negative integer, got '-1'"),
    ("500", b"{}", b"request body shorter than its Content-Length 500"),
])
def test_a_bad_content_length_gets_a_400_and_the_connection_closes(server, length, body, message, capfd):
    reply = _raw(server, _post(length, body), wait=IDLE_TIMEOUT_S + 4)
    assert reply.startswith(b"HTTP/1.1 400") and message in reply and b"Connection: close" in reply
    assert "Traceback" not in capfd.readouterr().err
    assert server.servables.get(EXPORTED_HEAD)  # and it still serves
    status, _ = _rest_once(server, json.dumps({"signature_name": sig.SERVE_UINT8, "inputs": {
        sig.INPUT_UINT8: np.zeros((1, 8, 8, 3), np.uint8).tolist()}}).encode())
    assert status == 200


def test_an_idle_or_half_open_connection_is_closed(server):
    host, port = server.http.server_address[:2]
    with socket.create_connection((host, port), timeout=IDLE_TIMEOUT_S + 5) as sock:
        sock.sendall(b"POST /v1/models/x:predict HTTP/1.1\r\n")  # half a request, then silence
        start = time.monotonic()
        assert sock.recv(1024) == b""  # the server closed it
        assert time.monotonic() - start < IDLE_TIMEOUT_S + 3


def test_images_over_the_servers_pixel_limit_are_refused_over_rest_and_grpc(server):
    big = np.zeros((1, 80, 80, 3), np.uint8)  # 6,400 pixels over the fixture's 64x64 = 4,096
    for client in (serving_client.RestClient(server.rest_url, EXPORTED_HEAD, retries=0),
                   serving_client.GrpcClient(server.grpc_target, EXPORTED_HEAD, retries=0)):
        with pytest.raises(ServingError, match=r"image_u8: image is 80x80 = 6,400 pixels, over the limit of 4,096"):
            client.predict(sig.SERVE_UINT8, {sig.INPUT_UINT8: big}, sig.OUTPUT_UINT8)
        with pytest.raises(ServingError, match=r"image_bytes\[0\]: image is 80x80 = 6,400 pixels"):
            client.predict(sig.SERVE_PNG, {sig.INPUT_BYTES: [encode_png(big[0])]}, sig.OUTPUT_BYTES)
