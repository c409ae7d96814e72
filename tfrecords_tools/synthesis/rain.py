"""Rain streaks by paper eq. 3: `O = I + sum_i S_i`, clipped to [0, 1].

Each layer `S_i` is rendered like in common rain synthesis: sparse random drops (a fraction `density` of
the pixels, random brightness up to `intensity`) smeared by a line kernel of `length` pixels at `angle`
degrees from vertical (motion blur of falling drops), with a little Gaussian-like softening from the
bilinear rasterisation. Layers share one random fall direction (jittered by `angle_jitter` per layer).
Drops are rendered on a canvas padded by the streak length, so streaks enter from outside the frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_durbm.images.pixels import check_float_rgb
from tfrecords_tools.synthesis._common import Range, sample, sample_int
from tfrecords_tools.synthesis.kernels import convolve_same, line_points, odd_size_for, rasterize_path


def streak_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A line kernel whose values along the line are ~1 (not normalised: a lone drop becomes a streak of
    its own brightness)."""
    pts = line_points(length, angle_deg)
    k = rasterize_path(pts, odd_size_for(pts))
    return k * (max(length - 1.0, 1.0) / len(pts))


def rain_layers(shape: Sequence[int], seed: int, *, layers: int | tuple[int, int] = (1, 3),
                angle: Range = (-30.0, 30.0), angle_jitter: float = 5.0, length: Range = (10.0, 40.0),
                density: Range = (0.002, 0.008), intensity: Range = (0.3, 0.8)) -> tuple[list[np.ndarray], dict]:
    """The streak layers `S_i` (each (H, W) float32 in [0, 1]) and the sampled values per layer."""
    h, w = int(shape[0]), int(shape[1])
    rng = np.random.default_rng(seed)
    n = sample_int(rng, layers, "layers")
    base = sample(rng, angle, "angle")
    out, info = [], []
    for _ in range(n):
        a = base + float(rng.uniform(-angle_jitter, angle_jitter)) if angle_jitter > 0 else base
        ln = sample(rng, length, "length")
        dens = sample(rng, density, "density")
        inten = sample(rng, intensity, "intensity")
        kernel = streak_kernel(ln, a)
        pad = kernel.shape[0] // 2
        canvas = (h + 2 * pad, w + 2 * pad)
        drops = (rng.random(canvas) < dens) * rng.uniform(0.5, 1.0, size=canvas) * inten
        layer = convolve_same(drops, kernel, mode="constant")[pad:pad + h, pad:pad + w]
        out.append(np.clip(layer, 0.0, 1.0).astype(np.float32))
        info.append({"angle": a, "length": ln, "density": dens, "intensity": inten})
    return out, {"layers": info}


def add_rain(image: np.ndarray, seed: int, *, layers: int | tuple[int, int] = (1, 3),
             angle: Range = (-30.0, 30.0), angle_jitter: float = 5.0, length: Range = (10.0, 40.0),
             density: Range = (0.002, 0.008), intensity: Range = (0.3, 0.8), return_info: bool = False):
    """Adds rain streaks to a float32 (H, W, 3) image in [0, 1] by eq. 3; deterministic for `seed`.

    Args:
        layers: number of streak layers (an int or an inclusive range).
        angle: fall direction in degrees from vertical (positive: the lower end lies to the right).
        angle_jitter: per-layer deviation from that direction, uniform in +-`angle_jitter`.
        length: streak length in pixels; density: fraction of pixels that seed a drop;
        intensity: peak brightness added by a streak. Each a number or a `(low, high)` range.
        return_info: also return the sampled values per layer.
    """
    img = check_float_rgb(image, tolerance=0.0)
    s, info = rain_layers(img.shape, seed, layers=layers, angle=angle, angle_jitter=angle_jitter,
                          length=length, density=density, intensity=intensity)
    total = np.sum(s, axis=0) if s else np.zeros(img.shape[:2], np.float32)
    out = np.clip(img + total[..., None], 0.0, 1.0).astype(np.float32)
    return (out, info) if return_info else out
