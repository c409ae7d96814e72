"""`manifest.json` of a converted folder: what was converted (task, split, kind, options, synthesis
parameters), its shards (counts, sizes, SHA-256, source fingerprints) and what was skipped.

One folder may hold several groups, one per `task/split` (for example `motion_blur/train` and
`haze/test`), each written by one `convert` command. The manifest is replaced atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from keras_durbm.atomic_files import write_json_atomic
from tfrecords_tools.errors import ManifestError
from tfrecords_tools.schema import SCHEMA_VERSION

MANIFEST = "manifest.json"
LOCK = ".convert.lock"


def manifest_path(out_dir: str | os.PathLike) -> str:
    return os.path.join(os.fspath(out_dir), MANIFEST)


def group_key(task: str, split: str) -> str:
    return f"{task}/{split}"


def empty_manifest() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "groups": {}}


def load_manifest(out_dir: str | os.PathLike, *, missing_ok: bool = False) -> dict[str, Any]:
    """Reads `OUT/manifest.json`; raises `ManifestError` naming the file when it is missing (unless
    `missing_ok`), not JSON, or written by a newer schema."""
    path = manifest_path(out_dir)
    if not os.path.exists(path):
        if missing_ok:
            return empty_manifest()
        raise ManifestError(path, "no manifest.json", "a folder written by `python -m tfrecords_tools.convert`")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ManifestError(path, f"unreadable manifest ({e})", "a JSON file") from e
    if not isinstance(data, dict) or "groups" not in data:
        raise ManifestError(path, "not a tfrecords_tools manifest (no 'groups')", "a JSON object with 'groups'")
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ManifestError(path, f"schema version {version!r} is not supported",
                            f"schema version <= {SCHEMA_VERSION}; upgrade tfrecords_tools")
    return data


def save_manifest(out_dir: str | os.PathLike, manifest: dict[str, Any]) -> None:
    """Writes the manifest to a temporary file in `out_dir`, then renames it over `manifest.json`."""
    write_json_atomic(manifest_path(out_dir), manifest)


@contextlib.contextmanager
def conversion_lock(out_dir: str | os.PathLike) -> Iterator[None]:
    """Holds an exclusive lock on `OUT/.convert.lock` so two conversions never write one folder at once.
    The lock is released by the OS if the process dies."""
    import fcntl

    path = os.path.join(os.fspath(out_dir), LOCK)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise ManifestError(os.fspath(out_dir), "another conversion is writing this folder",
                                "one convert command per output folder at a time") from e
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _resolve_task(task: str | None) -> str | None:
    if task is None:
        return None
    from keras_durbm.tasks import get_task

    return get_task(task).name


def shard_files(out_dir: str | os.PathLike, task: str | None = None, split: str | None = None, *,
                allow_incomplete: bool = False) -> list[str]:
    """Paths of the shards of `OUT` for a task (name or letter) and/or split, in manifest order.

    Raises `ManifestError` when nothing matches (the message lists what the folder holds) or when a
    matching group is incomplete (an interrupted conversion), unless `allow_incomplete`."""
    out_dir = os.fspath(out_dir)
    manifest = load_manifest(out_dir)
    name = _resolve_task(task)
    files: list[str] = []
    matched = []
    for key, group in sorted(manifest["groups"].items()):
        if (name is None or group["task"] == name) and (split is None or group["split"] == split):
            matched.append(key)
            if not group.get("complete", False) and not allow_incomplete:
                raise ManifestError(manifest_path(out_dir), f"group {key} is incomplete (its conversion was "
                                    "interrupted or failed)", "a finished conversion: rerun the same convert "
                                    "command, it resumes")
            files.extend(os.path.join(out_dir, s["file"]) for s in group["shards"])
    if not matched:
        have = ", ".join(sorted(manifest["groups"])) or "nothing"
        raise ManifestError(manifest_path(out_dir), f"no shards for task={name!r} split={split!r}; the folder "
                            f"holds {have}", "a converted task/split")
    return files


def files_by_task(out_dir: str | os.PathLike, split: str = "train",
                  tasks: Sequence[str] | None = None) -> dict[str, list[str]]:
    """`{task name: shard paths}` for `split`, in the order of `tasks` (names or letters) or, by default,
    of the task registry: the mapping `pipeline.multitask_dataset` takes."""
    from keras_durbm.tasks import task_names

    manifest = load_manifest(out_dir)
    present = {g["task"] for g in manifest["groups"].values() if g["split"] == split}
    order = [_resolve_task(t) for t in tasks] if tasks is not None else [t for t in task_names() if t in present]
    return {t: shard_files(out_dir, t, split) for t in order}
