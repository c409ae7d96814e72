"""Helpers shared by the synthesizers: sampling of range-valued parameters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Range = float | tuple[float, float] | Sequence[float]


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
