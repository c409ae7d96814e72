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
from keras_durbm.config.tasks import HAZE
from tests.support import bad_files
from tests.support.exports import exported_dir, trained_tiny_path
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
    patch: Callable[[Env, pytest.MonkeyPatch], None] | None = None  # a fault injected for the run (a full disk)


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


def alias_bomb(levels: int) -> str:
    """A YAML value of `levels` nested lists of nine aliases each ("billion laughs"): 9**levels strings."""
    value = "&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"
    for level in range(1, levels):
        value = f"&a{level} [{value}, " + ", ".join([f"*a{level - 1}"] * 8) + "]"
    return value


def alias_bomb_file(env: Env) -> None:
    with open(env.path("bomb.yaml"), "w") as handle:
        handle.write(f"optimizer:\n  learning_rate: {alias_bomb(5)}\n")


def emptied_split(env: Env) -> None:
    """A converted haze/test split whose manifest group lists no shards (its files were removed)."""
    haze_shards(env, flip=False)
    path = env.path("data", "manifest.json")
    manifest = json.loads(open(path).read())
    manifest["groups"]["haze/test"].update(shards=[], num_examples=0)
    open(path, "w").write(json.dumps(manifest))


def group_schema(version: int) -> Callable[[Env], None]:
    def setup(env: Env) -> None:
        haze_shards(env, flip=False)
        path = env.path("data", "manifest.json")
        manifest = json.loads(open(path).read())
        manifest["groups"]["haze/test"]["identity"]["schema_version"] = version
        open(path, "w").write(json.dumps(manifest))
    return setup


def three_inputs(env: Env) -> None:
    for seed, name in enumerate("abc"):
        photo(env.path("in", f"{name}.png"), seed=seed)


def odd_folder_entries(env: Env) -> None:
    """A folder with two images and four entries that are not: a GIF, a text file, a FIFO, a link loop."""
    photo(env.path("in", "a.png"))
    photo(env.path("in", "b.jpg"), seed=1)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(env.path("in", "anim.gif"))
    open(env.path("in", "notes.txt"), "w").write("not an image")
    os.mkfifo(env.path("in", "pipe.png"))
    os.symlink("loop.png", env.path("in", "loop.png"))
    open(env.path("in", ".hidden.png"), "w").write("ignored silently")


def float_tiff_and_apng(env: Env) -> None:
    import tifffile

    photo(env.path("in", "a.png"))
    tifffile.imwrite(env.path("in", "float.tif"), np.zeros((8, 8, 3), np.float32), photometric="rgb")
    frames = [Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)) for i in range(3)]
    frames[0].save(env.path("in", "anim.png"), save_all=True, append_images=frames[1:])


def disk_full_for(suffix: str) -> Callable[[Env, pytest.MonkeyPatch], None]:
    """Every atomic write of a `suffix` file fails as a full disk does (at the flush, after the data)."""
    import errno

    import keras_durbm.atomic_files as atomic_files

    real = atomic_files._fsync

    def fsync(path: str) -> None:
        if path.endswith(suffix):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path)

    return lambda env, monkeypatch: monkeypatch.setattr(atomic_files, "_fsync", fsync)


