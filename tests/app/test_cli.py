"""`python -m keras_durbm.app` as a user runs it: it listens on 127.0.0.1 only, restores through its API,
writes nothing outside its temporary folder and removes that on SIGTERM (exit 0); a bad model or a port in
use is an `error: ...` line and exit 2, before TensorFlow is imported."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import threading
import time

import pytest

from tests.app.conftest import png_bytes, restore_and_download
from tests.support.processes import run_python, start_python


def _lines(stream, sink: queue.Queue) -> None:
    for line in stream:
        sink.put(line)
    sink.put(None)


def _wait_for_line(sink: queue.Queue, pattern: str, timeout: float) -> tuple[re.Match, list[str]]:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = sink.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match, seen
    raise AssertionError(f"no line matching {pattern!r} in {timeout} s; stdout: {''.join(seen)}")


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) of sockets listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table, encoding="ascii") as handle:
            for row in handle.readlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.split(":")
                if int(hex_port, 16) == port and state == "0A":  # LISTEN
                    found.add(address)
    return found


def test_it_serves_on_127_0_0_1_only_and_sigterm_removes_its_folder(trained_model_path, photos, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    child = start_python(["-m", "keras_durbm.app", "--model", trained_model_path, "--port", "0"], TMPDIR=str(scratch))
    sink: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(child.stdout, sink), daemon=True).start()
    try:
        match, seen = _wait_for_line(sink, r"serving at (http://127\.0\.0\.1:(\d+)/)", timeout=120)
        url, port = match[1], int(match[2])
        folder = re.search(r"temporary files in (\S+)", "".join(seen))[1]
        assert os.path.dirname(folder) == str(scratch) and os.path.isdir(folder)
        if os.path.exists("/proc/net/tcp"):
            assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, not 0.0.0.0
        job, png = restore_and_download(url, "hazy.png", png_bytes(photos["hazy"]), task="haze")
        assert job["state"] == "done" and png.startswith(b"\x89PNG")
        assert sorted(os.listdir(folder)) == ["inputs", "results", "uploads"]
        assert os.listdir(os.path.join(folder, "results")) == [f"{job['id']}.png"]
        child.send_signal(signal.SIGTERM)
        assert child.wait(60) == 0, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not os.path.exists(folder)
    assert os.listdir(scratch) == []  # nothing else was written to the temporary directory either
    assert child.stderr.read() == ""


def test_a_bad_model_is_an_error_line_and_exit_2(tmp_path):
    done = run_python(["-m", "keras_durbm.app", "--model", str(tmp_path / "none.keras")], timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: model {tmp_path / 'none.keras'} does not exist") and "Traceback" not in done.stderr


def test_a_port_in_use_is_named_and_exit_2(trained_model_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_python(["-m", "keras_durbm.app", "--model", trained_model_path, "--port", str(port)], timeout=120)
    assert done.returncode == 2
    assert done.stderr == f"error: port {port} on 127.0.0.1 is already in use (is the app already running?); " \
                          "choose another with --port\n"
    assert "loading" not in done.stdout  # refused before the model (and TensorFlow) was loaded


@pytest.mark.parametrize("flag, message", [("--port=70000", "--port must be between 0 and 65535"),
                                           ("--max-queue=0", "--max-queue must be at least 1"),
                                           ("--max-queue-pixels=-1", "--max-queue-pixels must be at least 0")])
def test_bad_flags_exit_2(trained_model_path, flag, message):
    done = run_python(["-m", "keras_durbm.app", "--model", trained_model_path, flag], timeout=120)
    assert done.returncode == 2 and message in done.stderr


def test_help_documents_the_exit_status():
    done = run_python(["-m", "keras_durbm.app", "--help"], timeout=120)
    assert done.returncode == 0 and "Exit status: 0 when stopped by Ctrl-C or SIGTERM" in done.stdout
