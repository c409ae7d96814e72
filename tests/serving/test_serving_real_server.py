"""The client check against a real tensorflow_model_server (skipped unless it is on PATH, e.g. in Docker)."""

import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from export.serving_config import models_config_text
from tests.support.serving_checks import assert_client_restores_like_keras, keras_reference, write_inputs

SERVER = shutil.which("tensorflow_model_server")
pytestmark = [pytest.mark.server, pytest.mark.skipif(SERVER is None, reason="tensorflow_model_server is not on PATH")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def real_server(serving_dir, head, tmp_path_factory):
    config = tmp_path_factory.mktemp("server") / "models.config"
    config.write_text(models_config_text([head], os.path.abspath(serving_dir)))
    grpc_port, rest_port = free_port(), free_port()
    process = subprocess.Popen([SERVER, f"--port={grpc_port}", f"--rest_api_port={rest_port}",
                                "--rest_api_num_threads=8", f"--model_config_file={config}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{rest_port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v1/models/{head}", timeout=2) as reply:
                if b"AVAILABLE" in reply.read():
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"tensorflow_model_server did not come up: {process.stdout.read().decode()[-2000:]}")
        time.sleep(0.5)
    yield url, f"127.0.0.1:{grpc_port}"
    process.terminate()
    process.wait(timeout=30)


def test_real_server_gives_the_same_pixels_as_keras_restore(real_server, head, trained_model_path, tmp_path):
    inputs = write_inputs(tmp_path / "inputs")
    reference = keras_reference(trained_model_path, head, inputs, tmp_path / "reference")
    assert_client_restores_like_keras(*real_server, head, inputs, reference, tmp_path / "out")
