"""Blur kernels and 2-D convolution in NumPy, shared by the motion-blur and rain synthesizers: straight
lines and circular arcs rasterised anti-aliased (bilinear splatting) into kernels summing to 1.

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


def rasterize_path(points: np.ndarray, size: int, *, weights: np.ndarray | None = None) -> np.ndarray:
    """Splats the (N, 2) points `(x, y)` (pixel units, origin at the kernel centre) bilinearly into a
    `size` x `size` grid, one unit of mass per point (or `weights[i]` for point i). Points falling outside
    are dropped."""
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
        if weights is not None:
            wgt = wgt * np.asarray(weights, dtype=np.float64)
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


def arc_points(length: float, angle_deg: float, curvature: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A path of `length` pixels as weighted points `(x, y)` (y pointing down) and their masses.

    The path is a circular arc of `curvature` (1 / radius, in 1/px; 0: a straight segment) whose chord,
    and tangent at its middle, point `angle_deg` counter-clockwise from the +x axis as seen on the screen
    (0: horizontal, 90: vertical); positive curvature bends counter-clockwise. Mass is spread uniformly
    along the arc between the centres of its end pixels (arc length `length - 1`, 8 points per pixel,
    trapezoid weights) plus half a pixel's mass on each end point, so a horizontal line of an integer
    `length` L rasterises to exactly a 1 x L box of ones; the masses sum to `max(length, 1)`. The
    straight segment is centred on its middle; an arc is shifted to its centre of mass (the blurred
    image is then not displaced on average)."""
    if not np.isfinite(length) or length < 0:
        raise ValueError(f"length must be a finite number >= 0, got {length}")
    if not np.isfinite(curvature):
        raise ValueError(f"curvature must be finite, got {curvature}")
    arc = max(float(length) - 1.0, 0.0)
    n = max(2, int(np.ceil(arc * 8)) + 1)
    s = np.linspace(-0.5, 0.5, n) * arc
    weights = np.full(n, arc / (n - 1))
    weights[[0, -1]] = weights[0] / 2 + 0.5
    a = np.deg2rad(angle_deg)
    u = np.array([np.cos(a), -np.sin(a)])  # chord direction on the screen (y down)
    nrm = np.array([-np.sin(a), -np.cos(a)])  # u turned 90 degrees counter-clockwise on the screen
    k = float(curvature)
    # (sin(k s) / k, (1 - cos(k s)) / k), written with sinc so that k = 0 gives exactly (s, 0)
    along = s * np.sinc(k * s / np.pi)
    across = 0.5 * k * s * s * np.sinc(k * s / (2 * np.pi)) ** 2
    pts = along[:, None] * u + across[:, None] * nrm
    if k != 0.0:
        pts = pts - np.average(pts, axis=0, weights=weights)
    return pts, weights


def path_kernel(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted points rasterised (bilinear) into the smallest odd square holding them, normalised to sum 1."""
    k = rasterize_path(points, odd_size_for(points), weights=weights)
    return k / k.sum()


def line_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Linear motion blur: a straight line of `length` pixels at `angle_deg` counter-clockwise from
    horizontal (like MATLAB's `fspecial("motion", length, angle)`), anti-aliased, summing to 1; see
    `arc_points`. A horizontal line of integer length L is exactly a 1 x L box of 1/L."""
    return path_kernel(*arc_points(length, angle_deg, 0.0))


def curve_kernel(length: float, angle_deg: float, curvature: float) -> np.ndarray:
    """Curved motion blur: a circular arc of `length` pixels (arc length), chord at `angle_deg`
    counter-clockwise from horizontal, `curvature` = 1 / radius in 1/px (sign: bending direction),
    anti-aliased, centred on its centre of mass, summing to 1; `curvature=0` gives `line_kernel`."""
    return path_kernel(*arc_points(length, angle_deg, curvature))
