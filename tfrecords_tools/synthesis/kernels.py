"""Blur kernels and 2-D convolution in NumPy, shared by the motion-blur and rain synthesizers.

Convolution convention (true convolution, the image of a point is the kernel itself):
`out[y, x] = sum_{i, j} k[i, j] * img[y + r0 - i, x + r1 - j]` with `r = k.shape // 2`, kernels of odd size.
"""

from __future__ import annotations

import numpy as np


def convolve_same(image: np.ndarray, kernel: np.ndarray, *, mode: str = "reflect") -> np.ndarray:
    """Convolves each channel of `image` (H, W[, C]) with `kernel` (odd sizes) via FFT; output has the
    input's size. `mode` is the NumPy pad mode for the borders ("reflect" or "constant" for zeros)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(f"kernel must be 2-D with odd sizes, got {kernel.shape}")
    img = np.asarray(image, dtype=np.float64)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[..., None]
    h, w = img.shape[:2]
    r0, r1 = kernel.shape[0] // 2, kernel.shape[1] // 2
    if mode == "reflect" and (r0 >= h or r1 >= w):
        mode = "symmetric" if (r0 <= h and r1 <= w) else "wrap"
    padded = np.pad(img, ((r0, r0), (r1, r1), (0, 0)), mode=mode)
    shape = (padded.shape[0] + kernel.shape[0] - 1, padded.shape[1] + kernel.shape[1] - 1)
    spec = np.fft.rfft2(padded, s=shape, axes=(0, 1)) * np.fft.rfft2(kernel, s=shape)[..., None]
    full = np.fft.irfft2(spec, s=shape, axes=(0, 1))
    out = full[2 * r0:2 * r0 + h, 2 * r1:2 * r1 + w]
    return out[..., 0] if squeeze else out


def rasterize_path(points: np.ndarray, size: int) -> np.ndarray:
    """Splats the (N, 2) points `(x, y)` (pixel units, origin at the kernel centre) bilinearly into a
    `size` x `size` grid, one unit of mass per point. Points falling outside are dropped."""
    if size % 2 == 0:
        raise ValueError(f"kernel size must be odd, got {size}")
    grid = np.zeros((size, size), dtype=np.float64)
    c = size // 2
    xs = np.asarray(points[:, 0], dtype=np.float64) + c
    ys = np.asarray(points[:, 1], dtype=np.float64) + c
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dy, dx, wgt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                        (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        yy, xx = y0 + dy, x0 + dx
        ok = (yy >= 0) & (yy < size) & (xx >= 0) & (xx < size)
        np.add.at(grid, (yy[ok], xx[ok]), wgt[ok])
    return grid


def line_points(length: float, angle_deg: float) -> np.ndarray:
    """Points every 1/4 pixel along a centred segment of `length` pixels whose direction is
    `angle_deg` from vertical (positive: the lower end lies to the right)."""
    n = max(2, int(np.ceil(length * 4)) + 1)
    t = np.linspace(-0.5, 0.5, n) * max(length - 1.0, 0.0)
    a = np.deg2rad(angle_deg)
    return np.stack([t * np.sin(a), t * np.cos(a)], axis=1)


def odd_size_for(points: np.ndarray) -> int:
    """Smallest odd square size that holds `points` (centred) with a 1-pixel margin."""
    extent = float(np.max(np.abs(points))) if len(points) else 0.0
    return 2 * int(np.ceil(extent)) + 3
