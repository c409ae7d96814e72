"""Motion blur: a random blur kernel summing to 1, convolved with the image (reflect borders), plus optional
Gaussian noise. Three kernel families (`family`; a list draws one per image by seed):

* `"trajectory"` (default): camera shake. The trajectory is a random walk of constant speed whose velocity
  drifts (`anxiety`: random acceleration), is pulled back towards the start (`centripetal`) and sometimes
  turns sharply (`shake_prob` per step, an impulsive shake), in the spirit of Boracchi & Foi (2012). Its
  total length is `length` pixels; it is centred on its centre of mass so the blurred image is not shifted
  on average (GoPro's sharp frame is the middle one of the averaged exposure).
* `"line"`: uniform linear motion, a straight line of `length` px at `angle` degrees counter-clockwise
  from horizontal (`kernels.line_kernel`, like MATLAB's `fspecial("motion")`).
* `"curve"`: a circular arc of arc length `length` px, chord at `angle`, `curvature` = 1 / radius in 1/px
  (`kernels.curve_kernel`; 0 gives the line).

All are rasterised anti-aliased (bilinear splatting, `kernels.rasterize_path`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_durbm.images.pixels import check_float_rgb
from tfrecords_tools.synthesis._common import Range, check_choices, choose, sample
from tfrecords_tools.synthesis.kernels import (
    convolve_same,
    curve_kernel,
    line_kernel,
    odd_size_for,
    rasterize_path,
)

#: The kernel families of `add_motion_blur(family=...)`.
FAMILIES = ("trajectory", "line", "curve")


def _trajectory(rng: np.random.Generator, length: float, steps: int, anxiety: float, centripetal: float,
                shake_prob: float) -> np.ndarray:
    step = length / max(steps - 1, 1)
    v = step * np.exp(1j * rng.uniform(0.0, 2.0 * np.pi))
    x = np.zeros(steps, dtype=np.complex128)
    for t in range(1, steps):
        if rng.random() < shake_prob:
            v = v * np.exp(1j * (np.pi + rng.uniform(-0.5, 0.5)) * rng.uniform(0.3, 1.0))
        dv = anxiety * step * complex(rng.standard_normal(), rng.standard_normal()) - centripetal * x[t - 1] / max(length, 1e-9) * step
        v = v + dv
        v = v / (abs(v) + 1e-12) * step
        x[t] = x[t - 1] + v
    # Densify to ~8 points per pixel so the bilinear splat is smooth.
    seg = np.abs(np.diff(x))
    pos = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(2, int(np.ceil(pos[-1] * 8)) + 1)
    s = np.linspace(0.0, pos[-1], n)
    dense = np.interp(s, pos, x.real) + 1j * np.interp(s, pos, x.imag)
    dense = dense - dense.mean()
    return np.stack([dense.real, dense.imag], axis=1)


def _kernel(rng: np.random.Generator, length: Range, steps: int, anxiety: float, centripetal: float,
            shake_prob: float) -> tuple[np.ndarray, float]:
    ln = sample(rng, length, "length")
    if ln < 0:
        raise ValueError(f"length must be >= 0, got {ln}")
    pts = _trajectory(rng, ln, steps, anxiety, centripetal, shake_prob)
    k = rasterize_path(pts, odd_size_for(pts))
    return (k / k.sum()).astype(np.float64), ln


def _family_kernel(rng: np.random.Generator, family: str, length: Range, angle: Range,
                   curvature: Range) -> tuple[np.ndarray, dict[str, Any]]:
    """A `"line"` or `"curve"` kernel with its sampled length, angle (and curvature)."""
    ln = sample(rng, length, "length")
    if ln < 0:
        raise ValueError(f"length must be >= 0, got {ln}")
    ang = sample(rng, angle, "angle")
    if family == "line":
        return line_kernel(ln, ang), {"length": ln, "angle": ang}
    kappa = sample(rng, curvature, "curvature")
    return curve_kernel(ln, ang, kappa), {"length": ln, "angle": ang, "curvature": kappa}


def _any_kernel(seed: int, rng: np.random.Generator, family: str | Sequence[str], length: Range, steps: int,
                anxiety: float, centripetal: float, shake_prob: float, angle: Range,
                curvature: Range) -> tuple[np.ndarray, dict[str, Any]]:
    """The kernel of the family chosen for `seed` and the sampled values. The default single
    `"trajectory"` draws exactly what the code drew before the other families existed; the family of a
    list is drawn from a stream of its own (`_common.choose`), so `rng` is untouched by it."""
    fam = choose(seed, family, "family", FAMILIES)
    if fam == "trajectory":
        kernel, ln = _kernel(rng, length, steps, anxiety, centripetal, shake_prob)
        extra: dict[str, Any] = {"length": ln}
    else:
        kernel, extra = _family_kernel(rng, fam, length, angle, curvature)
    if not (isinstance(family, str) and family == "trajectory"):
        extra = {"family": fam, **extra}
    return kernel, extra


def motion_kernel(seed: int, *, family: str | Sequence[str] = "trajectory", length: Range = (5.0, 25.0),
                  steps: int = 64, anxiety: float = 0.3, centripetal: float = 0.2, shake_prob: float = 0.05,
                  angle: Range = (0.0, 180.0), curvature: Range = (-0.1, 0.1)) -> np.ndarray:
    """The random kernel (odd square, non-negative, sums to 1) that `add_motion_blur` uses for the same
    `seed` and parameters."""
    check_choices(family, "family", FAMILIES)
    kernel, _ = _any_kernel(seed, np.random.default_rng(seed), family, length, steps, anxiety, centripetal,
                            shake_prob, angle, curvature)
    return kernel


def add_motion_blur(image: np.ndarray, seed: int, *, family: str | Sequence[str] = "trajectory",
                    length: Range = (5.0, 25.0), steps: int = 64, anxiety: float = 0.3, centripetal: float = 0.2,
                    shake_prob: float = 0.05, angle: Range = (0.0, 180.0), curvature: Range = (-0.1, 0.1),
                    noise_sigma: Range = 0.0, kernel: np.ndarray | None = None, return_info: bool = False):
    """Blurs a float32 (H, W, 3) image in [0, 1] with a random motion kernel; deterministic for `seed`.

    Args:
        family: `"trajectory"` (camera shake, the default), `"line"` or `"curve"` (see the module
            docstring), or a list of them, one drawn uniformly per image by seed.
        length: path length in pixels for every family (a number or a `(low, high)` range).
        steps, anxiety, centripetal, shake_prob: trajectory shape (see the module docstring).
        angle: direction of a line / chord of a curve, degrees counter-clockwise from horizontal (number or
            range; the default covers all directions, a line at 180 is the one at 0).
        curvature: 1 / radius of a curve in 1/px, signed (number or range; |curvature| * length is the
            angle the arc turns, in radians).
        noise_sigma: standard deviation of added Gaussian noise (0: none), a number or a range.
        kernel: use this kernel instead of a random one (odd sizes; it is not renormalised).
        return_info: also return `{"length", "kernel_size", "noise_sigma"}`, plus `"family"`, `"angle"` and
            `"curvature"` as they apply when `family` is not the default `"trajectory"`.
    """
    img = check_float_rgb(image, tolerance=0.0)
    check_choices(family, "family", FAMILIES)
    rng = np.random.default_rng(seed)
    if kernel is None:
        kernel, extra = _any_kernel(seed, rng, family, length, steps, anxiety, centripetal, shake_prob, angle,
                                    curvature)
    else:
        kernel, extra = np.asarray(kernel, dtype=np.float64), {"length": float("nan")}
    out = convolve_same(img, kernel, mode="reflect")
    sigma = sample(rng, noise_sigma, "noise_sigma")
    if sigma > 0:
        out = out + rng.normal(0.0, sigma, size=out.shape)
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    info = {**extra, "kernel_size": int(kernel.shape[0]), "noise_sigma": sigma}
    return (out, info) if return_info else out
