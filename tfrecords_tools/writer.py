"""Sharded, atomic, resumable TFRecord writer: turns a list of `ExampleSpec` into shards + manifest.

* Every source is probed first (image headers only): wrong modes, size mismatches, images smaller than
  `min_size`, images over the pixel limit and missing files are reported before anything is written.
* Examples go to shards of about `shard_mb` MB (estimated from the image sizes), in source order.
* Each shard is written to a temporary name beside it and renamed when complete (`atomic_files`); its
  SHA-256, size, count and a fingerprint of its sources (names, sizes, mtimes, conversion settings) go to
  `manifest.json`, which is rewritten atomically after every shard. Temporaries left by a killed
  conversion are removed by the next one (and reported).
* A rerun resumes: a shard whose fingerprint matches and whose file still has its recorded SHA-256 is
  kept; a shard whose sources changed is rebuilt (and reported).
* Decoding, synthesis and PNG encoding run in a thread pool (PIL, zlib and NumPy release the GIL);
  results are placed by index, so the output does not depend on the number of workers. Records are
  serialised deterministically, so the same sources give byte-identical shards.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import glob
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from keras_durbm.atomic_files import atomic_path, remove_stale_temporaries
from keras_durbm.config.engine import option
from keras_durbm.config.tasks import Task
from keras_durbm.errors import BadImageError, DataError
from keras_durbm.images.io import DEFAULT_MAX_PIXELS
from keras_durbm.images.pairs import Pair, check_same_size
from tfrecords_tools import schema
from tfrecords_tools.errors import LayoutError, ManifestError
from tfrecords_tools.manifest import (
    Group,
    ImageSize,
    Shard,
    SkippedExample,
    conversion_lock,
    group_key,
    load_manifest,
    manifest_path,
    save_manifest,
)

log = logging.getLogger("tfrecords_tools")

DEFAULT_SHARD_MB = 150.0
#: Assumed PNG size relative to raw pixels, for shard planning only (natural photographs: 0.4-0.6).
PNG_RATIO = 0.5
#: The paper's training crop (docs/design.md §1.7): training images smaller than this are bad input by default.
TRAIN_CROP = 256


@dataclasses.dataclass(frozen=True)
class WriteConfig:
    """How a conversion writes its shards (every converter and `python -m tfrecords_tools.convert` take these)."""

    min_size: int | None = option(None, "smallest allowed output height/width (default: 256, the training crop, "
                                  "for split train; 1 otherwise)")
    encoding: str = option(schema.PNG, "record image encoding: png, or raw uint8 (2x the disk, decodes ~2x faster)",
                           flag="--format", choices=schema.ENCODINGS)
    png_level: int = option(1, "PNG zlib level 0-9 (1: fast; 6 is ~10%% smaller and ~4x slower)", metavar="0-9")
    shard_mb: float = option(DEFAULT_SHARD_MB, "target shard size in MB")
    min_shards: int = option(1, "at least this many shards (one per input pipeline for multi-worker training)")
    workers: int | None = option(None, "worker threads (default: all cores)")
    skip_bad: bool = option(False, "skip bad images and list them in the manifest instead of failing")
    overwrite: bool = option(False, "replace this task/split if OUT holds it converted with other settings")
    coerce_rgb: bool = option(False, "convert grayscale/palette/opaque-RGBA/16-bit images to 8-bit RGB "
                              "instead of failing")
    max_pixels: int = option(DEFAULT_MAX_PIXELS, "refuse source images with more pixels (decompression bombs)")
    progress: bool = option(True, "hide progress bars", flag="--no-progress")

    def __post_init__(self):
        if self.encoding not in schema.ENCODINGS:
            raise ValueError(f"encoding must be one of {schema.ENCODINGS}, got {self.encoding!r}")
        if not 0 <= self.png_level <= 9:
            raise ValueError(f"png_level must be in 0..9, got {self.png_level}")
        if self.shard_mb <= 0 or self.min_shards < 1 or (self.workers is not None and self.workers < 1):
            raise ValueError("shard_mb must be > 0, min_shards and workers >= 1")
        if self.min_size is not None and self.min_size < 1:
            raise ValueError(f"min_size must be >= 1, got {self.min_size}")

    def min_size_for(self, split: str) -> int:
        """`min_size`, or by default the training crop for split "train" and 1 for other splits."""
        if self.min_size is not None:
            return self.min_size
        return TRAIN_CROP if split == "train" else 1


@dataclasses.dataclass(frozen=True)
class ExampleSpec:
    """One example to convert, described lazily.

    Args:
        source: identifier stored in the record (a path relative to the dataset root, maybe with a
            `#suffix` such as `#q=10`); unique within a conversion.
        files: source files read by `load` (fingerprinted for change detection, named in errors).
        probe: header-only check returning the output (H, W); raises `DataError` on bad input.
        load: decodes and builds the `Pair`; raises `DataError` on bad input.
        content_id: fingerprint of in-memory sources (e.g. a hash of an array); "" for files.
    """

    source: str
    files: tuple[str, ...]
    probe: Callable[[], tuple[int, int]]
    load: Callable[[], Pair]
    content_id: str = ""


@dataclasses.dataclass(frozen=True)
class _Bad:
    source: str
    error: DataError

    @property
    def reason(self) -> str:
        return str(self.error)


def sha256_file(path: str, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _file_stamp(path: str) -> list[Any]:
    try:
        st = os.stat(path)
        return [os.path.basename(path), st.st_size, st.st_mtime_ns]
    except OSError:
        return [os.path.basename(path), None, None]


def shard_fingerprint(examples: Sequence[ExampleSpec], identity: dict[str, Any]) -> str:
    """SHA-256 over the conversion settings and, per example, its source id and the name, size and
    modification time of each file it reads (no pixel hashing: touching a file counts as a change)."""
    payload = {"identity": identity,
               "examples": [[ex.source, ex.content_id, [_file_stamp(f) for f in ex.files]] for ex in examples]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def plan_shards(sizes: Sequence[tuple[int, int]], *, encoding: str, shard_mb: float,
                min_shards: int = 1) -> list[list[int]]:
    """Groups example indices (in order) into shards of about `shard_mb` MB, at least `min_shards` of
    them when there are that many examples."""
    if shard_mb <= 0:
        raise ValueError(f"shard_mb must be > 0, got {shard_mb}")
    target = shard_mb * 1e6
    ratio = PNG_RATIO if encoding == schema.PNG else 1.0
    plan: list[list[int]] = [[]]
    acc = 0.0
    for i, (h, w) in enumerate(sizes):
        est = h * w * 3 * 2 * ratio
        if plan[-1] and acc + est > target:
            plan.append([])
            acc = 0.0
        plan[-1].append(i)
        acc += est
    plan = [p for p in plan if p]
    want = min(max(1, min_shards), len(sizes))
    if len(plan) < want:
        plan = [list(map(int, a)) for a in np.array_split(np.arange(len(sizes)), want)]
    return plan


def _versions() -> dict[str, str]:
    import PIL

    out = {"numpy": np.__version__, "pillow": PIL.__version__}
    try:
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def _probe_one(ex: ExampleSpec, min_size: int) -> tuple[int, int] | _Bad:
    try:
        h, w = ex.probe()
        _check_min_size(ex, h, w, min_size)
        return h, w
    except DataError as e:
        return _Bad(ex.source, e)


def _check_min_size(ex: ExampleSpec, h: int, w: int, min_size: int) -> None:
    if min_size and (h < min_size or w < min_size):
        raise BadImageError(ex.files[0] if ex.files else ex.source,
                            f"image is {w}x{h} (WxH), smaller than the training crop",
                            f"at least {min_size}x{min_size} (lower --min-size for test splits)")


def _build_one(ex: ExampleSpec, task: str, encoding: str, png_level: int, min_size: int,
               skip_bad: bool) -> tuple[bytes, tuple[int, int]] | _Bad:
    try:
        pair = ex.load()
        src_in = ex.files[0] if ex.files else ex.source
        src_tgt = ex.files[-1] if ex.files else ex.source
        check_same_size(src_in, pair.input.shape[:2], src_tgt, pair.target.shape[:2])
        h, w = pair.input.shape[:2]
        _check_min_size(ex, h, w, min_size)
        rec = schema.make_example(pair.input, pair.target, task=task, source=ex.source, encoding=encoding,
                                  meta=pair.meta, png_level=png_level)
        return rec, (int(h), int(w))
    except DataError as e:
        if skip_bad:
            return _Bad(ex.source, e)
        raise


def _bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable=not enabled, dynamic_ncols=True)


def _shard_ok(out_dir: str, entry: Shard) -> bool:
    path = os.path.join(out_dir, entry.file)
    return os.path.isfile(path) and os.path.getsize(path) == entry.num_bytes and sha256_file(path) == entry.sha256


class _EmptyShard(Exception):
    """Every example of a shard was skipped: nothing to publish."""


def _write_shard(path: str, examples: Sequence[ExampleSpec], pool: cf.Executor | None, bar, *, task: str,
                 write: WriteConfig, min_size: int) -> tuple[Shard | None, list[SkippedExample]]:
    """Writes one shard atomically; returns its entry (None when every example was skipped) and the skips."""
    import tensorflow as tf

    skipped: list[SkippedExample] = []
    hws: list[tuple[int, int]] = []
    args = (task, write.encoding, write.png_level, min_size, write.skip_bad)
    if pool is None:
        results = (_build_one(ex, *args) for ex in examples)
    else:
        results = pool.map(lambda ex: _build_one(ex, *args), examples)
    try:
        with atomic_path(path) as tmp:
            with tf.io.TFRecordWriter(tmp) as w:
                for res in results:
                    bar.update(1)
                    if isinstance(res, _Bad):
                        skipped.append(SkippedExample(res.source, res.reason))
                        log.warning("skipped %s", res.reason)
                        continue
                    w.write(res[0])
                    hws.append(res[1])
            if not hws:
                raise _EmptyShard
            digest, size = sha256_file(tmp), os.path.getsize(tmp)
    except _EmptyShard:
        return None, skipped
    hw = np.array(hws)
    shard = Shard(file=os.path.basename(path), num_examples=len(hws), num_bytes=size, sha256=digest,
                  min_hw=tuple(hw.min(axis=0).tolist()), max_hw=tuple(hw.max(axis=0).tolist()),
                  skipped=tuple(skipped))
    return shard, skipped


def write_dataset(out_dir: str | os.PathLike, examples: Sequence[ExampleSpec], *, task: Task, split: str,
                  kind: str, options: dict[str, Any], synthesis: dict[str, Any] | None = None,
                  source_dir: str | None = None, write: WriteConfig = WriteConfig()) -> Group:
    """Converts `examples` into shards `OUT/<task>-<split>-NNNNN.tfrecord` and records them in
    `OUT/manifest.json` under `<task>/<split>`; returns that manifest group.

    Raises `DataError` subclasses naming the file on bad input (nothing half-written stays behind), or
    `ManifestError` when the folder already holds this task/split converted with other settings and
    `write.overwrite` is false.
    """
    out_dir = os.fspath(out_dir)
    if not split or "/" in split or split != split.strip():
        raise ValueError(f"split must be a plain name like 'train' or 'test', got {split!r}")
    if not examples:
        raise LayoutError(source_dir or out_dir, "no examples found", "at least one input/target pair")
    counts = collections.Counter(ex.source for ex in examples)
    dupes = [s for s, n in counts.items() if n > 1]
    if dupes:
        raise LayoutError(source_dir or out_dir, f"duplicate example ids {sorted(dupes)[:5]}", "unique sources")
    min_size = write.min_size_for(split)
    options = {**options, "coerce_rgb": write.coerce_rgb}
    identity = {"schema_version": schema.SCHEMA_VERSION, "kind": kind, "task": task.name, "split": split,
                "options": options, "synthesis": synthesis, "encoding": write.encoding,
                "png_level": write.png_level, "min_size": min_size}
    identity = json.loads(json.dumps(identity, sort_keys=True))
    key = group_key(task.name, split)
    workers = (os.cpu_count() or 1) if write.workers is None else write.workers
    _previous_group(out_dir, key, identity, write.overwrite)  # fail early on a settings conflict
    pool = cf.ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        good, sizes, skipped = _probe_all(examples, pool, key=key, min_size=min_size, skip_bad=write.skip_bad,
                                          progress=write.progress, where=source_dir or out_dir)
        os.makedirs(out_dir, exist_ok=True)
        with conversion_lock(out_dir):
            old = _previous_group(out_dir, key, identity, write.overwrite)
            draft = Group(task=task.name, split=split, kind=kind, options=options, synthesis=synthesis,
                          encoding=write.encoding, identity=identity,
                          source_dir=os.path.abspath(source_dir) if source_dir else None,
                          skipped=tuple(skipped), versions=_versions())
            return _write_group(out_dir, draft, old, good, sizes, pool, write=write, min_size=min_size,
                                where=source_dir or out_dir)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _previous_group(out_dir: str, key: str, identity: dict[str, Any], overwrite: bool) -> Group | None:
    """The manifest group written before with the same settings (None if absent or overwritten); a
    `ManifestError` when the settings differ and `overwrite` is false."""
    old = load_manifest(out_dir, missing_ok=True).groups.get(key)
    if old is None or old.identity == identity:
        return old
    if not overwrite:
        diff = sorted(k for k in identity if identity[k] != old.identity.get(k))
        raise ManifestError(manifest_path(out_dir), f"{key} was converted with different settings "
                            f"(differs in: {', '.join(diff) or 'format'})",
                            "the same settings to resume, --overwrite to replace it, or another OUT")
    return None


def _probe_all(examples: Sequence[ExampleSpec], pool: cf.Executor | None, *, key: str, min_size: int,
               skip_bad: bool, progress: bool, where: str):
    """Header checks of every example before anything is written: (good examples, their sizes, skipped)."""
    with _bar(len(examples), f"check {key}", progress) as bar:
        def probe(ex: ExampleSpec) -> tuple[int, int] | _Bad:
            r = _probe_one(ex, min_size)
            bar.update(1)
            return r
        probed = list(pool.map(probe, examples)) if pool is not None else [probe(ex) for ex in examples]
    bad = [p for p in probed if isinstance(p, _Bad)]
    if bad and not skip_bad:
        more = f" (and {len(bad) - 1} more bad input(s); --skip-bad skips and lists them)" if len(bad) > 1 else ""
        e = bad[0].error
        raise type(e)(e.path, e.problem + more, e.expected) from e
    if len(bad) == len(examples):
        raise LayoutError(where, f"all {len(examples)} examples are bad (first: {bad[0].reason})", "usable images")
    for b in bad:
        log.warning("skipped %s", b.reason)
    good = [ex for ex, p in zip(examples, probed, strict=True) if not isinstance(p, _Bad)]
    sizes = [p for p in probed if not isinstance(p, _Bad)]
    return good, sizes, [SkippedExample(b.source, b.reason) for b in bad]


def _write_group(out_dir: str, group: Group, old: Group | None, good: list[ExampleSpec],
                 sizes: list[tuple[int, int]], pool: cf.Executor | None, *, write: WriteConfig, min_size: int,
                 where: str) -> Group:
    prefix = f"{group.task}-{group.split}-"
    plan = plan_shards(sizes, encoding=write.encoding, shard_mb=write.shard_mb, min_shards=write.min_shards)
    names = [f"{prefix}{i:05d}.tfrecord" for i in range(len(plan))]
    for name in [*names, *(s.file for s in (old.shards if old else ()))]:
        for stale in remove_stale_temporaries(os.path.join(out_dir, name)):
            log.warning("removed %s, left by an interrupted conversion", stale)
    manifest = load_manifest(out_dir, missing_ok=True)
    current: dict[str, Shard | None] = {s.file: s for s in (old.shards if old else ())}
    skipped_in: dict[str, list[SkippedExample]] = {}
    reused = rebuilt = 0
    with _bar(len(good), f"write {group.key}", write.progress) as bar:
        for name, idx in zip(names, plan, strict=True):
            members = [good[j] for j in idx]
            fp = shard_fingerprint(members, group.identity)
            prev = current.get(name)
            if prev is not None and prev.fingerprint == fp and _shard_ok(out_dir, prev):
                bar.update(len(members))
                reused += 1
                continue
            if prev is not None:
                rebuilt += 1
                log.warning("%s: %s; rebuilding it", name, "sources or settings changed since it was written"
                            if prev.fingerprint != fp else "file missing or its checksum differs from "
                            "manifest.json")
            shard, skipped_in[name] = _write_shard(os.path.join(out_dir, name), members, pool, bar,
                                                   task=group.task, write=write, min_size=min_size)
            current[name] = dataclasses.replace(shard, fingerprint=fp) if shard else None
            written = tuple(current[n] for n in sorted(current) if current[n] is not None)
            manifest = dataclasses.replace(manifest, groups={**manifest.groups,
                                                             group.key: dataclasses.replace(group, shards=written)})
            save_manifest(out_dir, manifest)
    shards = tuple(current[n] for n in names if current.get(n) is not None)
    skipped = [*group.skipped]
    for name in names:
        entry = current.get(name)
        skipped.extend(entry.skipped if entry is not None else skipped_in.get(name, []))
    if not shards:
        raise LayoutError(where, f"all {len(skipped)} examples are bad", "usable images")
    keep = {s.file for s in shards}
    for path in glob.glob(os.path.join(out_dir, f"{prefix}*.tfrecord")):
        if os.path.basename(path) not in keep:
            os.remove(path)
    group = dataclasses.replace(
        group, shards=shards, skipped=tuple(skipped), complete=True,
        num_examples=int(sum(s.num_examples for s in shards)), num_bytes=int(sum(s.num_bytes for s in shards)),
        image_size=ImageSize(tuple(np.min([s.min_hw for s in shards], axis=0).tolist()),
                             tuple(np.max([s.max_hw for s in shards], axis=0).tolist())),
        updated_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    save_manifest(out_dir, dataclasses.replace(manifest, groups={**manifest.groups, group.key: group}))
    log.info("%s: %d examples in %d shards (%d kept from a previous run, %d rebuilt), %d skipped -> %s",
             group.key, group.num_examples, len(shards), reused, rebuilt, len(skipped), out_dir)
    return group
