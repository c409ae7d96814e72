"""Scoring a model during and after training: per-task input vs restored PSNR/SSIM and before/after grids.

Scores come from `keras_durbm.evaluate.evaluate_pairs` (the paper's protocol, uint8,
Y or RGB per task), so the numbers printed by a training run are the numbers
`python -m keras_durbm.evaluate` gives for the same images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from keras_durbm.evaluate import Pair, evaluate_pairs
from keras_durbm.inference import restore
from keras_durbm.metrics import score_colours
from keras_durbm.models.input_contract import SIZE_MULTIPLE


def center_crop(image: np.ndarray, max_side: int) -> np.ndarray:
    """Central crop to at most `max_side` per side, trimmed to multiples of 4 (the network's input rule)."""
    h, w = image.shape[:2]
    ch = max(SIZE_MULTIPLE, min(h, max_side) // SIZE_MULTIPLE * SIZE_MULTIPLE)
    cw = max(SIZE_MULTIPLE, min(w, max_side) // SIZE_MULTIPLE * SIZE_MULTIPLE)
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top:top + ch, left:left + cw]


def crop_pairs(pairs: Sequence[Pair], max_side: int) -> list[Pair]:
    """Each pair centre-cropped to at most `max_side` (quick periodic validation)."""
    return [(name, center_crop(x, max_side), center_crop(y, max_side)) for name, x, y in pairs]


def protocol_keys(task_name: str) -> tuple[str, str]:
    """The (PSNR, SSIM) keys of a task's protocol colour space, e.g. `("psnr_y", "ssim_y")`."""
    colour = score_colours(task_name)[0]
    return f"psnr_{colour}", f"ssim_{colour}"


def evaluate_tasks(model, pairs_by_task: Mapping[str, Sequence[Pair]]) -> dict[str, dict]:
    """`{task: evaluate_pairs result without per-image entries}` for every task with pairs."""
    results = {}
    for task, pairs in pairs_by_task.items():
        if not pairs:
            continue
        result = evaluate_pairs(model, task, pairs)
        result.pop("images", None)
        results[task] = result
    return results


def before_after_rows(model, pairs_by_task: Mapping[str, Sequence[Pair]]) -> dict[str, np.ndarray]:
    """`{task: input | restored | target}` side by side (float32 HWC) for the first pair of each task."""
    rows = {}
    for task, pairs in pairs_by_task.items():
        if not pairs:
            continue
        _, inp, target = pairs[0]
        restored = restore(model, inp, task)
        gap = np.ones((inp.shape[0], 4, 3), np.float32)
        rows[task] = np.concatenate([inp, gap, restored, gap, target], axis=1).astype(np.float32)
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
