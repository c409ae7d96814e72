"""Scores a head on a test set with the paper's protocol (DESIGN §1.8), beside the input's own scores.

    python -m keras_durbm.evaluate --model M --task haze DATA [--split test]
    python -m keras_durbm.evaluate --model M --task haze --pairs INPUT_DIR TARGET_DIR
        [--crop-border N] [--tile N] [--overlap N] [--limit N] [--luma matlab|opencv] [--json OUT]

DATA is a folder converted by `tfrecords_tools` (the task's shards of `--split`). `--pairs` matches
inputs to targets by file stem; an input `NAME_K` (K a number) also matches a target `NAME`, so SOTS's
ten hazy images per ground truth are each scored as a pair. The table names the protocol it used.
Exit status: 0 on success, 2 on bad arguments or data (the message names the file).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator

import numpy as np

from keras_durbm import metrics
from keras_durbm.inference import DEFAULT_MAX_PIXELS, add_tiling_arguments, restore
from keras_durbm.tasks import get_task

Pair = tuple[str, np.ndarray, np.ndarray]  # (name, input float (H, W, 3) in [0, 1], target same)
_NUMBERED = re.compile(r"^(?P<base>.+)_\d+$")


def evaluate_pairs(model, task: str, pairs: Iterable[Pair], *, crop_border: int = 0, tile: int | None = None,
                   overlap: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                   luma: str = metrics.DEFAULT_LUMA, limit: int | None = None, score_input: bool = True,
                   progress: bool = False, total: int | None = None) -> dict:
    """Restores each (name, input, target) with `task`'s head and scores it; returns means and per-image scores.

    The result: `{"task", "protocol", "crop_border", "luma", "n", "restored": {metric: mean},
    "input": {metric: mean} (when `score_input`), "images": [{"name", "restored", "input"}]}`; the
    metric keys are those of `metrics.score` (e.g. `psnr_rgb`, `ssim_rgb` for haze).
    """
    task = get_task(task).name
    images = []
    if limit is not None:
        total = min(total, limit) if total is not None else limit
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"evaluate {task}", unit="img", file=sys.stderr, dynamic_ncols=True)
    try:
        for index, (name, inp, target) in enumerate(pairs):
            if limit is not None and index >= limit:
                break
            if inp.shape != target.shape:
                raise ValueError(f"{name}: input {inp.shape} and target {target.shape} differ in size")
            target_u8 = metrics.to_uint8(target)
            restored = restore(model, inp, task, tile=tile, overlap=overlap, max_pixels=max_pixels)
            entry = {"name": name,
                     "restored": metrics.score(metrics.to_uint8(restored), target_u8, task, crop_border, luma)}
            if score_input:
                entry["input"] = metrics.score(metrics.to_uint8(inp), target_u8, task, crop_border, luma)
            images.append(entry)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if not images:
        raise ValueError(f"no {task} images to evaluate")
    result = {"task": task, "protocol": metrics.protocol_text(task, crop_border, luma), "crop_border": crop_border,
              "luma": luma, "n": len(images), "restored": _means(images, "restored")}
    if score_input:
        result["input"] = _means(images, "input")
    result["images"] = images
    return result


def _means(images: list[dict], which: str) -> dict[str, float]:
    keys = images[0][which].keys()
    return {k: float(np.mean([image[which][k] for image in images])) for k in keys}


# --- data sources ------------------------------------------------------------------------------------------


def match_pairs(input_dir: str, target_dir: str) -> list[tuple[str, str, str]]:
    """(name, input path, target path) for every input, matched to a target by stem (or `stem_K` → `stem`)."""
    from tfrecords_tools.image_io import list_images

    for folder in (input_dir, target_dir):
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{folder}: no such folder (expected a folder of images)")
    targets: dict[str, str] = {}
    for name in list_images(target_dir):
        stem = os.path.splitext(name)[0]
        if stem in targets:
            raise ValueError(f"{target_dir}: two targets share the stem {stem!r} ({targets[stem]}, {name})")
        targets[stem] = name
    matched, unmatched = [], []
    for name in list_images(input_dir):
        stem = os.path.splitext(name)[0]
        numbered = _NUMBERED.match(stem)
        key = stem if stem in targets else (numbered["base"] if numbered and numbered["base"] in targets else None)
        if key is None:
            unmatched.append(name)
        else:
            matched.append((name, os.path.join(input_dir, name), os.path.join(target_dir, targets[key])))
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
        raise ValueError(f"{input_dir}: no target in {target_dir} for {shown}; expected a target with the same "
                         "stem (or NAME for inputs NAME_K, as in SOTS)")
    if not matched:
        raise ValueError(f"{input_dir}: no images found (expected PNG/JPEG/BMP/TIFF files)")
    return matched


def folder_pairs(matched: list[tuple[str, str, str]]) -> Iterator[Pair]:
    """Reads matched files lazily; a size mismatch names both files."""
    from keras_durbm.image_io import read_image

    for name, input_path, target_path in matched:
        inp, _ = read_image(input_path)
        target, _ = read_image(target_path)
        if inp.shape != target.shape:
            raise ValueError(f"{input_path}: size {inp.shape[1]}x{inp.shape[0]} differs from its target "
                             f"{target_path} ({target.shape[1]}x{target.shape[0]})")
        yield name, inp, target


def tfrecord_pairs(folder: str, task: str, split: str | None) -> tuple[Iterator[Pair], int | None]:
    """The task's records of `split` in a converted folder, and how many there are (from the manifest)."""
    from tfrecords_tools.manifest import group_key, load_manifest, shard_files
    from tfrecords_tools.pipeline import eval_dataset

    files = shard_files(folder, task=task, split=split)
    group = load_manifest(folder)["groups"].get(group_key(task, split)) if split else None
    total = group.get("num_examples") if group else None

    def generate() -> Iterator[Pair]:
        import tensorflow as tf

        try:
            for index, example in enumerate(eval_dataset(files)):
                if example["task"].numpy().decode() != task:
                    continue
                name = example["source"].numpy().decode() or f"{task}-{index}"
                yield name, example["input"].numpy(), example["target"].numpy()
        except tf.errors.OpError as error:
            raise ValueError(f"{folder}: cannot read the {task} shards ({error.message.strip()})") from None

    return generate(), total


