"""Scoring a model during and after training: per-task input vs restored PSNR/SSIM and before/after grids.

Scores come from `keras_durbm.evaluation.evaluate_pairs` (the paper's protocol, uint8,
Y or RGB per task), so the numbers printed by a training run are the numbers
`python -m keras_durbm.evaluate` gives for the same images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from keras_durbm.evaluation import evaluate_pairs
from keras_durbm.image_pairs import Pair
from keras_durbm.inference import restore
from keras_durbm.model_config import SIZE_MULTIPLE
from keras_durbm.pixels import center_crop
from keras_durbm.tasks import Task


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


def before_after_rows(model, pairs_by_task: Mapping[Task, Sequence[Pair]]) -> dict[str, np.ndarray]:
    """`{task name: input | restored | target}` side by side (float32 HWC) for the first pair of each task."""
    rows = {}
    for task, pairs in pairs_by_task.items():
        if not pairs:
            continue
        inp, target = pairs[0].input, pairs[0].target
        restored = restore(model, inp, task)
        gap = np.ones((inp.shape[0], 4, 3), np.float32)
        rows[task.name] = np.concatenate([inp, gap, restored, gap, target], axis=1).astype(np.float32)
    return rows


def stack_rows(rows: Mapping[str, np.ndarray]) -> np.ndarray:
    """Stacks row images of different sizes into one white-padded grid (float32 HWC in [0, 1])."""
    width = max(r.shape[1] for r in rows.values())
    parts = []
    for row in rows.values():
        padded = np.ones((row.shape[0] + 4, width, 3), np.float32)
        padded[:row.shape[0], :row.shape[1]] = np.clip(row, 0.0, 1.0)
        parts.append(padded)
    return np.concatenate(parts, axis=0)
