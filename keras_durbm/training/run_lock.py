"""One training per run folder: an exclusive `flock` on `RUN/train.lock`, holding the owner's process id.

Two trainings in one folder would both resume from the same checkpoint and write the same checkpoint
names, two event files and whichever `model.keras` finishes last. The second one is refused instead,
naming the first's pid. The kernel releases a `flock` when its process ends in any way (exit, a crash,
`kill -9`), so a lock is never stale; the file is removed on a clean exit and left, unlocked and
harmless, after a kill.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator

LOCK_FILENAME = "train.lock"


class RunFolderBusy(RuntimeError):
    """Another training holds the run folder's lock (the CLI exits with status 2)."""


def _owner(handle) -> str:
    handle.seek(0)
    text = handle.read(200).strip()
    return text or "unknown"


@contextlib.contextmanager
def run_folder_lock(run_dir: str) -> Iterator[str]:
    """Holds the lock of `run_dir` (created if needed) while the block runs; yields the lock file's path.

    Raises `RunFolderBusy` naming the other training's pid and host when the folder is locked.
    """
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LOCK_FILENAME)
    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held open for the lock's lifetime)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(handle)
            handle.close()
            raise RunFolderBusy(f"run folder {run_dir} is in use by another training ({owner}); wait for it to "
                                f"finish or stop it, or use another --run-dir") from None
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()  # the previous owner removed the file between our open and our lock: lock the new one
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # while still locked, so no one locks the old file after we let go
        handle.close()
