"""Checkpoints and resume: SIGTERM writes one and exits 143; kill -9 loses only the steps since the last one.

One run folder, three processes of the same command:
  A is sent SIGTERM after its first checkpoint: it checkpoints the step it reached and exits 128+15;
  B resumes from that step and is killed with SIGKILL once it has written a newer checkpoint;
  C resumes from B's newest checkpoint and finishes. Each resume starts exactly at the newest
checkpoint's step with the optimizer's iteration count equal to it.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

TOTAL = 300
EVERY = 10


def command(run_dir: str) -> list[str]:
    return [sys.executable, "-m", "keras_durbm.train", "--experiment", "smoke", "--run-dir", run_dir,
            "--no-progress", "--set", "model.topology=H", "--set", "data.pattern=H",
            "--set", f"schedule.total_steps={TOTAL}", "--set", f"checkpoint.every_steps={EVERY}",
            "--set", "logging.eval_every=0", "--set", "logging.log_every=1000"]


def checkpoint_state(run_dir: str) -> tuple[int, int] | None:
    """(step, optimizer iterations) of the newest checkpoint, or None."""
    path = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    if path is None:
        return None
    reader = tf.train.load_checkpoint(path)
    return (int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")),
            int(reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")))


def start(run_dir, child_python, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen(command(run_dir), cwd=child_python.ROOT, env=child_python.python_env(),
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    return proc, log


def wait_for_checkpoint(run_dir, proc, newer_than: int, timeout: float = 240) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = checkpoint_state(run_dir)
        if state is not None and state[0] > newer_than:
            return state[0]
        assert proc.poll() is None, f"the run ended (status {proc.returncode}) before checkpointing"
        time.sleep(0.1)
    raise AssertionError("no checkpoint appeared in time")


@pytest.mark.slow
def test_sigterm_checkpoints_and_kill9_resumes(tmp_path, child_python):
    run_dir = str(tmp_path / "run")

    # A: SIGTERM after the first checkpoint → a checkpoint at the step reached, status 143.
    proc, log = start(run_dir, child_python, tmp_path / "a.log")
    wait_for_checkpoint(run_dir, proc, newer_than=0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    log.close()
    text = (tmp_path / "a.log").read_text()
    step_a, iterations_a = checkpoint_state(run_dir)
    assert f"SIGTERM: checkpoint {os.path.join(run_dir, 'checkpoints', f'ckpt-{step_a}')} written at step {step_a}" \
        in text, text[-2000:]
    assert iterations_a == step_a and 0 < step_a < TOTAL
    assert not os.path.exists(os.path.join(run_dir, "model.keras"))

    # B: resumes at A's step; SIGKILL once a newer checkpoint exists.
    proc, log = start(run_dir, child_python, tmp_path / "b.log")
    step_b = wait_for_checkpoint(run_dir, proc, newer_than=step_a)
    proc.kill()
    proc.wait(timeout=60)
    log.close()
    assert f"at step {step_a} " in (tmp_path / "b.log").read_text()
    step_b, iterations_b = checkpoint_state(run_dir)  # newest complete one after the kill
    assert step_b > step_a and iterations_b == step_b

    # C: resumes at B's newest checkpoint and finishes.
    proc, log = start(run_dir, child_python, tmp_path / "c.log")
    assert proc.wait(timeout=300) == 0, (tmp_path / "c.log").read_text()[-3000:]
    log.close()
    text = (tmp_path / "c.log").read_text()
    assert f"at step {step_b} " in text, text[-2000:]
    assert checkpoint_state(run_dir) == (TOTAL, TOTAL)
    assert os.path.exists(os.path.join(run_dir, "model.keras"))
    with open(os.path.join(run_dir, "summary.json")) as handle:
        summary = json.load(handle)
    assert (summary["start_step"], summary["final_step"]) == (step_b, TOTAL)
    assert np.isfinite(summary["last_loss"]["haze"])
