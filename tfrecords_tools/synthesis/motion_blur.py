"""Camera-shake motion blur: a random camera trajectory rasterised into a kernel summing to 1, convolved
with the image (reflect borders), plus optional Gaussian noise.

The trajectory is a random walk of constant speed whose velocity drifts (`anxiety`: random acceleration),
is pulled back towards the start (`centripetal`) and sometimes turns sharply (`shake_prob` per step, an
impulsive shake), in the spirit of Boracchi & Foi (2012). Its total length is `length` pixels; it is
centred on its centre of mass so the blurred image is not shifted on average (GoPro's sharp frame is the
middle one of the averaged exposure).
"""

from __future__ import annotations

import numpy as np

from keras_durbm.images.pixels import check_float_rgb
from tfrecords_tools.synthesis._common import Range, sample
from tfrecords_tools.synthesis.kernels import convolve_same, odd_size_for, rasterize_path


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


def motion_kernel(seed: int, *, length: Range = (5.0, 25.0), steps: int = 64, anxiety: float = 0.3,
                  centripetal: float = 0.2, shake_prob: float = 0.05) -> np.ndarray:
    """The random camera-trajectory kernel (odd square, non-negative, sums to 1) that `add_motion_blur`
    uses for the same `seed` and parameters."""
    kernel, _ = _kernel(np.random.default_rng(seed), length, steps, anxiety, centripetal, shake_prob)
    return kernel


def add_motion_blur(image: np.ndarray, seed: int, *, length: Range = (5.0, 25.0), steps: int = 64,
                    anxiety: float = 0.3, centripetal: float = 0.2, shake_prob: float = 0.05,
                    noise_sigma: Range = 0.0, kernel: np.ndarray | None = None, return_info: bool = False):
    """Blurs a float32 (H, W, 3) image in [0, 1] with a random camera-shake kernel; deterministic for `seed`.

    Args:
        length: trajectory length in pixels (a number or a `(low, high)` range).
        steps, anxiety, centripetal, shake_prob: trajectory shape (see the module docstring).
        noise_sigma: standard deviation of added Gaussian noise (0: none), a number or a range.
        kernel: use this kernel instead of a random one (odd sizes; it is not renormalised).
        return_info: also return `{"length", "kernel_size", "noise_sigma"}`.
    """
    img = check_float_rgb(image, tolerance=0.0)
    rng = np.random.default_rng(seed)
    if kernel is None:
        kernel, ln = _kernel(rng, length, steps, anxiety, centripetal, shake_prob)
    else:
        kernel, ln = np.asarray(kernel, dtype=np.float64), float("nan")
    out = convolve_same(img, kernel, mode="reflect")
    sigma = sample(rng, noise_sigma, "noise_sigma")
    if sigma > 0:
        out = out + rng.normal(0.0, sigma, size=out.shape)
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    info = {"length": ln, "kernel_size": int(kernel.shape[0]), "noise_sigma": sigma}
    return (out, info) if return_info else out
