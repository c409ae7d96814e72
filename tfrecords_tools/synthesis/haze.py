"""Haze by the atmospheric scattering model, paper eq. 2: `H = I * t + A * (1 - t)`, `t = exp(-beta * d)`.

`d` is a given depth map or a random one from a depth model (`depth_model`; a list draws one per image by
seed), scaled to `depth_range`:

* `"random"` (default): a coarse random grid upsampled bicubically, mixed with a vertical ramp so that the
  top of the picture is farther away, as in most photographs (`random_depth`);
* `"noise"`: smooth multi-scale random noise, no preferred direction (`noise_depth`);
* `"ramp"`: a linear ramp, depth growing towards a random direction (`ramp_depth`);
* `"planar"`: a ground plane seen from above it, distance growing towards a horizon line, sky beyond it
  farthest (`planar_depth`);
* `"banded"`: horizontal bands of distinct depths (layers of a landscape), softened (`banded_depth`).

The defaults follow RESIDE ITS: `beta` in [0.6, 1.8] and a grey atmospheric light `A` in [0.7, 1.0];
`airlight_tint` makes `A` coloured, bluish or yellowish (`tinted_airlight`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from keras_durbm.images.pixels import check_float_rgb
from tfrecords_tools.synthesis._common import Range, check_choices, choose, sample, sample_int

#: The depth models of `add_haze(depth_model=...)`.
DEPTH_MODELS = ("random", "noise", "ramp", "planar", "banded")


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


def noise_depth(shape: Sequence[int], rng: np.random.Generator, *, grid: int = 4, octaves: int = 3) -> np.ndarray:
    """Smooth random noise in [0, 1] (float64, (H, W)): `octaves` random grids of `grid`, 2 `grid`, 4 `grid`
    ... values per side, upsampled bicubically and summed with amplitudes 1, 1/2, 1/4 ... (fractal noise)."""
    h, w = int(shape[0]), int(shape[1])
    if grid < 2 or octaves < 1:
        raise ValueError(f"noise depth needs grid >= 2 and octaves >= 1, got grid={grid}, octaves={octaves}")
    total = np.zeros((h, w))
    for o in range(octaves):
        coarse = rng.random((grid * 2 ** o,) * 2).astype(np.float32)
        up = Image.fromarray(coarse, mode="F").resize((w, h), Image.Resampling.BICUBIC)
        total += np.asarray(up, dtype=np.float64) * 0.5 ** o
    return _normalize(total)


def ramp_depth(shape: Sequence[int], angle_deg: float) -> np.ndarray:
    """A linear ramp in [0, 1] (a plane in pixel coordinates), depth growing towards `angle_deg`
    counter-clockwise from the +x axis on the screen (0: right is far, 90: top is far)."""
    h, w = int(shape[0]), int(shape[1])
    a = np.deg2rad(angle_deg)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    return _normalize(xx * np.cos(a) - yy * np.sin(a))


def planar_depth(shape: Sequence[int], horizon: float, tilt_deg: float = 0.0, *, near_ratio: float = 10.0) -> np.ndarray:
    """A ground plane in [0, 1]: distance along the ground is proportional to 1 / (distance below the
    horizon line) (perspective), normalised so the nearest ground point is 0, saturating at `near_ratio`
    times the nearest distance (1); the horizon and the sky above it are 1. The horizon passes through the
    middle column at `horizon` (fraction of the height from the top; outside [0, 1]: off the picture) and
    is rotated `tilt_deg` counter-clockwise. Depth never decreases going towards the horizon."""
    h, w = int(shape[0]), int(shape[1])
    if near_ratio <= 1:
        raise ValueError(f"near_ratio must be > 1, got {near_ratio}")
    a = np.deg2rad(tilt_deg)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    below = (xx - (w - 1) / 2) * np.sin(a) + (yy - horizon * (h - 1)) * np.cos(a)
    s_max = float(below.max())
    if s_max <= 0:
        return np.ones((h, w))
    s_min = s_max / near_ratio
    return (s_max / np.maximum(below, s_min) - 1.0) / (near_ratio - 1.0)


def banded_depth(shape: Sequence[int], rng: np.random.Generator, bands: int, softness: float = 0.0) -> np.ndarray:
    """Horizontal bands in [0, 1]: `bands` bands of random heights (each 0.5-1.5 times the mean), whose
    depths are the evenly spaced levels 0 ... 1 in random order, then blurred vertically by a Gaussian of
    standard deviation `softness` x H pixels (0: sharp, exactly `bands` distinct values)."""
    h, w = int(shape[0]), int(shape[1])
    if bands < 1 or softness < 0:
        raise ValueError(f"banded depth needs bands >= 1 and band_softness >= 0, got {bands}, {softness}")
    heights = rng.uniform(0.5, 1.5, bands)
    edges = np.cumsum(heights) / heights.sum() * h
    levels = rng.permutation(np.linspace(0.0, 1.0, bands))
    rows = np.arange(h) + 0.5
    profile = levels[np.minimum(np.searchsorted(edges, rows), bands - 1)]
    sigma = softness * h
    if sigma > 0:
        r = int(np.ceil(3 * sigma))
        g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
        profile = np.convolve(np.pad(profile, r, mode="edge"), g / g.sum(), mode="valid")
    return np.broadcast_to(profile[:, None], (h, w)).copy()


def _normalize(x: np.ndarray) -> np.ndarray:
    span = float(x.max() - x.min())
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def transmission(depth: np.ndarray, beta: float) -> np.ndarray:
    """`t = exp(-beta * d)` (paper eq. 2)."""
    return np.exp(-float(beta) * np.asarray(depth, dtype=np.float64)).astype(np.float32)


def tinted_airlight(level: float, tint: float) -> np.ndarray:
    """A coloured atmospheric light (R, G, B) = clip(`level` * (1 - tint, 1, 1 + tint), 0, 1): tint > 0 is
    bluish (clear-sky scattering), < 0 yellowish (dust, smog), 0 grey."""
    return np.clip(float(level) * (1.0 + float(tint) * np.array([-1.0, 0.0, 1.0])), 0.0, 1.0).astype(np.float32)


def _model_depth(shape: Sequence[int], rng: np.random.Generator, model: str, *, depth_grid: int,
                 ramp_angle: Range, horizon: Range, horizon_tilt: Range, bands: int | Sequence[int],
                 band_softness: Range) -> tuple[np.ndarray, dict[str, Any]]:
    """A non-default depth model's map in [0, 1] and its sampled values."""
    if model == "noise":
        return noise_depth(shape, rng, grid=depth_grid), {}
    if model == "ramp":
        a = sample(rng, ramp_angle, "ramp_angle")
        return ramp_depth(shape, a), {"ramp_angle": a}
    if model == "planar":
        hz, tilt = sample(rng, horizon, "horizon"), sample(rng, horizon_tilt, "horizon_tilt")
        return planar_depth(shape, hz, tilt), {"horizon": hz, "horizon_tilt": tilt}
    n, soft = sample_int(rng, bands, "bands"), sample(rng, band_softness, "band_softness")
    return banded_depth(shape, rng, n, soft), {"bands": n, "band_softness": soft}


