"""`manifest.json` of a converted folder, as typed records declared once (as `schema` declares record keys).

A folder may hold several groups, one per `task/split` (for example `motion_blur/train` and `haze/test`),
each written by one `convert` command. A group records what was converted (kind, options, synthesis
parameters), its shards (counts, sizes, SHA-256, source fingerprints) and what was skipped. The file is
read into `Manifest` / `Group` / `Shard` values (a malformed file is a `ManifestError` naming the field)
and replaced atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from keras_durbm.atomic_files import write_json_atomic
from keras_durbm.config.engine import from_dict, to_dict
from keras_durbm.config.tasks import Task, all_tasks, get_task
from keras_durbm.errors import excerpt
from tfrecords_tools.errors import ManifestError
from tfrecords_tools.schema import SCHEMA_VERSION

MANIFEST = "manifest.json"
LOCK = ".convert.lock"


@dataclasses.dataclass(frozen=True)
class SkippedExample:
    """An example left out by `--skip-bad`, and why."""

    source: str = ""
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class Shard:
    """One finished TFRecord file of a group."""

    file: str = ""
    num_examples: int = 0
    num_bytes: int = 0
    sha256: str = ""
    min_hw: tuple[int, int] = (0, 0)
    max_hw: tuple[int, int] = (0, 0)
    fingerprint: str = ""  # of its sources and settings: a rerun keeps the shard while this matches
    skipped: tuple[SkippedExample, ...] = ()


@dataclasses.dataclass(frozen=True)
class ImageSize:
    min_hw: tuple[int, int] = (0, 0)
    max_hw: tuple[int, int] = (0, 0)


@dataclasses.dataclass(frozen=True)
class Group:
    """The shards of one `task/split`, written by one conversion; `complete` once every shard is in."""

    task: str = ""
    split: str = ""
    kind: str = ""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    synthesis: dict[str, Any] | None = None
    encoding: str = "png"
    identity: dict[str, Any] = dataclasses.field(default_factory=dict)
    source_dir: str | None = None
    complete: bool = False
    skipped: tuple[SkippedExample, ...] = ()
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    shards: tuple[Shard, ...] = ()
    num_examples: int = 0
    num_bytes: int = 0
    image_size: ImageSize | None = None
    updated_utc: str = ""

    @property
    def key(self) -> str:
        return group_key(self.task, self.split)


@dataclasses.dataclass(frozen=True)
class Manifest:
    schema_version: int = SCHEMA_VERSION
    groups: dict[str, Group] = dataclasses.field(default_factory=dict)

    def shard_entries(self) -> dict[str, Shard]:
        """`{file name: Shard}` over every group."""
        return {s.file: s for g in self.groups.values() for s in g.shards if s.file}


def manifest_path(out_dir: str | os.PathLike) -> str:
    return os.path.join(os.fspath(out_dir), MANIFEST)


def group_key(task: str, split: str) -> str:
    return f"{task}/{split}"


def load_manifest(out_dir: str | os.PathLike, *, missing_ok: bool = False) -> Manifest:
    """Reads `OUT/manifest.json`; raises `ManifestError` naming the file when it is missing (unless
    `missing_ok`), not JSON, malformed, or written by a newer schema."""
    path = manifest_path(out_dir)
    if not os.path.exists(path):
        if missing_ok:
            return Manifest()
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
    try:
        manifest = from_dict(Manifest, data)
    except (KeyError, TypeError, ValueError) as e:
        raise ManifestError(path, f"malformed manifest ({e.args[0] if e.args else e})",
                            "a manifest written by tfrecords_tools") from None
    for key, group in sorted(manifest.groups.items()):  # each group's records carry the schema they were written with
        group_version = group.identity.get("schema_version", SCHEMA_VERSION)
        if not isinstance(group_version, int) or isinstance(group_version, bool) or not 1 <= group_version <= SCHEMA_VERSION:
            raise ManifestError(path, f"group {key} was written with schema version {excerpt(group_version)}, "
                                "which this version cannot read", f"schema version <= {SCHEMA_VERSION}; upgrade "
                                "tfrecords_tools, or reconvert that task/split")
    return manifest


def selection_text(task: Task | str | None, split: str | None) -> str:
    """`task haze, split test` / `any task, split test` / `any task and split`: what a command asked for."""
    name = task.name if isinstance(task, Task) else task
    if name is None and split is None:
        return "any task and split"
    return f"{f'task {name}' if name else 'any task'}, {f'split {split}' if split else 'any split'}"


def save_manifest(out_dir: str | os.PathLike, manifest: Manifest) -> None:
    """Writes the manifest to a temporary file in `out_dir`, then renames it over `manifest.json`."""
    write_json_atomic(manifest_path(out_dir), to_dict(manifest))


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


def matching_groups(manifest: Manifest, task: Task | None = None, split: str | None = None) -> list[Group]:
    """The groups of `task` and/or `split` (None: any), in key order."""
    return [g for _, g in sorted(manifest.groups.items())
            if (task is None or g.task == task.name) and (split is None or g.split == split)]


def shard_files(out_dir: str | os.PathLike, task: Task | str | None = None, split: str | None = None, *,
                allow_incomplete: bool = False) -> list[str]:
    """Paths of the shards of `OUT` for a task and/or split, in manifest order.

    Raises `ManifestError` when nothing matches (the message lists what the folder holds) or when a
    matching group is incomplete (an interrupted conversion), unless `allow_incomplete`."""
    out_dir = os.fspath(out_dir)
    manifest = load_manifest(out_dir)
    if isinstance(task, str):
        task = get_task(task)
    groups = matching_groups(manifest, task, split)
    if not groups:
        have = ", ".join(sorted(manifest.groups)) or "nothing"
        raise ManifestError(manifest_path(out_dir), f"no shards for {selection_text(task, split)}; the folder "
                            f"holds {have}", "a converted task/split")
    files: list[str] = []
    for group in groups:
        if not group.complete and not allow_incomplete:
            raise ManifestError(manifest_path(out_dir), f"group {group.key} is incomplete (its conversion was "
                                "interrupted or failed)", "a finished conversion: rerun the same convert "
                                "command, it resumes")
        files.extend(os.path.join(out_dir, s.file) for s in group.shards)
    if not files:
        raise ManifestError(manifest_path(out_dir), f"the groups of {selection_text(task, split)} "
                            f"({', '.join(g.key for g in groups)}) list no shard files", "a converted task/split "
                            "with records: rerun its convert command")
    return files


def files_by_task(out_dir: str | os.PathLike, split: str = "train",
                  tasks: Sequence[Task] | None = None) -> dict[str, list[str]]:
    """`{task name: shard paths}` for `split`, in the order of `tasks` or, by default, of the task
    registry (tasks the folder holds): the mapping `pipeline.multitask_dataset` takes."""
    manifest = load_manifest(out_dir)
    if tasks is None:
        present = {g.task for g in manifest.groups.values() if g.split == split}
        tasks = [t for t in all_tasks() if t.name in present]
    return {t.name: shard_files(out_dir, t, split) for t in tasks}