def ctrl_c_at_image(number: int) -> Callable[[Env, pytest.MonkeyPatch], None]:
    """Ctrl-C (a KeyboardInterrupt) while restoring the `number`-th image of a batch."""
    import keras_durbm.restore as restore_cli

    def patch(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
        real, calls = restore_cli.restore_file, []

        def restore_file(*args, **kwargs):
            calls.append(1)
            if len(calls) == number:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(restore_cli, "restore_file", restore_file)
    return patch


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


def skips_named(env: Env, printed: str) -> None:
    assert "skipped 4 entries of" in printed, printed
    for text in ("anim.gif: not an accepted image format (.gif)", "notes.txt: not an accepted image format (.txt)",
                 "pipe.png: not a regular file", "loop.png: a symbolic link loop"):
        assert text in printed, text
    assert ".hidden.png" not in printed


def one_error_line(env: Env, printed: str) -> None:
    assert len([line for line in printed.splitlines() if line.startswith("error:")]) == 1, printed


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
    Case("restore-overlap-over-half-the-tile", "keras_durbm.restore", lambda e: ["--model", M(), "--task", "haze",
         e.path("in", "a.png"), "-o", e.path("out"), "--tile", "16", "--overlap", "100", "--no-progress"], 2,
         "--overlap 100 is more than half of --tile 16; expected 0 to 8", lambda e: photo(e.path("in", "a.png")),
         absent=("out",)),
    # restore: Ctrl-C ends with the summary and one error line; --skip-existing continues the batch
    Case("restore-ctrl-c", "keras_durbm.restore", lambda e: ["--model", M(), "--task", "haze", e.path("in"), "-o",
         e.path("out"), "--no-progress"], 130, "rerun the same command with --skip-existing", three_inputs,
         exists=("out/a.png",), absent=("out/b.png", "out/c.png"), patch=ctrl_c_at_image(2),
         check=lambda e, p: one_error_line(e, p) or "restored 1 of 3 image(s)" in p or pytest.fail(p)),
    Case("restore-skip-existing", "keras_durbm.restore", lambda e: ["--model", M(), "--task", "haze", e.path("in"),
         "-o", e.path("out"), "--skip-existing", "--no-progress"], 0, "1 of 2 image(s) already in",
         lambda e: (existing_output(e), photo(e.path("in", "b.png"), seed=1)), exists=("out/b.png",),
         unchanged=("out/a.png",), check=lambda e, p: "restored 1 of 1 image(s)" in p or pytest.fail(p)),
    Case("restore-report-disk-full", "keras_durbm.restore", lambda e: ["--model", trained_tiny_path(), "--task", "auto",
         e.path("in"), "-o", e.path("out"), "--report", e.path("report.json"), "--no-progress"], 1,
         "error: cannot write the report {tmp}/report.json: No space left on device", three_inputs,
         exists=("out/a.png", "out/c.png"), absent=("report.json",), patch=disk_full_for(".json"),
         check=lambda e, p: one_error_line(e, p) or "of 3 image(s) into" in p or pytest.fail(p)),
    # restore: what a folder holds that is not an image is named; one rule for files named directly
    Case("restore-skipped-entries-named", "keras_durbm.restore", lambda e: ["--model", M(), "--task", "haze",
         e.path("in"), "-o", e.path("out"), "--no-progress"], 0, "restored 2 of 2 image(s)", odd_folder_entries,
         exists=("out/a.png", "out/b.jpg"), absent=("out/anim.png", "out/anim.gif"), check=skips_named),
    Case("restore-gif-named-directly", "keras_durbm.restore", lambda e: ["--model", M(), "--task", "haze",
         e.path("in", "anim.gif"), "-o", e.path("out"), "--no-progress"], 2,
         "anim.gif: not an accepted image format (.gif); expected a PNG, JPEG, BMP, TIFF or WebP image",
         odd_folder_entries, absent=("out",)),
    Case("restore-float-tiff-and-apng", "keras_durbm.restore", lambda e: ["--model", M(), "--task", "haze",
         e.path("in"), "-o", e.path("out"), "--no-progress"], 1, "float.tif: TIFF with 32-bit floating-point samples "
         "(3 per pixel) is not supported", float_tiff_and_apng, exists=("out/a.png",),
         absent=("out/float.tif", "out/anim.png"),
         check=lambda e, p: "anim.png: animated PNG (3 frames): only still images" in p or pytest.fail(p)),
    # evaluate
    Case("evaluate-json-disk-full", "keras_durbm.evaluate", lambda e: ["--model", M(), "--task", "haze", "--pairs",
         e.path("in"), e.path("gt"), "--json", e.path("s.json"), "--no-progress"], 1,
         "error: cannot write the scores to {tmp}/s.json: No space left on device", a_file_where_a_folder_is_expected,
         absent=("s.json",), patch=disk_full_for(".json"),
         check=lambda e, p: one_error_line(e, p) or "restored" in p or pytest.fail(p)),
    Case("evaluate-emptied-split", "keras_durbm.evaluate", lambda e: ["--model", M(), "--task", "haze",
         e.path("data"), "--no-progress"], 2, "the groups of task haze, split test (haze/test) list no shard files",
         emptied_split),
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
    Case("inspect-no-examples", "tfrecords_tools.inspect_shards", lambda e: [e.path("data")], 2,
         "{tmp}/data holds no examples of any task and split", emptied_split, absent=("data/inspect_grid.png",)),
    Case("inspect-verify-newer-group-schema", "tfrecords_tools.inspect_shards", lambda e: [e.path("data"), "--verify",
         "--no-grid"], 2, "group haze/test was written with schema version 99, which this version cannot read",
         group_schema(99)),
    # train: configs that would hang, or numbers that are no numbers
    Case("train-yaml-alias-bomb", "keras_durbm.train", lambda e: SMOKE + ["--run-dir", e.path("run"), "--config",
         e.path("bomb.yaml")], 2, "YAML anchors and aliases (&name, *name) are not accepted in configs",
         alias_bomb_file, absent=("run",)),
    Case("train-set-alias-bomb", "keras_durbm.train", lambda e: SMOKE + ["--run-dir", e.path("run"), "--set",
         f"optimizer.learning_rate={alias_bomb(5)}"], 2, "YAML anchors and aliases", absent=("run",)),
    Case("train-long-value-quoted-short", "keras_durbm.train", lambda e: SMOKE + ["--run-dir", e.path("run"), "--set",
         "optimizer.learning_rate=[" + "1, " * 5_000 + "1]"], 2, "optimizer.learning_rate: expected a number, "
         "got [1, 1, 1, 1, 1, 1, ...]", absent=("run",), check=lambda e, p: len(p) < 400 or pytest.fail(p)),
    *[Case(f"train-{name}", "keras_durbm.train", lambda e, a=assignment: SMOKE + ["--run-dir", e.path("run"),
        "--set", a], 2, message, absent=("run",)) for name, assignment, message in (
        ("infinite-learning-rate", "optimizer.learning_rate=inf",
         "optimizer.learning_rate: expected a finite number, got 'inf'"),
        ("overflowing-learning-rate", "optimizer.learning_rate=1e400",
         "optimizer.learning_rate: expected a finite number, got '1e400'"),
        ("epsilon-zero-in-float32", "optimizer.epsilon=1e-50",
         "optimizer.epsilon is 1e-50, which is 0 (or denormal) in float32"),
        ("nan-task-weight", "loss.task_weights={H: .nan}", "loss.task_weights.H: expected a finite number, got nan"))],
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
         "savedmodel", "--heads", "haze", "--no-parity", "--no-progress"], 0, "left by an interrupted export", stale_export_temporary,
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
    except KeyboardInterrupt:  # a simulated Ctrl-C that the command did not handle (it would stop pytest)
        code = "KeyboardInterrupt escaped main()"
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
        if case.patch:
            case.patch(env, monkeypatch)
        code, printed = _run(case, env, capsys)
        expected = case.message.format(run=env.path("run"), tmp=env.tmp, **{k: v for k, v in env.values.items()
                                                               if isinstance(v, (int, str))})
        assert code == case.code, printed[-3000:]
        assert expected in printed, printed[-3000:]
        assert "Traceback" not in printed, printed[-3000:]
        assert len(printed) < 50_000, f"{len(printed):,} characters printed: {printed[:3000]}"  # bounded excerpts
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
