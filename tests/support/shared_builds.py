"""Folders built once per test run and shared by every process of it.

Under pytest-xdist (`./run.sh test` runs two workers) each worker is its own process, so a `functools.cache`
alone would train and export the shared tiny model once per worker. `built_once` keeps such folders in
`run_folder(uid)`, named by the run's id that xdist gives every worker: the first worker that needs one
builds it under a file lock, the others wait for it and reuse it. tests/conftest.py gives the run its id and
removes the folder when the run ends. Outside xdist a folder is built per process and removed at exit.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable

RUN_ID = "PYTEST_XDIST_TESTRUNUID"
DONE = "BUILT"  # written last: the folder is complete


def run_folder(uid: str) -> str:
    return os.path.join(tempfile.gettempdir(), f"durbm-tests-{uid}")


def scratch(prefix: str) -> str:
    """A new temporary folder of this process, removed when it exits."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def built_once(name: str, build: Callable[[str], None]) -> str:
    """The folder `name` after `build(folder)` has filled it, once per test run."""
    uid = os.environ.get(RUN_ID)
    if not uid:
        folder = scratch(f"durbm-{name}-")
        build(folder)
        return folder
    os.makedirs(run_folder(uid), exist_ok=True)
    folder = os.path.join(run_folder(uid), name)
    with open(folder + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when its process dies
        if not os.path.exists(os.path.join(folder, DONE)):
            shutil.rmtree(folder, ignore_errors=True)  # a half-built one of a worker that died
            os.makedirs(folder)
            build(folder)
            open(os.path.join(folder, DONE), "w").close()
    return folder
