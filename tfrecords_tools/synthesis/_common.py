"""Helpers shared by the synthesizers: input checking and sampling of range-valued parameters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Range = float | tuple[float, float] | Sequence[float]


def check_image(image: np.ndarray) -> np.ndarray:
    """Returns `image` as float32 (H, W, 3) in [0, 1] or raises a ValueError saying what was expected."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected a (H, W, 3) RGB image, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"expected a float image in [0, 1], got dtype {arr.dtype} (use image_io.to_float)")
    arr = arr.astype(np.float32, copy=False)
    if arr.size and (float(arr.min()) < 0.0 or float(arr.max()) > 1.0):
        raise ValueError(f"expected values in [0, 1], got [{float(arr.min()):.4g}, {float(arr.max()):.4g}]")
    return arr


def sample(rng: np.random.Generator, value: Range, name: str) -> float:
    """A fixed number stays as it is; a `(low, high)` pair is sampled uniformly."""
    if np.isscalar(value):
        return float(value)
    lo, hi = (float(v) for v in value)
    if hi < lo:
        raise ValueError(f"{name}: range ({lo}, {hi}) has high < low")
    return float(rng.uniform(lo, hi)) if hi > lo else lo


def sample_int(rng: np.random.Generator, value: int | tuple[int, int] | Sequence[int], name: str) -> int:
    """Like `sample` for integers; a `(low, high)` pair includes both ends."""
    if np.isscalar(value):
        return int(value)
    lo, hi = (int(v) for v in value)
    if hi < lo:
        raise ValueError(f"{name}: range ({lo}, {hi}) has high < low")
    return int(rng.integers(lo, hi + 1))