def haze_components(shape: Sequence[int], seed: int, *, beta: Range = (0.6, 1.8), airlight: Range = (0.7, 1.0),
                    depth: np.ndarray | None = None, depth_range: tuple[float, float] = (0.2, 1.0),
                    depth_grid: int = 4, vertical: float = 0.5, depth_model: str | Sequence[str] = "random",
                    ramp_angle: Range = (0.0, 360.0), horizon: Range = (0.2, 0.6),
                    horizon_tilt: Range = (-10.0, 10.0), bands: int | Sequence[int] = (2, 5),
                    band_softness: Range = (0.0, 0.05), airlight_tint: Range = 0.0,
                    ) -> tuple[np.ndarray, float | np.ndarray, dict]:
    """The transmission map `t` (H, W), the atmospheric light `A` and the sampled values used by `add_haze`.

    `A` is a float (grey) when `airlight_tint` is 0 (the default), else a float32 (R, G, B) array."""
    models = check_choices(depth_model, "depth_model", DEPTH_MODELS)
    rng = np.random.default_rng(seed)
    b = sample(rng, beta, "beta")
    a = sample(rng, airlight, "airlight")
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"airlight must lie in [0, 1], got {a}")
    info: dict[str, Any] = {"beta": b, "airlight": a}
    tinted = not (np.isscalar(airlight_tint) and float(airlight_tint) == 0.0)
    a_out: float | np.ndarray = a
    if tinted:
        tint = sample(rng, airlight_tint, "airlight_tint")
        a_out = tinted_airlight(a, tint)
        info.update(airlight_tint=tint, airlight_rgb=[float(v) for v in a_out])
    if depth is None:
        model = choose(seed, depth_model, "depth_model", DEPTH_MODELS)
        if model == "random":
            depth = random_depth(shape, rng, grid=depth_grid, vertical=vertical, depth_range=depth_range)
        else:
            unit, extra = _model_depth(shape, rng, model, depth_grid=depth_grid, ramp_angle=ramp_angle,
                                       horizon=horizon, horizon_tilt=horizon_tilt, bands=bands,
                                       band_softness=band_softness)
            lo, hi = depth_range
            depth = (lo + (hi - lo) * unit).astype(np.float32)
            info.update(extra)
        if models != ["random"]:
            info["depth_model"] = model
    else:
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != tuple(shape[:2]):
            raise ValueError(f"depth map has shape {depth.shape}, expected {tuple(shape[:2])}")
        if float(depth.min()) < 0:
            raise ValueError("depth map has negative values; expected distances >= 0")
    return transmission(depth, b), a_out, info


