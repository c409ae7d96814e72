"""Child Python processes with the project on the path, quiet TensorFlow and no GPU (CLI and fault tests)."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def python_env(**extra) -> dict:
    """Environment of a child Python: the project on the path, CPU only; `extra` values of None remove a
    variable (e.g. TF_CPP_MIN_LOG_LEVEL=None: the child starts as a user's shell would)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["CUDA_VISIBLE_DEVICES"] = ""
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_python(args, timeout=300, **env) -> subprocess.CompletedProcess:
    """Runs `python ARGS` in the project root and waits; output captured as text."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=python_env(**env), capture_output=True,
                          text=True, timeout=timeout)


def start_python(args, **env) -> subprocess.Popen:
    """Starts `python ARGS` in the project root without waiting (for kill and signal tests)."""
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=python_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
