"""What a converted folder holds: a table per task/split, shard verification, and a grid of random pairs.

The library behind `python -m tfrecords_tools.inspect_shards` (and training's shard checks).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from keras_durbm.atomic_files import atomic_path
from keras_durbm.config.tasks import Task
from tfrecords_tools.errors import CorruptShardError
from tfrecords_tools.manifest import load_manifest, matching_groups
from tfrecords_tools.records import read_record, scan_shard
from tfrecords_tools.schema import decode_example
from tfrecords_tools.writer import sha256_file


def summarize(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """One row per task/split group of `OUT/manifest.json`."""
    rows = []
    for key, g in sorted(load_manifest(out_dir).groups.items()):
        size = g.image_size
        rows.append({"group": key, "task": g.task, "split": g.split, "kind": g.kind,
                     "examples": g.num_examples or sum(s.num_examples for s in g.shards),
                     "shards": len(g.shards), "mb": (g.num_bytes or sum(s.num_bytes for s in g.shards)) / 1e6,
                     "min_hw": size.min_hw if size else None, "max_hw": size.max_hw if size else None,
                     "skipped": len(g.skipped), "complete": g.complete, "encoding": g.encoding})
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    head = f"{'task/split':<22} {'kind':<12} {'examples':>8} {'shards':>6} {'MB':>9} {'min HxW':>10} " \
           f"{'max HxW':>10} {'skipped':>7}  status"
    lines = [head, "-" * len(head)]

    def hw(v: Sequence[int] | None) -> str:
        return "x".join(map(str, v)) if v else "-"

    for r in rows:
        lines.append(f"{r['group']:<22} {r['kind']:<12} {r['examples']:>8} {r['shards']:>6} {r['mb']:>9.1f} "
                     f"{hw(r['min_hw']):>10} {hw(r['max_hw']):>10} {r['skipped']:>7}  "
                     f"{'complete' if r['complete'] else 'INCOMPLETE'} ({r['encoding']})")
    total_ex = sum(r["examples"] for r in rows)
    total_mb = sum(r["mb"] for r in rows)
    lines.append(f"{'total':<22} {'':<12} {total_ex:>8} {sum(r['shards'] for r in rows):>6} {total_mb:>9.1f}")
    return "\n".join(lines)


def verify(out_dir: str | os.PathLike) -> list[str]:
    """Problems found in the shards of `OUT` (empty when every shard matches its manifest entry)."""
    problems = []
    for key, g in sorted(load_manifest(out_dir).groups.items()):
        for s in g.shards:
            path = os.path.join(os.fspath(out_dir), s.file)
            try:
                n = len(scan_shard(path))
            except CorruptShardError as e:
                problems.append(str(e))
                continue
            if n != s.num_examples:
                problems.append(f"{path}: {n} records, manifest says {s.num_examples} ({key})")
            elif sha256_file(path) != s.sha256:
                problems.append(f"{path}: SHA-256 differs from manifest.json ({key}); the file was modified")
    return problems


def sample_examples(out_dir: str | os.PathLike, n: int, *, seed: int = 0, task: Task | None = None,
                    split: str | None = None) -> list[dict[str, Any]]:
    """`n` records drawn uniformly without replacement (seeded) from the matching groups, decoded.

    A record that cannot be decoded raises `CorruptShardError` naming its shard (run `--verify`)."""
    index = []
    for g in matching_groups(load_manifest(out_dir), task, split):
        for s in g.shards:
            index += [(os.path.join(os.fspath(out_dir), s.file), k) for k in range(s.num_examples)]
    if not index:
        return []
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(index), size=min(n, len(index)), replace=False).tolist())
    out, offsets = [], {}
    for i in picks:
        path, k = index[i]
        if path not in offsets:
            offsets[path] = scan_shard(path)
        off, length = offsets[path][k]
        try:
            out.append(decode_example(read_record(path, off, length)))
        except Exception as error:  # a flipped byte surfaces as zlib, PIL or protobuf errors of many types
            raise CorruptShardError(path, f"record {k} cannot be decoded ({type(error).__name__}: {error})",
                                    "an intact shard; `--verify` checks every shard against manifest.json, "
                                    "and rerunning the convert command rebuilds damaged ones") from None
    return out


def _thumb(img: np.ndarray, height: int, max_width: int) -> Image.Image:
    h, w = img.shape[:2]
    scale = min(height / h, max_width / w)
    return Image.fromarray(img).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                       Image.Resampling.BILINEAR)


def write_grid(examples: Sequence[dict[str, Any]], path: str, *, height: int = 160) -> str:
    """Writes rows of `[input | target]` thumbnails with a caption (task, source, size) as a PNG."""
    if not examples:
        raise ValueError("no examples to draw")
    max_w = 2 * height
    cap = 14
    rows = []
    for ex in examples:
        a, b = _thumb(ex["input"], height, max_w), _thumb(ex["target"], height, max_w)
        row = Image.new("RGB", (max(a.width + b.width + 12, 420), height + cap + 6), (32, 32, 32))
        row.paste(a, (4, cap + 2))
        row.paste(b, (a.width + 8, cap + 2))
        text = f"{ex['task']}  {ex['source']}  {ex['width']}x{ex['height']}   (input | target)"
        ImageDraw.Draw(row).text((4, 1), text, fill=(235, 235, 235))
        rows.append(row)
    grid = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), (32, 32, 32))
    y = 0
    for r in rows:
        grid.paste(r, (0, y))
        y += r.height
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with atomic_path(path) as tmp:
        grid.save(tmp, format="PNG")
    return path
