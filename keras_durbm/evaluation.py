"""Scoring a head on image pairs with the paper's protocol (docs/design.md §1.8), beside the input's own scores.

`evaluate_pairs` is what `python -m keras_durbm.evaluate`, training's validation and the studies all
call, so a number printed by one of them is the number the others give for the same images.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable

import numpy as np

from keras_durbm import metrics
from keras_durbm.image_pairs import Pair
from keras_durbm.inference import DEFAULT_TILE_ABOVE, restore
from keras_durbm.pixels import to_uint8
from keras_durbm.tasks import Task


def evaluate_pairs(model, task: Task, pairs: Iterable[Pair], *, crop_border: int = 0, tile: int | None = None,
                   overlap: int | None = None, tile_above: int | None = DEFAULT_TILE_ABOVE,
                   luma: str = metrics.DEFAULT_LUMA, score_input: bool = True, progress: bool = False,
                   total: int | None = None, keep_images: bool = True) -> dict:
    """Restores each pair's input with `task`'s head and scores it; returns means and per-image scores.

    The result: `{"task", "protocol", "crop_border", "luma", "n", "restored": {metric: mean},
    "input": {metric: mean} (when `score_input`), "images": [{"name", "restored", "input"}]}` (no
    "images" when not `keep_images`); the metric keys are those of `metrics.score` (e.g. `psnr_rgb`,
    `ssim_rgb` for haze).
    """
    images = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"evaluate {task.name}", unit="img", file=sys.stderr, dynamic_ncols=True)
    try:
        for pair in pairs:
            if pair.input.shape != pair.target.shape:
                raise ValueError(f"{pair.name}: input {pair.input.shape} and target {pair.target.shape} differ in size")
            target_u8 = to_uint8(pair.target)
            restored = restore(model, pair.input, task, tile=tile, overlap=overlap, tile_above=tile_above)
            entry = {"name": pair.name,
                     "restored": metrics.score(to_uint8(restored), target_u8, task, crop_border, luma)}
            if score_input:
                entry["input"] = metrics.score(to_uint8(pair.input), target_u8, task, crop_border, luma)
            images.append(entry)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if not images:
        raise ValueError(f"no {task.name} images to evaluate")
    result = {"task": task.name, "protocol": metrics.protocol_text(task, crop_border, luma),
              "crop_border": crop_border, "luma": luma, "n": len(images), "restored": _means(images, "restored")}
    if score_input:
        result["input"] = _means(images, "input")
    if keep_images:
        result["images"] = images
    return result


def _means(images: list[dict], which: str) -> dict[str, float]:
    keys = images[0][which].keys()
    return {k: float(np.mean([image[which][k] for image in images])) for k in keys}


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


def jsonable(value):
    """A result with infinite PSNRs (identical images) as the string "inf": JSON has no infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value
