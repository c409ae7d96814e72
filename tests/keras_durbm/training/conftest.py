"""Shared fixtures of the training tests: the helper script and one single-device reference run."""

import importlib.util
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def _load_dist_run():
    spec = importlib.util.spec_from_file_location("training_dist_run", os.path.join(HERE, "dist_run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def dist_run():
    return _load_dist_run()


@pytest.fixture(scope="session")
def reference_run(dist_run):
    """The fixed tiny experiment on the default (one-device) strategy, with weights after every step."""
    return dist_run.run("default", snapshots=True)


class ChildPython:
    """Runs Python children with the project on the path, quiet TF and no GPU."""

    root = ROOT
    here = HERE

    @staticmethod
    def env(**extra) -> dict:
        return python_env(**extra)

    @staticmethod
    def run(args, timeout=300, **env) -> subprocess.CompletedProcess:
        return run_python(args, timeout, **env)


@pytest.fixture(scope="session")
def child_python():
    return ChildPython


def python_env(**extra) -> dict:
    """Environment of a child Python: the project on the path, quiet TF, CPU only."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["CUDA_VISIBLE_DEVICES"] = ""
    env.update(extra)
    return env


def run_python(args, timeout=300, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=python_env(**env), capture_output=True,
                          text=True, timeout=timeout)
