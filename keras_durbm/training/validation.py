"""Scoring a model during and after training: per-task input vs restored PSNR/SSIM and before/after grids.

Scores come from `keras_durbm.scoring.evaluation.evaluate_pairs` (the paper's protocol, uint8,
Y or RGB per task), so the numbers printed by a training run are the numbers
`python -m keras_durbm.evaluate` gives for the same images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from keras_durbm.config.model import SIZE_MULTIPLE
from keras_durbm.config.tasks import Task
from keras_durbm.images.pairs import Pair
from keras_durbm.images.pixels import center_crop, to_uint8
from keras_durbm.restoration.routing import classify
from keras_durbm.restoration.tiling import restore
from keras_durbm.scoring.evaluation import evaluate_pairs
from keras_durbm.scoring.metrics import protocol_keys, score


def validation_crop(image: np.ndarray, max_side: int) -> np.ndarray:
    """Central crop to at most `max_side` per side, trimmed to multiples of 4 (the network's input rule)."""
    h, w = image.shape[:2]
    return center_crop(image, max(SIZE_MULTIPLE, min(h, max_side) // SIZE_MULTIPLE * SIZE_MULTIPLE),
                       max(SIZE_MULTIPLE, min(w, max_side) // SIZE_MULTIPLE * SIZE_MULTIPLE))


def crop_pairs(pairs: Sequence[Pair], max_side: int) -> list[Pair]:
    """Each pair centre-cropped to at most `max_side` (quick periodic validation)."""
    return [dataclasses.replace(p, input=validation_crop(p.input, max_side), target=validation_crop(p.target, max_side))
            for p in pairs]


def evaluate_tasks(model, pairs_by_task: Mapping[Task, Sequence[Pair]]) -> dict[str, dict]:
    """`{task name: evaluate_pairs result without per-image entries}` for every task with pairs."""
    return {task.name: evaluate_pairs(model, task, pairs, keep_images=False)
            for task, pairs in pairs_by_task.items() if pairs}


GAP = 4  # white pixels between the panels of a row


@dataclasses.dataclass(frozen=True)
class GridRow:
    """One task's `input | restored | target` image and its caption (task, PSNR of input -> restored)."""

    image: np.ndarray
    caption: str
    panel_width: int


def before_after_rows(model, pairs_by_task: Mapping[Task, Sequence[Pair]]) -> dict[str, GridRow]:
    """`{task name: GridRow}` for the first pair of each task: input | restored | target, float32 HWC."""
    rows = {}
    for task, pairs in pairs_by_task.items():
        if not pairs:
            continue
        inp, target = pairs[0].input, pairs[0].target
        restored = restore(model, inp, task)
        gap = np.ones((inp.shape[0], GAP, 3), np.float32)
        p, _ = protocol_keys(task)
        before = score(to_uint8(inp), to_uint8(target), task)[p]
        after = score(to_uint8(restored), to_uint8(target), task)[p]
        caption = f"{task.name}: PSNR ({p.split('_')[1].upper()}) {before:.2f} -> {after:.2f} dB"
        if model.config.classifier:
            caption += f"; classified as {classify(model, inp).describe(shown=2)}"
        rows[task.name] = GridRow(np.concatenate([inp, gap, restored, gap, target], axis=1).astype(np.float32),
                                  caption, inp.shape[1])
    return rows


def _text_strip(width: int, height: int, texts: Sequence[tuple[int, str]]) -> np.ndarray:
    """A white strip with dark text at the given x offsets (PIL's default font)."""
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for x, text in texts:
        draw.text((x, 2), text, fill=(20, 20, 20))
    return np.asarray(strip, np.float32) / 255.0


def stack_rows(rows: Mapping[str, GridRow]) -> np.ndarray:
    """The labelled grid: a header row (input | restored | target), then each task's row under its caption
    (rows of different sizes are white-padded; float32 HWC in [0, 1])."""
    width = max(max(r.image.shape[1] for r in rows.values()), max(6 * len(r.caption) + 6 for r in rows.values()))
    first = next(iter(rows.values()))
    header = [(k * (first.panel_width + GAP) + 2, name) for k, name in enumerate(("input", "restored", "target"))]
    parts = [_text_strip(width, 14, header)]
    for row in rows.values():
        parts.append(_text_strip(width, 14, [(2, row.caption)]))
        padded = np.ones((row.image.shape[0] + GAP, width, 3), np.float32)
        padded[:row.image.shape[0], :row.image.shape[1]] = np.clip(row.image, 0.0, 1.0)
        parts.append(padded)
    return np.concatenate(parts, axis=0)
