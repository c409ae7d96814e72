"""Bad inputs and faults, one row per case, for every command-line tool (docs/reliability.md).

Each row: how the case is set up, the command's arguments, the exit status, a fragment of the message it
must print, and the files that must and must not exist afterwards (`unchanged`: files whose bytes must
not change). Commands run in-process through their `main()`, except the stand-in (a server on ports).
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from keras_durbm.atomic_files import temporary_name
from keras_durbm.tasks import HAZE
from tests.support import bad_files
from tests.support.exports import exported_dir
from tests.support.processes import run_python
from tests.support.tiny_models import reuse_loaded_tiny_model, tiny_model_path
from tfrecords_tools.converters import convert_synth
from tfrecords_tools.manifest import load_manifest, shard_files
from tfrecords_tools.records import scan_shard
from tfrecords_tools.writer import WriteConfig


@dataclasses.dataclass
class Env:
    """The case's scratch folder and what the setups leave for the arguments."""

    tmp: str
    values: dict = dataclasses.field(default_factory=dict)

    def path(self, *parts: str) -> str:
        return os.path.join(self.tmp, *parts)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    command: str  # the module whose main() runs ("serving.standin" runs in a child process)
    argv: Callable[[Env], list[str]]
    code: int
    message: str
    setup: Callable[[Env], None] | None = None
    exists: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    check: Callable[[Env, str], None] | None = None  # extra assertions on (env, printed text)


# --- set-ups ---------------------------------------------------------------------------------------------


def photo(path: str, size=(20, 24), seed: int = 0) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


def inputs_with_bombs(env: Env) -> None:
    photo(env.path("in", "a.png"))
    bad_files.png_bomb(env.path("in", "bomb.png"))
    bad_files.tiff16_bomb(env.path("in", "deep.tif"))


def existing_output(env: Env) -> None:
    photo(env.path("in", "a.png"))
    os.makedirs(env.path("out"))
    with open(env.path("out", "a.png"), "wb") as handle:
        handle.write(b"an earlier result")


def a_file_where_a_folder_is_expected(env: Env) -> None:
    photo(env.path("in", "a.png"))
    photo(env.path("gt", "a.png"), seed=1)
    with open(env.path("afile"), "w") as handle:
        handle.write("not a folder")


