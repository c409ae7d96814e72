"""Haze by the atmospheric scattering model, paper eq. 2: `H = I * t + A * (1 - t)`, `t = exp(-beta * d)`.

`d` is a given depth map or a smooth random one (a coarse random grid upsampled bicubically, mixed with a
vertical ramp so that the top of the picture is farther away, as in most photographs). The defaults follow
RESIDE ITS: `beta` in [0.6, 1.8] and a grey atmospheric light `A` in [0.7, 1.0].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from keras_durbm.images.pixels import check_float_rgb
from tfrecords_tools.synthesis._common import Range, sample


def random_depth(shape: Sequence[int], rng: np.random.Generator, *, grid: int = 4, vertical: float = 0.5,
                 depth_range: tuple[float, float] = (0.2, 1.0)) -> np.ndarray:
    """A smooth random depth map of `shape` (H, W) with values spanning `depth_range`.

    `grid` is the number of random control values per side (fewer: smoother); `vertical` in [0, 1] is the
    weight of the top-far ramp."""
    h, w = int(shape[0]), int(shape[1])
    if grid < 2:
        raise ValueError(f"grid must be >= 2, got {grid}")
    coarse = rng.random((grid, grid)).astype(np.float32)
    smooth = np.asarray(Image.fromarray(coarse, mode="F").resize((w, h), Image.Resampling.BICUBIC),
                        dtype=np.float64)
    smooth = _normalize(smooth)
    ramp = np.broadcast_to(np.linspace(1.0, 0.0, h)[:, None], (h, w))
    d = _normalize((1.0 - vertical) * smooth + vertical * ramp)
    lo, hi = depth_range
    return (lo + (hi - lo) * d).astype(np.float32)


def _normalize(x: np.ndarray) -> np.ndarray:
    span = float(x.max() - x.min())
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def transmission(depth: np.ndarray, beta: float) -> np.ndarray:
    """`t = exp(-beta * d)` (paper eq. 2)."""
    return np.exp(-float(beta) * np.asarray(depth, dtype=np.float64)).astype(np.float32)


def haze_components(shape: Sequence[int], seed: int, *, beta: Range = (0.6, 1.8), airlight: Range = (0.7, 1.0),
                    depth: np.ndarray | None = None, depth_range: tuple[float, float] = (0.2, 1.0),
                    depth_grid: int = 4, vertical: float = 0.5) -> tuple[np.ndarray, float, dict]:
    """The transmission map `t` (H, W), the atmospheric light `A` and the sampled values used by `add_haze`."""
    rng = np.random.default_rng(seed)
    b = sample(rng, beta, "beta")
    a = sample(rng, airlight, "airlight")
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"airlight must lie in [0, 1], got {a}")
    if depth is None:
        depth = random_depth(shape, rng, grid=depth_grid, vertical=vertical, depth_range=depth_range)
    else:
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != tuple(shape[:2]):
            raise ValueError(f"depth map has shape {depth.shape}, expected {tuple(shape[:2])}")
        if float(depth.min()) < 0:
            raise ValueError("depth map has negative values; expected distances >= 0")
    return transmission(depth, b), a, {"beta": b, "airlight": a}


def add_haze(image: np.ndarray, seed: int, *, beta: Range = (0.6, 1.8), airlight: Range = (0.7, 1.0),
             depth: np.ndarray | None = None, depth_range: tuple[float, float] = (0.2, 1.0),
             depth_grid: int = 4, vertical: float = 0.5, return_info: bool = False):
    """Hazes a float32 (H, W, 3) image in [0, 1] by eq. 2; deterministic for `seed`.

    Args:
        beta: scattering coefficient, a number or a `(low, high)` range sampled uniformly.
        airlight: grey atmospheric light `A` in [0, 1], a number or a range.
        depth: optional (H, W) depth map; otherwise a smooth random one (`depth_range`, `depth_grid`,
            `vertical`, see `random_depth`).
        return_info: also return `{"beta", "airlight"}` as sampled.
    """
    img = check_float_rgb(image, tolerance=0.0)
    t, a, info = haze_components(img.shape, seed, beta=beta, airlight=airlight, depth=depth,
                                 depth_range=depth_range, depth_grid=depth_grid, vertical=vertical)
    t3 = t[..., None]
    out = np.clip(img * t3 + np.float32(a) * (1.0 - t3), 0.0, 1.0).astype(np.float32)
    return (out, info) if return_info else out