def add_haze(image: np.ndarray, seed: int, *, beta: Range = (0.6, 1.8), airlight: Range = (0.7, 1.0),
             depth: np.ndarray | None = None, depth_range: tuple[float, float] = (0.2, 1.0),
             depth_grid: int = 4, vertical: float = 0.5, depth_model: str | Sequence[str] = "random",
             ramp_angle: Range = (0.0, 360.0), horizon: Range = (0.2, 0.6), horizon_tilt: Range = (-10.0, 10.0),
             bands: int | Sequence[int] = (2, 5), band_softness: Range = (0.0, 0.05), airlight_tint: Range = 0.0,
             return_info: bool = False):
    """Hazes a float32 (H, W, 3) image in [0, 1] by eq. 2; deterministic for `seed`.

    Args:
        beta: scattering coefficient, a number or a `(low, high)` range sampled uniformly.
        airlight: grey level of the atmospheric light `A` in [0, 1], a number or a range (e.g. (0.8, 1.0)
            for a bright sky).
        airlight_tint: colour of `A` (`tinted_airlight`): 0 grey (default); > 0 bluish, < 0 yellowish; a
            number or a range, e.g. (-0.15, 0.15).
        depth: optional (H, W) depth map; otherwise one from `depth_model`, scaled to `depth_range`.
        depth_model: `"random"` (default), `"noise"`, `"ramp"`, `"planar"`, `"banded"` (module docstring), or
            a list of them, one drawn uniformly per image by seed.
        depth_grid, vertical: `"random"` (see `random_depth`; `depth_grid` also sets `"noise"`'s coarsest grid).
        ramp_angle: `"ramp"`: direction of growing depth, degrees counter-clockwise from +x (number or range).
        horizon, horizon_tilt: `"planar"`: horizon height as a fraction of the height from the top, and its
            rotation in degrees (numbers or ranges).
        bands, band_softness: `"banded"`: number of bands (int or inclusive range) and the vertical blur as a
            fraction of the height (number or range).
        return_info: also return `{"beta", "airlight"}` as sampled, plus `"airlight_tint"`, `"airlight_rgb"`
            when tinted and `"depth_model"` with its sampled values when `depth_model` is not the default.
    """
    img = check_float_rgb(image, tolerance=0.0)
    t, a, info = haze_components(img.shape, seed, beta=beta, airlight=airlight, depth=depth,
                                 depth_range=depth_range, depth_grid=depth_grid, vertical=vertical,
                                 depth_model=depth_model, ramp_angle=ramp_angle, horizon=horizon,
                                 horizon_tilt=horizon_tilt, bands=bands, band_softness=band_softness,
                                 airlight_tint=airlight_tint)
    t3 = t[..., None]
    a32 = np.float32(a) if np.isscalar(a) else np.asarray(a, dtype=np.float32)
    out = np.clip(img * t3 + a32 * (1.0 - t3), 0.0, 1.0).astype(np.float32)
    return (out, info) if return_info else out
