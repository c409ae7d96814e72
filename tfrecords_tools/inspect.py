"""CLI: `python -m tfrecords_tools.inspect OUT` prints examples, shards, bytes and image sizes per task and
split of a converted folder, and writes a PNG grid of random input/target pairs (default
`OUT/inspect_grid.png`). `--verify` also checks every shard's framing and SHA-256 against the manifest.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from keras_durbm.atomic_files import atomic_path
from tfrecords_tools.errors import CorruptShardError, DataError
from tfrecords_tools.manifest import load_manifest
from tfrecords_tools.records import read_record, scan_shard


def summarize(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """One row per task/split group of `OUT/manifest.json`."""
    rows = []
    for key, g in sorted(load_manifest(out_dir)["groups"].items()):
        size = g.get("image_size") or {}
        rows.append({"group": key, "task": g["task"], "split": g["split"], "kind": g["kind"],
                     "examples": int(g.get("num_examples", sum(s["num_examples"] for s in g["shards"]))),
                     "shards": len(g["shards"]),
                     "mb": g.get("num_bytes", sum(s["num_bytes"] for s in g["shards"])) / 1e6,
                     "min_hw": size.get("min_hw"), "max_hw": size.get("max_hw"),
                     "skipped": len(g.get("skipped", [])), "complete": bool(g.get("complete")),
                     "encoding": g.get("encoding", "png")})
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
    from tfrecords_tools.writer import sha256_file

    problems = []
    for key, g in sorted(load_manifest(out_dir)["groups"].items()):
        for s in g["shards"]:
            path = os.path.join(os.fspath(out_dir), s["file"])
            try:
                n = len(scan_shard(path))
            except CorruptShardError as e:
                problems.append(str(e))
                continue
            if n != s["num_examples"]:
                problems.append(f"{path}: {n} records, manifest says {s['num_examples']} ({key})")
            elif sha256_file(path) != s["sha256"]:
                problems.append(f"{path}: SHA-256 differs from manifest.json ({key}); the file was modified")
    return problems


def sample_examples(out_dir: str | os.PathLike, n: int, *, seed: int = 0, task: str | None = None,
                    split: str | None = None) -> list[dict[str, Any]]:
    """`n` records drawn uniformly without replacement (seeded) from the matching groups, decoded."""
    from tfrecords_tools.schema import decode_example

    index = []
    for g in load_manifest(out_dir)["groups"].values():
        if (task is None or g["task"] == task) and (split is None or g["split"] == split):
            for s in g["shards"]:
                index += [(os.path.join(os.fspath(out_dir), s["file"]), k) for k in range(s["num_examples"])]
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
        out.append(decode_example(read_record(path, off, length)))
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfrecords_tools.inspect", description=__doc__)
    parser.add_argument("out", metavar="OUT", help="a folder written by tfrecords_tools.convert")
    parser.add_argument("--grid", help="PNG grid path (default OUT/inspect_grid.png)")
    parser.add_argument("--no-grid", action="store_true", help="only print the table")
    parser.add_argument("-n", "--num", type=int, default=8, help="pairs in the grid (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random pick (default 0)")
    parser.add_argument("--task", help="only this task (name or letter) in the grid")
    parser.add_argument("--split", help="only this split in the grid")
    parser.add_argument("--verify", action="store_true", help="check framing and SHA-256 of every shard")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        print(format_table(summarize(args.out)))
        status = 0
        if args.verify:
            problems = verify(args.out)
            for p in problems:
                print(f"BAD: {p}", file=sys.stderr)
            print("verify: all shards match manifest.json" if not problems else f"verify: {len(problems)} problem(s)")
            status = 1 if problems else 0
        if not args.no_grid:
            task = None
            if args.task:
                from keras_durbm.tasks import get_task

                task = get_task(args.task).name
            examples = sample_examples(args.out, args.num, seed=args.seed, task=task, split=args.split)
            if not examples:
                raise ValueError(f"no examples match task={args.task!r} split={args.split!r}")
            path = write_grid(examples, args.grid or os.path.join(args.out, "inspect_grid.png"))
            print(f"grid of {len(examples)} random input/target pairs -> {path}")
        return status
    except (DataError, ValueError, KeyError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
