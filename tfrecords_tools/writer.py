"""Sharded, atomic, resumable TFRecord writer: turns a list of `ExampleSpec` into shards + manifest.

* Every source is probed first (image headers only): wrong modes, size mismatches, images smaller than
  `min_size` and missing files are reported before anything is written.
* Examples go to shards of about `shard_mb` MB (estimated from the image sizes), in source order.
* Each shard is written to a temporary dot-file in the output folder and renamed when complete; its
  SHA-256, size, count and a fingerprint of its sources (names, sizes, mtimes, conversion settings) go to
  `manifest.json`, which is rewritten atomically after every shard.
* A rerun resumes: a shard whose fingerprint matches and whose file still has its recorded SHA-256 is
  kept; a shard whose sources changed is rebuilt (and reported).
* Decoding, synthesis and PNG encoding run in a thread pool (PIL, zlib and NumPy release the GIL);
  results are placed by index, so the output does not depend on the number of workers.
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

from tfrecords_tools import schema
from tfrecords_tools.errors import BadImageError, DataError, LayoutError, ManifestError
from tfrecords_tools.image_io import check_same_size
from tfrecords_tools.manifest import conversion_lock, group_key, load_manifest, manifest_path, save_manifest

log = logging.getLogger("tfrecords_tools")

DEFAULT_SHARD_MB = 150.0
#: Assumed PNG size relative to raw pixels, for shard planning only (natural photographs: 0.4-0.6).
PNG_RATIO = 0.5


@dataclasses.dataclass(frozen=True)
class Pair:
    """A decoded example: uint8 (H, W, 3) input and target of the same size, plus per-example facts."""

    input: np.ndarray
    target: np.ndarray
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


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


def _shard_ok(out_dir: str, entry: dict[str, Any]) -> bool:
    path = os.path.join(out_dir, entry["file"])
    return (os.path.isfile(path) and os.path.getsize(path) == entry["num_bytes"]
            and sha256_file(path) == entry["sha256"])


def _write_shard(path: str, examples: Sequence[ExampleSpec], pool: cf.Executor | None, bar, *, task: str,
                 encoding: str, png_level: int, min_size: int, skip_bad: bool) -> dict[str, Any]:
    import tensorflow as tf

    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.tmp-{os.getpid()}")
    skipped: list[dict[str, str]] = []
    hws: list[tuple[int, int]] = []
    args = (task, encoding, png_level, min_size, skip_bad)
    if pool is None:
        results = (_build_one(ex, *args) for ex in examples)
    else:
        results = pool.map(lambda ex: _build_one(ex, *args), examples)
    try:
        with tf.io.TFRecordWriter(tmp) as w:
            for res in results:
                bar.update(1)
                if isinstance(res, _Bad):
                    skipped.append({"source": res.source, "reason": res.reason})
                    log.warning("skipped %s", res.reason)
                    continue
                w.write(res[0])
                hws.append(res[1])
        if not hws:
            os.remove(tmp)
            return {"file": None, "skipped": skipped}
        digest = sha256_file(tmp)
        size = os.path.getsize(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # the rename must not publish a file whose bytes are still in flight
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    hw = np.array(hws)
    return {"file": name, "num_examples": len(hws), "num_bytes": size, "sha256": digest, "skipped": skipped,
            "min_hw": hw.min(axis=0).tolist(), "max_hw": hw.max(axis=0).tolist()}


def write_dataset(out_dir: str | os.PathLike, examples: Sequence[ExampleSpec], *, task: str, split: str,
                  kind: str, options: dict[str, Any], synthesis: dict[str, Any] | None = None,
                  source_dir: str | None = None, encoding: str = schema.PNG, png_level: int = 1,
                  shard_mb: float = DEFAULT_SHARD_MB, min_shards: int = 1, min_size: int = 0,
                  workers: int | None = None, skip_bad: bool = False, overwrite: bool = False,
                  progress: bool = True) -> dict[str, Any]:
    """Converts `examples` into shards `OUT/<task>-<split>-NNNNN.tfrecord` and records them in
    `OUT/manifest.json` under `<task>/<split>`; returns that manifest group.

    Raises `DataError` subclasses naming the file on bad input (nothing half-written stays behind), or
    `ManifestError` when the folder already holds this task/split converted with other settings and
    `overwrite` is false.
    """
    from keras_durbm.tasks import get_task

    out_dir = os.fspath(out_dir)
    task = get_task(task).name
    if encoding not in schema.ENCODINGS:
        raise ValueError(f"encoding must be one of {schema.ENCODINGS}, got {encoding!r}")
    if not split or "/" in split or split != split.strip():
        raise ValueError(f"split must be a plain name like 'train' or 'test', got {split!r}")
    if not examples:
        raise LayoutError(source_dir or out_dir, "no examples found", "at least one input/target pair")
    counts = collections.Counter(ex.source for ex in examples)
    dupes = [s for s, n in counts.items() if n > 1]
    if dupes:
        raise LayoutError(source_dir or out_dir, f"duplicate example ids {sorted(dupes)[:5]}", "unique sources")
    identity = {"schema_version": schema.SCHEMA_VERSION, "kind": kind, "task": task, "split": split,
                "options": options, "synthesis": synthesis, "encoding": encoding, "png_level": png_level,
                "min_size": min_size}
    identity = json.loads(json.dumps(identity, sort_keys=True))
    key = group_key(task, split)
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    _previous_group(out_dir, key, identity, overwrite)  # fail early on a settings conflict
    pool = cf.ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        good, sizes, skipped = _probe_all(examples, pool, key=key, min_size=min_size, skip_bad=skip_bad,
                                          progress=progress, where=source_dir or out_dir)
        os.makedirs(out_dir, exist_ok=True)
        with conversion_lock(out_dir):
            old = _previous_group(out_dir, key, identity, overwrite)
            return _write_group(out_dir, key, old, good, sizes, skipped, identity, pool, task=task, split=split,
                                kind=kind, options=options, synthesis=synthesis, source_dir=source_dir,
                                encoding=encoding, png_level=png_level, shard_mb=shard_mb,
                                min_shards=min_shards, min_size=min_size, skip_bad=skip_bad, progress=progress)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _previous_group(out_dir: str, key: str, identity: dict[str, Any], overwrite: bool) -> dict[str, Any] | None:
    """The manifest group written before with the same settings (None if absent or overwritten); a
    `ManifestError` when the settings differ and `overwrite` is false."""
    manifest = load_manifest(out_dir, missing_ok=True)
    old = manifest["groups"].get(key)
    if old is None or old.get("identity") == identity:
        return old
    if not overwrite:
        diff = sorted(k for k in identity if identity[k] != old.get("identity", {}).get(k))
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
    return good, sizes, [{"source": b.source, "reason": b.reason} for b in bad]


def _write_group(out_dir, key, old, good, sizes, skipped, identity, pool, *, task, split, kind, options,
                 synthesis, source_dir, encoding, png_level, shard_mb, min_shards, min_size, skip_bad,
                 progress) -> dict[str, Any]:
    prefix = f"{task}-{split}-"
    for stale in glob.glob(os.path.join(out_dir, f".{prefix}*.tmp-*")):
        os.remove(stale)  # left by a killed run; we hold the lock
    manifest = load_manifest(out_dir, missing_ok=True)
    plan = plan_shards(sizes, encoding=encoding, shard_mb=shard_mb, min_shards=min_shards)
    group: dict[str, Any] = {
        "task": task, "split": split, "kind": kind, "options": options, "synthesis": synthesis,
        "encoding": encoding, "identity": identity, "source_dir": os.path.abspath(source_dir) if source_dir else None,
        "complete": False, "skipped": skipped, "versions": _versions(),
    }
    current: dict[str, dict[str, Any]] = {s["file"]: s for s in (old or {}).get("shards", [])}
    names = [f"{prefix}{i:05d}.tfrecord" for i in range(len(plan))]
    reused = rebuilt = 0
    with _bar(len(good), f"write {key}", progress) as bar:
        for name, idx in zip(names, plan, strict=True):
            members = [good[j] for j in idx]
            fp = shard_fingerprint(members, identity)
            prev = current.get(name)
            if prev is not None and prev.get("fingerprint") == fp and _shard_ok(out_dir, prev):
                bar.update(len(members))
                reused += 1
                continue
            if prev is not None:
                rebuilt += 1
                log.warning("%s: %s; rebuilding it", name, "sources or settings changed since it was written"
                            if prev.get("fingerprint") != fp else "file missing or its checksum differs from "
                            "manifest.json")
            entry = _write_shard(os.path.join(out_dir, name), members, pool, bar, task=task, encoding=encoding,
                                 png_level=png_level, min_size=min_size, skip_bad=skip_bad)
            entry["fingerprint"] = fp
            current[name] = entry
            group["shards"] = [current[n] for n in sorted(current) if current[n].get("file")]
            manifest["groups"][key] = group
            save_manifest(out_dir, manifest)
    final = [current[n] for n in names]
    shards = [e for e in final if e.get("file")]
    for e in final:
        skipped.extend(e.get("skipped", []))
    if not shards:
        raise LayoutError(source_dir or out_dir, f"all {len(skipped)} examples are bad", "usable images")
    keep = {e["file"] for e in shards}
    for path in glob.glob(os.path.join(out_dir, f"{prefix}*.tfrecord")):
        if os.path.basename(path) not in keep:
            os.remove(path)
    group.update(shards=shards, skipped=skipped, complete=True,
                 num_examples=int(sum(e["num_examples"] for e in shards)),
                 num_bytes=int(sum(e["num_bytes"] for e in shards)),
                 image_size={"min_hw": np.min([e["min_hw"] for e in shards], axis=0).tolist(),
                             "max_hw": np.max([e["max_hw"] for e in shards], axis=0).tolist()},
                 updated_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    manifest["groups"][key] = group
    save_manifest(out_dir, manifest)
    log.info("%s: %d examples in %d shards (%d kept from a previous run, %d rebuilt), %d skipped -> %s",
             key, group["num_examples"], len(shards), reused, rebuilt, len(skipped), out_dir)
    return group
