"""Atomic writes: a temporary file or folder beside the target, renamed over it only when complete.

Every writer of the project (models, configs, manifests, shards, images, reports, exports) goes
through here, so a crash, a failed encode or `kill -9` never leaves a partial result under the final
name. Temporaries are named `.<target name>.tmp-<host>-<pid>-<random>[<ext>]`: the next run removes
those whose owning process is gone (`remove_stale_temporaries`), and never another live process's.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from typing import Any

_TMP = ".tmp-"


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:32] or "host"


def temporary_name(path: str | os.PathLike, extension: str = "") -> str:
    """A fresh temporary path beside `path` that names its owner (host and process id)."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{_TMP}{_host()}-{os.getpid()}-{secrets.token_hex(4)}{extension}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(target: str | os.PathLike) -> list[str]:
    """Removes the temporaries of `target` left by processes of this host that no longer run; returns them.

    A temporary of a live process (a conversion or export still running) is left alone, as is one
    written by another host (its process cannot be checked from here).
    """
    target = os.path.abspath(os.fspath(target))
    folder, name = os.path.split(target)
    prefix = f".{name}{_TMP}{_host()}-"
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        if not entry.startswith(prefix):
            continue
        pid_text = entry[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        path = os.path.join(folder, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        removed.append(path)
    return sorted(removed)


def _fsync(path: str) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary path beside `path` with the same extension (Keras and PIL read it).

    On success the file is flushed to disk and replaces `path`; on any error it is removed.
    """
    path = os.fspath(path)
    tmp = temporary_name(path, os.path.splitext(path)[1])
    try:
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[str]:
    """Yields a temporary folder beside `path`; on success it becomes `path`, on error it is removed.

    An existing `path` is an error unless `overwrite`; it is then replaced only after the new folder is
    complete (moved aside, the new one renamed in, the old one deleted), so readers see the old or the
    new folder, never a mixture.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists")
    tmp = temporary_name(path)
    os.mkdir(tmp)
    try:
        yield tmp
        if not os.path.exists(path):
            os.replace(tmp, path)
            return
        old = temporary_name(path)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure_writable_dir(folder: str | os.PathLike) -> None:
    """Creates `folder` (and its parents) if needed and proves it writable with a temporary file; raises OSError."""
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Writes `text` (UTF-8) through `atomic_path`."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Writes `data` as indented, key-sorted JSON through `atomic_path`."""
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def copy_file_atomic(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Copies `source` byte for byte to `path` through `atomic_path`."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)
