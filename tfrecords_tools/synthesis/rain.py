"""Rain streaks by paper eq. 3: `O = I + sum_i S_i`, clipped to [0, 1].

Each layer `S_i` is rendered like in common rain synthesis: sparse random drops (a fraction `density` of
the pixels, random brightness up to `intensity`) smeared by a line kernel of `length` pixels at `angle`
degrees from vertical (motion blur of falling drops), `width` pixels thick, with a little Gaussian-like
softening from the bilinear rasterisation and optionally a Gaussian blur of `softness` pixels (drops out
of focus). Layers share one random fall direction (jittered by `angle_jitter` per layer); length, density,
intensity, width and softness are drawn per layer. Drops are rendered on a canvas padded by the streak
length, so streaks enter from outside the frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_durbm.images.pixels import check_float_rgb
from tfrecords_tools.synthesis._common import Range, sample, sample_int
from tfrecords_tools.synthesis.kernels import convolve_same, line_points, odd_size_for, rasterize_path


def streak_kernel(length: float, angle_deg: float, width: float = 1.0, softness: float = 0.0) -> np.ndarray:
    """A line kernel whose values along the line are ~1 (not normalised: a lone drop becomes a streak of
    its own brightness). `width` > 1: a band of parallel lines, values ~1 across `width` pixels (exactly
    1 on `width` columns for a vertical streak of integer width); below 1: a thinner, dimmer streak whose
    values are `width`. The weight across the streak is `width` in every case.
    `softness` > 0: the kernel blurred by a Gaussian of that standard deviation in pixels (mass kept, so the
    peak value drops)."""
    if not width > 0 or not softness >= 0:
        raise ValueError(f"streak width must be > 0 and softness >= 0, got width={width}, softness={softness}")
    pts = line_points(length, angle_deg)
    scale = max(length - 1.0, 1.0) / len(pts)
    if width == 1.0:
        k = rasterize_path(pts, odd_size_for(pts)) * scale
    elif width < 1.0:
        k = rasterize_path(pts, odd_size_for(pts)) * (scale * width)
    else:
        # copies of the line across the streak: uniform weight over `width - 1` px between the centres of the
        # edge pixels plus half a pixel's weight on each edge (as `kernels.arc_points` along a path)
        span = width - 1.0
        m = max(2, int(np.ceil(span * 8)) + 1)
        offsets = np.linspace(-0.5, 0.5, m) * span
        across = np.full(m, span / (m - 1))
        across[[0, -1]] = across[0] / 2 + 0.5
        a = np.deg2rad(angle_deg)
        wide = np.concatenate([pts + o * np.array([np.cos(a), -np.sin(a)]) for o in offsets])
        k = rasterize_path(wide, odd_size_for(wide), weights=np.repeat(across, len(pts))) * scale
    if softness > 0:
        r = int(np.ceil(3 * softness))
        g = np.exp(-0.5 * (np.arange(-r, r + 1) / softness) ** 2)
        k = convolve_same(np.pad(k, r), np.outer(g, g) / g.sum() ** 2, mode="constant")
    return k


def rain_layers(shape: Sequence[int], seed: int, *, layers: int | tuple[int, int] = (1, 3),
                angle: Range = (-30.0, 30.0), angle_jitter: float = 5.0, length: Range = (10.0, 40.0),
                density: Range = (0.002, 0.008), intensity: Range = (0.3, 0.8), width: Range = 1.0,
                softness: Range = 0.0) -> tuple[list[np.ndarray], dict]:
    """The streak layers `S_i` (each (H, W) float32 in [0, 1]) and the sampled values per layer."""
    h, w = int(shape[0]), int(shape[1])
    rng = np.random.default_rng(seed)
    n = sample_int(rng, layers, "layers")
    base = sample(rng, angle, "angle")
    wide = not (np.isscalar(width) and float(width) == 1.0)
    soft = not (np.isscalar(softness) and float(softness) == 0.0)
    out, info = [], []
    for _ in range(n):
        a = base + float(rng.uniform(-angle_jitter, angle_jitter)) if angle_jitter > 0 else base
        ln = sample(rng, length, "length")
        dens = sample(rng, density, "density")
        inten = sample(rng, intensity, "intensity")
        wd = sample(rng, width, "width")
        sf = sample(rng, softness, "softness")
        if not 0.0 <= dens <= 1.0:
            raise ValueError(f"density must lie in [0, 1] (a fraction of the pixels), got {dens}")
        kernel = streak_kernel(ln, a, wd, sf)
        pad = kernel.shape[0] // 2
        canvas = (h + 2 * pad, w + 2 * pad)
        drops = (rng.random(canvas) < dens) * rng.uniform(0.5, 1.0, size=canvas) * inten
        layer = convolve_same(drops, kernel, mode="constant")[pad:pad + h, pad:pad + w]
        out.append(np.clip(layer, 0.0, 1.0).astype(np.float32))
        info.append({"angle": a, "length": ln, "density": dens, "intensity": inten,
                     **({"width": wd} if wide else {}), **({"softness": sf} if soft else {})})
    return out, {"layers": info}


def add_rain(image: np.ndarray, seed: int, *, layers: int | tuple[int, int] = (1, 3),
             angle: Range = (-30.0, 30.0), angle_jitter: float = 5.0, length: Range = (10.0, 40.0),
             density: Range = (0.002, 0.008), intensity: Range = (0.3, 0.8), width: Range = 1.0,
             softness: Range = 0.0, return_info: bool = False):
    """Adds rain streaks to a float32 (H, W, 3) image in [0, 1] by eq. 3; deterministic for `seed`.

    Args:
        layers: number of streak layers (an int or an inclusive range).
        angle: fall direction in degrees from vertical (positive: the lower end lies to the right), e.g.
            (-60, 60) for wind-blown rain.
        angle_jitter: per-layer deviation from that direction, uniform in +-`angle_jitter`.
        length: streak length in pixels, e.g. (5, 80); density: fraction of pixels that seed a drop, e.g.
            (0.001, 0.05); intensity: peak brightness added by a streak, e.g. (0.1, 1.0);
        width: streak thickness in pixels (default 1: the thin bilinear line), e.g. (0.5, 3);
        softness: Gaussian blur of the streaks, standard deviation in pixels (default 0), e.g. (0, 2).
        Each a number or a `(low, high)` range, drawn per layer.
        return_info: also return the sampled values per layer (`width`, `softness` when not the defaults).
    """
    img = check_float_rgb(image, tolerance=0.0)
    s, info = rain_layers(img.shape, seed, layers=layers, angle=angle, angle_jitter=angle_jitter,
                          length=length, density=density, intensity=intensity, width=width, softness=softness)
    total = np.sum(s, axis=0) if s else np.zeros(img.shape[:2], np.float32)
    out = np.clip(img + total[..., None], 0.0, 1.0).astype(np.float32)
    return (out, info) if return_info else out