# --- CLI ---------------------------------------------------------------------------------------------------


def format_table(result: dict, model_path: str = "") -> str:
    """The printed report: protocol line, then restored / input / gain rows of mean PSNR and SSIM."""
    keys = list(result["restored"])
    lines = [f"task {result['task']}: {result['n']} image pair(s)" + (f", model {model_path}" if model_path else ""),
             f"protocol: {result['protocol']}", ""]
    lines.append(f"{'':10s}" + "".join(f"{k.upper():>12s}" for k in keys))

    def row(label: str, values: dict[str, float], signed: bool = False) -> str:
        cells = []
        for k in keys:
            v = values[k]
            digits = 2 if k.startswith("psnr") else 4
            cells.append(f"{v:>+12.{digits}f}" if signed else f"{v:>12.{digits}f}")
        return f"{label:10s}" + "".join(cells)

    lines.append(row("restored", result["restored"]))
    if "input" in result:
        lines.append(row("input", result["input"]))
        lines.append(row("gain", {k: result["restored"][k] - result["input"][k] for k in keys}, signed=True))
    return "\n".join(lines)


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "inf" for identical images; JSON has no infinity
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m keras_durbm.evaluate",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a .keras file or a training run folder")
    parser.add_argument("--task", required=True, help="head to evaluate (name or letter)")
    parser.add_argument("data", nargs="?", metavar="DATA", help="folder converted by tfrecords_tools")
    parser.add_argument("--split", default="test", help="split of DATA to score (default: test)")
    parser.add_argument("--pairs", nargs=2, metavar=("INPUT_DIR", "TARGET_DIR"),
                        help="score image folders instead, inputs matched to targets by file stem")
    parser.add_argument("--crop-border", type=int, default=0, help="pixels cropped from each side before scoring")
    parser.add_argument("--luma", choices=metrics.LUMAS, default=metrics.DEFAULT_LUMA,
                        help="Y convention: opencv (full range, the authors' test code; default) or matlab (16..235, BasicSR)")
    add_tiling_arguments(parser, "whole images")
    parser.add_argument("--limit", type=int, help="score only the first N pairs")
    parser.add_argument("--json", metavar="OUT", help="also write the scores (means and per image) as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.data is None) == (args.pairs is None):
        parser.error("give either DATA (a converted folder) or --pairs INPUT_DIR TARGET_DIR")
    for flag, value, low in (("--crop-border", args.crop_border, 0), ("--limit", args.limit, 1),
                             ("--tile", args.tile, 1), ("--overlap", args.overlap, 0), ("--max-pixels", args.max_pixels, 0)):
        if value is not None and value < low:
            parser.error(f"{flag} must be at least {low}, got {value}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        task = get_task(args.task).name
        if args.json:
            folder = os.path.dirname(os.path.abspath(args.json))
            if not os.path.isdir(folder):
                raise FileNotFoundError(f"{args.json}: the folder {folder} does not exist")
        if args.pairs:
            matched = match_pairs(*args.pairs)
            pairs, total = folder_pairs(matched), len(matched)
        else:
            if not os.path.isdir(args.data):
                raise FileNotFoundError(f"{args.data}: no such folder (expected a folder converted by tfrecords_tools)")
            pairs, total = tfrecord_pairs(args.data, task, args.split)
        from keras_durbm.inference import resolve_head
        from keras_durbm.models import load_durbm, resolve_model_path

        model_path = resolve_model_path(args.model)
        model = load_durbm(model_path)
        resolve_head(model, task)
        result = evaluate_pairs(model, task, pairs, crop_border=args.crop_border, tile=args.tile,
                                overlap=args.overlap, max_pixels=args.max_pixels or None, luma=args.luma,
                                limit=args.limit, progress=not args.no_progress, total=total)
    except (KeyError, ValueError, TypeError, OSError) as error:
        print(f"error: {error.args[0] if isinstance(error, KeyError) and error.args else error}", file=sys.stderr)
        return 2
    print(format_table(result, model_path))
    if args.json:
        from tfrecords_tools.manifest import write_json_atomic

        write_json_atomic(args.json, _jsonable({**result, "model": model_path}))
        print(f"scores written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
