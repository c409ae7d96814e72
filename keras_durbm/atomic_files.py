"""Atomic file writes: a temporary file beside the target, renamed over it only when complete.

Every writer of the project (models, configs, manifests, images, reports) goes
through here, so a crash or a failed encode never leaves a partial file under
the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary path beside `path` with the same extension (Keras and PIL read it).

    On success the file is flushed to disk and replaces `path`; on any error it is removed.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    extension = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=f".part{extension}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_file_mode())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def ensure_writable_dir(folder: str | os.PathLike) -> None:
    """Creates `folder` (and its parents) if needed and proves it writable with a temporary file; raises OSError."""
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Writes `data` as indented, key-sorted JSON through `atomic_path`."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
