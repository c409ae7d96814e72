"""Helpers shared by the synthesizers: sampling of range-valued parameters and choice of a family by seed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_durbm.seeding import derive_seed

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


def check_choices(value: str | Sequence[str], name: str, valid: Sequence[str]) -> list[str]:
    """`value` (one name or a non-empty list of names) as a list; a ValueError names `name` and lists the
    valid names when one is unknown."""
    names = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    if not names:
        raise ValueError(f"{name}: empty list; expected one or more of {', '.join(map(repr, valid))}")
    for v in names:
        if v not in valid:
            raise ValueError(f"unknown {name} {v!r}; valid: {', '.join(map(repr, valid))}")
    return names


def choose(seed: int, value: str | Sequence[str], name: str, valid: Sequence[str]) -> str:
    """A single name stays as it is; from a list one is drawn uniformly with a stream of its own
    (`derive_seed(seed, name)`), so the draw neither shifts nor correlates with the synthesizer's other
    random draws, and a one-element list gives the same result as that name alone."""
    names = check_choices(value, name, valid)
    if len(names) == 1:
        return names[0]
    return names[int(np.random.default_rng(derive_seed(seed, name)).integers(len(names)))]
