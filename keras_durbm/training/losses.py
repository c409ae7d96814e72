"""The training loss of every head: `1.1·(1 − SSIM) + 0.75·L1` (paper §5.1.2, docs/design.md §1.7).

SSIM is written here with `keras.ops` instead of calling `tf.image.ssim`, which
gives NaN gradients as a loss on flat patches (tensorflow#57353). Every
denominator below is a sum with the positive constant C1 or C2 and nothing takes
a square root or a power, so value and gradient stay finite on constant images.
The definition is Wang et al. 2004 with an 11×11 Gaussian window (σ = 1.5, the
window scikit-image uses with `gaussian_weights=True`), population covariances,
and the mean over the window positions that lie fully inside the image; it
equals `skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1, channel_axis=-1)` per image.
"""

from __future__ import annotations

import keras
import numpy as np

SSIM_WEIGHT = 1.1
L1_WEIGHT = 0.75
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # scikit-image: int(truncate·σ + 0.5) with truncate = 3.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def gaussian_window(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS) -> np.ndarray:
    """The normalised 1-D Gaussian, `2·radius + 1` taps (separable SSIM window)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return (w / w.sum()).astype(np.float32)


def _local_means(stack, channels: int):
    """Gaussian-weighted local means of each channel of `stack` ('valid' positions only)."""
    w = gaussian_window()
    size = w.shape[0]
    rows = np.tile(w.reshape(size, 1, 1, 1), (1, 1, channels, 1))
    cols = np.tile(w.reshape(1, size, 1, 1), (1, 1, channels, 1))
    out = keras.ops.depthwise_conv(stack, rows, strides=1, padding="valid")
    return keras.ops.depthwise_conv(out, cols, strides=1, padding="valid")


def ssim(images_a, images_b, data_range: float = 1.0):
    """Mean SSIM per image of two NHWC batches: shape (N,), float32; H and W must be >= 11."""
    a = keras.ops.cast(images_a, "float32")
    b = keras.ops.cast(images_b, "float32")
    size = 2 * SSIM_RADIUS + 1
    if a.shape[1] is not None and a.shape[2] is not None and min(a.shape[1], a.shape[2]) < size:
        raise ValueError(f"SSIM needs images of at least {size}×{size} pixels, got shape {tuple(a.shape)}")
    channels = a.shape[-1]
    stack = keras.ops.concatenate([a, b, a * a, b * b, a * b], axis=-1)
    mu_a, mu_b, e_aa, e_bb, e_ab = keras.ops.split(_local_means(stack, 5 * channels), 5, axis=-1)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_ab = mu_a * mu_b
    mu_aa = mu_a * mu_a
    mu_bb = mu_b * mu_b
    var_sum = (e_aa - mu_aa) + (e_bb - mu_bb)
    cov = e_ab - mu_ab
    ssim_map = ((2.0 * mu_ab + c1) * (2.0 * cov + c2)) / ((mu_aa + mu_bb + c1) * (var_sum + c2))
    return keras.ops.mean(ssim_map, axis=(1, 2, 3))


def mean_absolute_error(images_a, images_b):
    """Mean |a − b| per image: shape (N,), float32."""
    diff = keras.ops.cast(images_a, "float32") - keras.ops.cast(images_b, "float32")
    return keras.ops.mean(keras.ops.abs(diff), axis=(1, 2, 3))


def restoration_loss(restored, target, reduction: str = "mean"):
    """`1.1·(1 − SSIM) + 0.75·L1` (docs/design.md §1.7), computed in float32 on the unclipped output.

    Args:
        restored: the head's output, NHWC in about [0, 1] (any float dtype).
        target: the clean image, same shape.
        reduction: `"mean"` for a scalar, `"none"` for one value per image
            (what a distributed loop divides by the global batch size).
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    per_image = SSIM_WEIGHT * (1.0 - ssim(restored, target)) + L1_WEIGHT * mean_absolute_error(restored, target)
    return keras.ops.mean(per_image) if reduction == "mean" else per_image

