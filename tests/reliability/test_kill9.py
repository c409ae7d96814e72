"""kill -9 at a random moment of a training run, a conversion and an export, then the same command again:
training resumes within one checkpoint interval, the conversion's shards verify against its manifest, an
export is either absent or complete, and no temporary file or folder is left behind.

Each run of the suite draws one moment per command from a new seed, so successive runs cover the whole
window; the seed is printed, and `KILL9_SEED=N pytest tests/reliability/test_kill9.py` replays a failure."""

from __future__ import annotations

import os
import random
import re
import signal
import time

import numpy as np
import pytest
from PIL import Image

from tests.support.processes import run_python, start_python
from tests.support.tiny_models import tiny_model_path
from tfrecords_tools.inspection import verify
from tfrecords_tools.manifest import load_manifest

SEED = int(os.environ.get("KILL9_SEED") or random.SystemRandom().randrange(10**6))
EVERY = 5
TOTAL = 60


def kill_moment(low: float, high: float) -> float:
    """The moment of this run's kill, drawn from `SEED` (printed: pytest shows it when the test fails)."""
    moment = random.Random(SEED).uniform(low, high)
    print(f"kill -9 after {moment:.2f} s (KILL9_SEED={SEED} replays it)")
    return moment


def killed_after(args: list[str], seconds: float) -> str:
    """Starts `python ARGS`, SIGKILLs it after `seconds` (if still running); returns what it printed."""
    proc = start_python(args)
    try:
        proc.wait(timeout=seconds)
    except Exception:  # still running: the point of the test
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    out, err = proc.communicate()
    return out + err


def temporaries(folder: str) -> list[str]:
    return [os.path.join(d, n) for d, dirs, files in os.walk(folder) for n in dirs + files if ".tmp-" in n]


def train_args(run_dir: str) -> list[str]:
    return ["-m", "keras_durbm.train", "--experiment", "smoke", "--run-dir", run_dir, "--no-progress",
            "--set", "model.topology=H", "--set", "data.pattern=H", "--set", f"schedule.total_steps={TOTAL}",
            "--set", f"checkpoint.every_steps={EVERY}", "--set", "logging.log_every=1", "--set", "logging.eval_every=0"]


@pytest.mark.slow
def test_training_killed_anywhere_resumes_within_one_checkpoint_interval(tmp_path):
    run_dir = str(tmp_path / "run")
    printed = killed_after(train_args(run_dir), kill_moment(6.0, 14.0))
    logged = [int(s) for s in re.findall(r"step (\d+): loss", printed)]
    done = run_python(train_args(run_dir), timeout=600)
    text = done.stdout + done.stderr
    assert done.returncode == 0, text[-3000:]
    last = max(logged, default=0)
    if "already finished" in text:  # killed after its summary was written
        assert last == TOTAL, text[-2000:]
    else:
        resumed = re.search(r"resumed from \S+ckpt-(\d+) at step (\d+)", text)
        start = int(resumed.group(2)) if resumed else 0
        # at most one interval lost; one step more than logged when the kill fell between a checkpoint
        # and the log line of its step
        assert last - EVERY <= start <= last + 1, (last, start, printed[-1500:], text[-1500:])
        assert re.search(rf"steps {start}→{TOTAL} of {TOTAL}", done.stdout), text[-2000:]
    assert not temporaries(run_dir)


def photos(folder, n=12, side=48):
    os.makedirs(folder)
    rng = np.random.default_rng(5)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(os.path.join(folder, f"p{i}.png"))


@pytest.mark.slow
def test_conversion_killed_anywhere_reruns_to_verified_shards(tmp_path):
    photos(tmp_path / "photos")
    args = ["-m", "tfrecords_tools.convert", "synth", str(tmp_path / "photos"), str(tmp_path / "out"), "--task",
            "rain", "--variants", "3", "--min-size", "16", "--shard-mb", "0.005", "--workers", "1", "--no-progress"]
    killed_after(args, kill_moment(2.0, 7.0))
    done = run_python(args, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    group = load_manifest(tmp_path / "out").groups["rain/train"]
    assert group.complete and group.num_examples == 36 and len(group.shards) > 3
    assert verify(tmp_path / "out") == []
    assert not temporaries(str(tmp_path))


EXPORT = ["--heads", "haze", "--formats", "savedmodel,tflite", "--tflite-variants", "fp32,int8",
          "--calibration-count", "4", "--calibration-size", "16", "--parity-max-side", "32", "--latency-size", "16",
          "--latency-runs", "1", "--no-progress"]
COMPLETE = ("report.json", "model_config.yaml", "serving/models.config", "serving/haze/1/saved_model.pb",
            "tflite/haze/fp32.tflite", "tflite/haze/int8.tflite")


@pytest.mark.slow
def test_export_killed_anywhere_is_absent_or_complete_and_the_rerun_cleans_up(tmp_path):
    out = tmp_path / "export"
    args = ["-m", "export", "--model", tiny_model_path(), "--out", str(out), *EXPORT]
    killed_after(args, kill_moment(4.0, 20.0))
    if out.exists():
        assert all((out / rel).exists() for rel in COMPLETE), sorted(p.name for p in out.rglob("*"))
    stale = temporaries(str(tmp_path))
    if out.exists():
        args.append("--overwrite")
    time.sleep(0.1)
    done = run_python(args, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert all((out / rel).exists() for rel in COMPLETE)
    for path in stale:
        assert f"removed {path}, left by an interrupted export" in done.stderr
    assert not temporaries(str(tmp_path))
