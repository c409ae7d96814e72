"""The client against the stand-in TF Serving: same pixels as keras_durbm.restore, concurrency, clear errors."""

import base64
import concurrent.futures
import io
import json
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from export import signature_names as sig
from serving import client as serving_client
from serving.errors import ServerUnusable, ServingError
from serving.standin import main as standin_main
from tests.support.serving_checks import assert_client_restores_like_keras, keras_reference, write_inputs


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def reference(trained_model_path, head, inputs, tmp_path_factory):
    return keras_reference(trained_model_path, head, inputs, tmp_path_factory.mktemp("reference"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_client_restores_the_same_pixels_as_keras_restore_over_rest_and_grpc(standin, head, inputs, reference,
                                                                             tmp_path):
    assert standin.rest_url.startswith("http://127.0.0.1:") and standin.grpc_target.startswith("127.0.0.1:")
    assert_client_restores_like_keras(standin.rest_url, standin.grpc_target, head, inputs, reference, tmp_path)


def test_fifty_concurrent_requests_all_succeed(standin, head, inputs, reference):
    pixels = np.asarray(Image.open(inputs[0]))
    expected = reference["crop.png"]
    rest = serving_client.RestClient(standin.rest_url, head)
    grpc = serving_client.GrpcClient(standin.grpc_target, head)
    jobs = [(rest if i % 2 else grpc, sig.SERVE_PNG if i % 3 else sig.SERVE_UINT8) for i in range(50)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda job: serving_client.restore_uint8(job[0], pixels, job[1]), jobs))
    grpc.close()
    assert len(results) == 50
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_refused_connection_is_a_clear_error_after_bounded_retries(head, inputs, tmp_path, capsys, monkeypatch):
    sleeps = []
    monkeypatch.setattr(serving_client.time, "sleep", sleeps.append)
    port = free_port()
    for flag, where in (("--rest", f"http://127.0.0.1:{port}"), ("--grpc", f"127.0.0.1:{port}")):
        sleeps.clear()
        code = serving_client.main([flag, where, "--retries", "2", "--model", head, inputs[0], "-o", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert code == 1 and "cannot reach" in err and "tried 3 time(s)" in err and "is the server running" in err
        assert sleeps == [0.25, 0.5]  # exponential backoff, bounded by --retries
    assert not (tmp_path / "o").exists()  # an unusable server: the output folder is not even created


def test_a_server_that_does_not_answer_times_out(head):
    with socket.socket() as silent:  # accepts connections (kernel backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = serving_client.RestClient(f"http://127.0.0.1:{silent.getsockname()[1]}", head, timeout=0.3, retries=1)
        with pytest.raises(ServingError, match=r"did not answer within 0.3 s \(tried 2 time") as raised:
            client.signatures()
        # a timeout fails that request only (like gRPC's DEADLINE_EXCEEDED), it does not make the server unusable
        assert not isinstance(raised.value, ServerUnusable) and raised.value.code == "DEADLINE_EXCEEDED"


def test_unknown_model_and_signature_are_clear_errors(standin, head, inputs, tmp_path, capsys):
    for flag, where in (("--rest", standin.rest_url), ("--grpc", standin.grpc_target)):
        code = serving_client.main([flag, where, "--model", "deblur", inputs[0], "-o", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert code == 1 and "model 'deblur' not found" in err and "Servable not found for request: Latest(deblur)" in err
    for client in (serving_client.RestClient(standin.rest_url, head), serving_client.GrpcClient(standin.grpc_target, head)):
        with pytest.raises(ServerUnusable, match="has no signature 'serve_jpeg'; it has: serve_png, "
                                                                 "serve_uint8, serving_default"):
            serving_client.check_signature(client, "serve_jpeg")
        with pytest.raises(ServingError, match='signature name: "serve_jpeg" not found'):
            client.predict("serve_jpeg", {sig.INPUT_FLOAT: np.zeros((1, 8, 8, 3), np.float32)}, sig.OUTPUT_FLOAT)
        with pytest.raises(ServingError, match="image_u8.*uint8"):
            client.predict(sig.SERVE_UINT8, {sig.INPUT_UINT8: np.zeros((1, 8, 8, 3), np.float32) + 0.5},
                           sig.OUTPUT_UINT8)


def test_oversized_images_are_refused_clearly(standin, head, inputs, tmp_path, capsys):
    code = serving_client.main(["--grpc", standin.grpc_target, "--model", head, *inputs, "--max-pixels", "1500",
                                "-o", str(tmp_path / "o"), "--no-progress"])
    captured = capsys.readouterr()
    # refused from the file's header (keras_durbm.images.io's limit, which --max-pixels sets)
    assert code == 1 and "53x37 = 1,961 pixels, over the limit of 1,500" in captured.err
    assert "--max-pixels" in captured.err
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["small.jpg"]  # the 31x40 one fits and was restored
    small = serving_client.GrpcClient(standin.grpc_target, head, max_message_bytes=2000)
    with pytest.raises(ServingError, match="message too large"):
        serving_client.restore_uint8(small, np.zeros((40, 40, 3), np.uint8), sig.SERVE_UINT8)


def test_grpc_replies_over_four_megabytes_arrive(standin, head, rng):
    """The Python gRPC default refuses replies over 4 MB; the client raises the limit."""
    image = rng.random((1, 600, 600, 3)).astype(np.float32)  # a 4.3 MB float reply
    client = serving_client.GrpcClient(standin.grpc_target, head, timeout=300)
    restored = client.predict(sig.SERVING_DEFAULT, {sig.INPUT_FLOAT: image}, sig.OUTPUT_FLOAT)
    assert restored.shape == image.shape and restored.nbytes > 4 * 2**20
    direct = standin.servables.predict(head, None, sig.SERVING_DEFAULT, {sig.INPUT_FLOAT: image})[1]
    np.testing.assert_array_equal(restored, direct[sig.OUTPUT_FLOAT])


def rest(url, body=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_rest_protocol_of_the_standin(standin, head, inputs, reference):
    base = f"{standin.rest_url}/v1/models/{head}"
    assert rest(base) == (200, {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    status, meta = rest(f"{base}/metadata")
    assert status == 200 and set(meta["metadata"]["signature_def"]["signature_def"]) == set(sig.SIGNATURES)
    with open(inputs[0], "rb") as handle:
        png = base64.b64encode(handle.read()).decode()
    status, reply = rest(f"{base}/versions/1:predict", {"signature_name": sig.SERVE_PNG, "instances": [{"b64": png}]})
    assert status == 200 and len(reply["predictions"]) == 1  # row format, one unnamed output per instance
    restored = np.asarray(Image.open(io.BytesIO(base64.b64decode(reply["predictions"][0]["b64"]))))
    np.testing.assert_array_equal(restored, reference["crop.png"])
    status, reply = rest(f"{base}:predict", {"signature_name": sig.SERVE_UINT8,
                                            "instances": [{sig.INPUT_UINT8: np.zeros((8, 8, 3), int).tolist()}]})
    assert status == 200 and np.asarray(reply["predictions"]).shape == (1, 8, 8, 3)
    assert rest(f"{standin.rest_url}/v1/models/{head}/versions/7:predict", {"instances": [[[[0.0] * 3]]]})[0] == 404
    assert rest(f"{base}:predict", b"{not json")[0] == 400
    status, reply = rest(f"{base}:predict", {"signature_name": sig.SERVE_UINT8, "instances": [[[[0.5, 0.5, 0.5]]]]})
    assert status == 400 and "integers in [0, 255]" in reply["error"]
    assert rest(f"{base}:predict", {"instances": [1], "inputs": [1]})[0] == 400


def test_standin_refuses_a_folder_without_models(tmp_path, capsys):
    assert standin_main([str(tmp_path), "--rest-port", "0", "--grpc-port", "0"]) == 2
    assert "no <model>/<version>/saved_model.pb inside" in capsys.readouterr().err
    assert standin_main([str(tmp_path / "missing")]) == 2