def haze_shards(env: Env, split: str = "test", flip: bool = True) -> None:
    rng = np.random.default_rng(3)
    clean = {f"c{i}": rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for i in range(4)}
    convert_synth(clean, env.path("data"), task=HAZE, split=split, seed=3,
                  write=WriteConfig(progress=False, workers=1, min_size=16))
    if flip:
        shard = shard_files(env.path("data"), HAZE, split)[0]
        offset, length = scan_shard(shard)[0]
        bad_files.flip_byte(shard, offset + length // 2)  # inside the first record's input PNG
        env.values["shard"] = os.path.basename(shard)


def clean_folder_with_bomb(env: Env) -> None:
    for i in range(3):
        photo(env.path("photos", f"p{i}.png"), (32, 32), seed=i)
    bad_files.png_bomb(env.path("photos", "bomb.png"))


def finished_short_run(env: Env) -> None:
    from keras_durbm.train import main as train_main

    assert train_main(SMOKE + ["--run-dir", env.path("run"), "--set", "schedule.total_steps=6",
                               "--set", "checkpoint.every_steps=3"]) == 0


def damaged_newest_checkpoint(how: str) -> Callable[[Env], None]:
    def setup(env: Env) -> None:
        finished_short_run(env)
        prefix = env.path("run", "checkpoints", "ckpt-6")
        data = prefix + ".data-00000-of-00001"
        if how == "truncated data":
            bad_files.truncate(data)
        elif how == "truncated index":
            bad_files.truncate(prefix + ".index")
        else:
            bad_files.flip_byte(data)
    return setup


def run_folder(env: Env) -> None:
    os.makedirs(env.path("run"))
    with open(tiny_model_path(), "rb") as src, open(env.path("run", "model.keras"), "wb") as dst:
        dst.write(src.read())
    with open(env.path("run", "config.yaml"), "w") as handle:
        handle.write("experiment: demo\n")


def stale_export_temporary(env: Env) -> None:
    stale = temporary_name(env.path("out")).rsplit("-", 2)[0] + f"-{bad_files.dead_pid()}-abcd1234"
    os.makedirs(stale)
    with open(os.path.join(stale, "half.tflite"), "wb") as handle:
        handle.write(b"\0" * 1024)
    env.values["stale"] = os.path.basename(stale)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _SlowPredict(http.server.BaseHTTPRequestHandler):
    """Answers model metadata at once (with the serve_png signature) and every predict after 3 s."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        return

    def _json(self, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self._json({"metadata": {"signature_def": {"signature_def": {"serve_png": {}}}}})

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(3)
        self._json({"outputs": []})


def slow_server(env: Env) -> None:
    photo(env.path("in", "a.png"))
    photo(env.path("in", "b.png"), seed=1)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowPredict)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env.values["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    env.values["server"] = server


def busy_ports(env: Env) -> None:
    from serving.standin import StandIn

    server = StandIn(os.path.join(exported_dir(), "serving")).start()
    env.values["server"] = server
    env.values["rest_port"] = server.http.server_address[1]
    env.values["grpc_port"] = server.grpc_port


# --- extra checks ----------------------------------------------------------------------------------------


def bomb_skipped_in_manifest(env: Env, printed: str) -> None:
    skipped = {s.source: s.reason for s in load_manifest(env.path("shards")).groups["haze/train"].skipped}
    assert "bomb.png#v=0" in skipped and "over the limit" in skipped["bomb.png#v=0"]


def resumed_past_the_damage(env: Env, printed: str) -> None:
    assert "resuming from the newest intact checkpoint" in printed and "ckpt-3" in printed
    summary = json.loads(open(env.path("run", "summary.json")).read())
    assert summary["start_step"] == 3 and summary["final_step"] == 9


def export_source_untouched(env: Env, printed: str) -> None:
    assert sorted(os.listdir(env.path("run"))) == ["config.yaml", "model.keras"]


def output_replaced(env: Env, printed: str) -> None:
    with open(env.path("out", "a.png"), "rb") as handle:
        assert handle.read() != b"an earlier result"


def stale_removed(env: Env, printed: str) -> None:
    assert env.values["stale"] in printed and not os.path.exists(env.path(env.values["stale"]))


def timeouts_named_and_batch_goes_on(env: Env, printed: str) -> None:
    assert printed.count("did not answer within 1 s") == 2 and "restored 0 of 2" in printed
    assert "is the server running" not in printed


SMOKE = ["--experiment", "smoke", "--no-progress", "--set", "model.topology=H", "--set", "data.pattern=H",
         "--set", "logging.eval_every=0", "--set", "logging.log_every=1000"]
M = tiny_model_path


CASES = [
    # restore: a bomb or a huge TIFF fails that image only, refused from its header
    Case("restore-bombs", "keras_durbm.restore", lambda e: ["--model", M(), "--task", "haze", e.path("in"),
         "-o", e.path("out"), "--no-progress"], 1, "bomb.png: image is 20000x20000 = 400,000,000 pixels, over the "
         "limit of 33,554,432", inputs_with_bombs, exists=("out/a.png",), absent=("out/bomb.png", "out/deep.tif"),
         check=lambda e, p: "deep.tif: image is 14000x14000 = 196,000,000 pixels" in p or pytest.fail(p)),
    Case("restore-existing-output", "keras_durbm.restore", lambda e: ["--model", M(), "--task", "haze",
         e.path("in", "a.png"), "-o", e.path("out"), "--no-progress"], 2, "already exist(s); pass --overwrite",
         existing_output, unchanged=("out/a.png",)),
    Case("restore-overwrite", "keras_durbm.restore", lambda e: ["--model", M(), "--task", "haze", e.path("in", "a.png"),
         "-o", e.path("out"), "--overwrite", "--no-progress"], 0, "restored 1 of 1", existing_output,
         check=output_replaced),
    Case("restore-negative-limit", "keras_durbm.restore", lambda e: ["--model", M(), "--task", "haze", "x.png", "-o",
         e.path("out"), "--max-pixels", "-1"], 2, "--max-pixels must be at least 0", absent=("out",)),
    # evaluate
    Case("evaluate-json-under-a-file", "keras_durbm.evaluate", lambda e: ["--model", M(), "--task", "haze", "--pairs",
         e.path("in"), e.path("gt"), "--json", e.path("afile", "s.json"), "--no-progress"], 2,
         "is a file, not a folder", a_file_where_a_folder_is_expected, absent=("afile/s.json",)),
    Case("evaluate-corrupt-shard", "keras_durbm.evaluate", lambda e: ["--model", M(), "--task", "haze", e.path("data"),
         "--no-progress"], 2, "haze-test-00000.tfrecord", haze_shards),
    # convert
    Case("convert-bomb", "tfrecords_tools.convert", lambda e: ["synth", e.path("photos"), e.path("shards"), "--task",
         "H", "--min-size", "16", "--workers", "1", "--no-progress", "-q"], 2,
         "bomb.png: image is 20000x20000 = 400,000,000 pixels", clean_folder_with_bomb,
         absent=("shards/manifest.json",)),
    Case("convert-bomb-skipped", "tfrecords_tools.convert", lambda e: ["synth", e.path("photos"), e.path("shards"),
         "--task", "H", "--min-size", "16", "--workers", "1", "--skip-bad", "--no-progress", "-q"], 0,
         "3 examples in 1 shard(s)", clean_folder_with_bomb, exists=("shards/manifest.json",),
         check=bomb_skipped_in_manifest),
    Case("convert-param-without-value", "tfrecords_tools.convert", lambda e: ["synth", e.path("photos"),
         e.path("shards"), "--task", "H", "--param", "beta", "--no-progress"], 2, "--param expects key=value",
         clean_folder_with_bomb, absent=("shards",)),
    # inspect: a flipped byte names the shard, with and without --verify
    Case("inspect-corrupt-shard", "tfrecords_tools.inspect_shards", lambda e: [e.path("data"), "--split", "test",
         "-n", "4"], 2, "haze-test-00000.tfrecord: record 0 cannot "
         "be decoded", haze_shards, absent=("data/inspect_grid.png",)),
    Case("inspect-verify", "tfrecords_tools.inspect_shards", lambda e: [e.path("data"), "--verify", "--no-grid"], 1,
         "SHA-256 differs from manifest.json", haze_shards),
    # train
    Case("train-negative-learning-rate", "keras_durbm.train", lambda e: SMOKE + ["--run-dir", e.path("run"), "--set",
         "optimizer.learning_rate=-1"], 2, "optimizer.learning_rate must be > 0", absent=("run",)),
    Case("train-zero-learning-rate", "keras_durbm.train", lambda e: SMOKE + ["--run-dir", e.path("run"), "--set",
         "optimizer.learning_rate=0"], 2, "optimizer.learning_rate must be > 0", absent=("run",)),
    Case("train-duplicate-yaml-key", "keras_durbm.train", lambda e: SMOKE + ["--run-dir", e.path("run"), "--config",
         e.path("twice.yaml")], 2, "'data' appears twice",
         lambda e: open(e.path("twice.yaml"), "w").write("data:\n  crop: 16\ndata:\n  crop: 32\n"), absent=("run",)),
    Case("train-corrupt-shard", "keras_durbm.train", lambda e: SMOKE + ["--run-dir", e.path("run"), "--set",
         "data.source=tfrecords", "--set", f"data.tfrecord_dir={e.path('data')}", "--set", "data.val_split=",
         "--set", "data.crop=16"], 2, "haze-train-00000.tfrecord", lambda e: haze_shards(e, "train")),
    *[Case(f"train-resumes-past-{how.replace(' ', '-')}", "keras_durbm.train", lambda e: SMOKE + [
        "--run-dir", e.path("run"), "--set", "schedule.total_steps=9", "--set", "checkpoint.every_steps=3"], 0,
        "checkpoint " + "{run}/checkpoints/ckpt-6 is damaged", damaged_newest_checkpoint(how),
        exists=("run/checkpoints/damaged/ckpt-6.index", "run/checkpoints/ckpt-9.index"), check=resumed_past_the_damage)
      for how in ("truncated data", "truncated index", "flipped byte")],
    # export
    Case("export-into-its-run-folder", "export", lambda e: ["--model", e.path("run"), "--out", e.path("run"),
         "--overwrite", "--no-progress"], 2, "would replace or mix with the training run folder", run_folder,
         unchanged=("run/model.keras", "run/config.yaml"), check=export_source_untouched),
    Case("export-inside-its-run-folder", "export", lambda e: ["--model", e.path("run"), "--out",
         e.path("run", "export"), "--no-progress"], 2, "would replace or mix with the training run folder",
         run_folder, absent=("run/export",), check=export_source_untouched),
    Case("export-removes-stale-temporaries", "export", lambda e: ["--model", M(), "--out", e.path("out"), "--formats",
         "savedmodel", "--no-parity", "--no-progress"], 0, "left by an interrupted export", stale_export_temporary,
         exists=("out/serving/models.config",), check=stale_removed),
    # serving client
    Case("client-unreachable", "serving.client", lambda e: ["--rest", f"http://127.0.0.1:{free_port()}", "--model",
         "haze", "--retries", "0", e.path("in", "a.png"), "-o", e.path("out")], 1, "cannot reach REST",
         lambda e: photo(e.path("in", "a.png")), absent=("out",)),
    Case("client-rest-timeout", "serving.client", lambda e: ["--rest", e.values["url"], "--model", "haze", "--timeout",
         "1", "--retries", "0", e.path("in"), "-o", e.path("out"), "--no-progress"], 1, "did not answer within 1 s",
         slow_server, check=timeouts_named_and_batch_goes_on),
    Case("client-bomb-file", "serving.client", lambda e: ["--rest", e.values["url"], "--model", "haze",
         e.path("in", "bomb.png"), "-o", e.path("out"), "--no-progress"], 1, "bomb.png: image is 20000x20000 = "
         "400,000,000 pixels, over the limit of 33,554,432; expected a smaller image: a server restores whole "
         "images, so restore this one in tiles", lambda e: (slow_server(e), bad_files.png_bomb(e.path("in", "bomb.png"))),
         absent=("out/bomb.png",)),
    Case("client-empty-folder", "serving.client", lambda e: ["--rest", f"http://127.0.0.1:{free_port()}", "--model",
         "haze", e.path("in"), "-o", e.path("out")], 2, "no images found", lambda e: os.makedirs(e.path("in")),
         absent=("out",)),
    # stand-in (a child process against a running one)
    Case("standin-rest-port-in-use", "serving.standin", lambda e: [os.path.join(exported_dir(), "serving"),
         "--rest-port", str(e.values["rest_port"]), "--grpc-port", str(free_port())], 2,
         "cannot bind the REST port 127.0.0.1:{rest_port}: address already in use", busy_ports),
    Case("standin-grpc-port-in-use", "serving.standin", lambda e: [os.path.join(exported_dir(), "serving"),
         "--rest-port", str(free_port()), "--grpc-port", str(e.values["grpc_port"])], 2,
         "cannot bind the gRPC port 127.0.0.1:{grpc_port}: address already in use", busy_ports),
    Case("standin-no-models", "serving.standin", lambda e: [e.path("empty")], 2, "no <model>/<version>/saved_model.pb",
         lambda e: os.makedirs(e.path("empty"))),
]


def _run(case: Case, env: Env, capsys) -> tuple[int, str]:
    argv = case.argv(env)
    if case.command == "serving.standin":
        done = run_python(["-m", "serving.standin", *argv], timeout=300)
        return done.returncode, done.stdout + done.stderr
    module = __import__(case.command if case.command != "export" else "export.__main__", fromlist=["main"])
    try:
        code = module.main(argv)
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, capsys, monkeypatch):
    reuse_loaded_tiny_model(monkeypatch)
    env = Env(str(tmp_path))
    try:
        if case.setup:
            case.setup(env)
        capsys.readouterr()
        before = {rel: open(env.path(rel), "rb").read() for rel in case.unchanged}
        code, printed = _run(case, env, capsys)
        expected = case.message.format(run=env.path("run"), **{k: v for k, v in env.values.items()
                                                               if isinstance(v, (int, str))})
        assert code == case.code, printed[-3000:]
        assert expected in printed, printed[-3000:]
        assert "Traceback" not in printed, printed[-3000:]
        assert not re.search(r"^[IWE]\d{4} \d\d:\d\d", printed, re.M), printed[-3000:]  # no C++ log lines
        for rel in case.exists:
            assert os.path.exists(env.path(rel)), f"{rel} should exist"
        for rel in case.absent:
            assert not os.path.exists(env.path(rel)), f"{rel} should not exist"
        for rel, data in before.items():
            assert open(env.path(rel), "rb").read() == data, f"{rel} changed"
        leftovers = [n for _, _, files in os.walk(env.tmp) for n in files if ".tmp-" in n]
        assert not leftovers, f"temporary files left behind: {leftovers}"
        if case.check:
            case.check(env, printed)
    finally:
        server = env.values.get("server")
        if server is not None:
            (server.stop if hasattr(server, "stop") else server.shutdown)()


def test_every_command_line_tool_has_a_bad_input_row():
    tools = {"keras_durbm.train", "keras_durbm.evaluate", "keras_durbm.restore", "tfrecords_tools.convert",
             "tfrecords_tools.inspect_shards", "export", "serving.client", "serving.standin"}
    assert tools <= {c.command for c in CASES}
