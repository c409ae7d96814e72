"""Pixel-array conversions used everywhere: uint8 ↔ float, centre crops, half-size resizing, PNG bytes.

Conventions, written once: images are NumPy HWC RGB arrays; float images are float32 in [0, 1]
(network outputs may overshoot a little), uint8 images in [0, 255]. `to_uint8` clips, scales by 255
and rounds half to even, and refuses values a [0, 1] image cannot have, so an image in [0, 255] is
never scaled by 255 a second time.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

_PEAK = 255.0
# Network outputs are tanh residual + input, so they lie in (-1, 2); anything outside is not a [0, 1] image.
_FLOAT_RANGE = (-1.0, 2.0)


class NotFloatImageError(TypeError, ValueError):
    """An integer image where a float image in [0, 1] was expected (a TypeError and a ValueError)."""


def check_float_rgb(image: np.ndarray, what: str = "image", *, tolerance: float = 1e-3) -> np.ndarray:
    """Validates a float RGB (H, W, 3) image in [0, 1] (± `tolerance`) and returns it as float32."""
    image = np.asarray(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise NotFloatImageError(f"{what} must be a float image in [0, 1] (RGB), got dtype {image.dtype} "
                                 "(divide uint8 images by 255, or use keras_durbm.images.pixels.to_float)")
    if image.ndim != 3 or image.shape[-1] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"{what} must have shape (H, W, 3), got {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError(f"{what} has NaN or infinite values")
    low, high = float(image.min()), float(image.max())
    if low < -tolerance or high > 1.0 + tolerance:
        raise ValueError(f"{what} must be in [0, 1], got values in [{low:g}, {high:g}] (a [0, 255] image?)")
    return image.astype(np.float32, copy=False)


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] → float32 [0, 1] (the division `read_image` does)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {image.dtype}")
    return image.astype(np.float32) / np.float32(_PEAK)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (a network output may overshoot) → uint8 by clipping and rounding.

    Rejects integer images and float images whose values cannot come from a [0, 1] image (for example a
    float image in [0, 255]), so the wrong range is caught instead of silently saturating.
    """
    image = np.asarray(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"to_uint8 expects a float image in [0, 1], got dtype {image.dtype}")
    if image.size and not np.isfinite(image).all():
        raise ValueError("to_uint8: the image has NaN or infinite values")
    if image.size and (image.min() < _FLOAT_RANGE[0] or image.max() > _FLOAT_RANGE[1]):
        raise ValueError(
            f"to_uint8 expects a float image in [0, 1], got values in [{image.min():g}, {image.max():g}]; "
            "a [0, 255] image should be converted with .astype(np.uint8) after rounding, not scaled again"
        )
    return np.rint(np.clip(image.astype(np.float64), 0.0, 1.0) * _PEAK).astype(np.uint8)


def center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The centre `height` × `width` window of an HW[C] array (the larger margin goes to the bottom/right)."""
    h, w = image.shape[:2]
    if not (0 < height <= h and 0 < width <= w):
        raise ValueError(f"cannot crop {height}x{width} out of an image of {h}x{w}")
    top, left = (h - height) // 2, (w - width) // 2
    return image[top:top + height, left:left + width]


def resize_half(image: np.ndarray) -> np.ndarray:
    """Halves width and height (floor) of a uint8 RGB image with PIL's antialiased bicubic filter, as the
    paper does for GoPro and DIV2K training images (docs/design.md §1.7)."""
    h, w = image.shape[:2]
    out = Image.fromarray(image, "RGB").resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BICUBIC)
    return np.asarray(out, dtype=np.uint8).copy()


def encode_png(image: np.ndarray, *, compress_level: int = 1) -> bytes:
    """Encodes a uint8 (H, W, 3) array as PNG (lossless; level 1 is ~4x faster than 6 for ~10% more bytes)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) array, got {image.dtype} {image.shape}")
    buffer = io.BytesIO()
    Image.fromarray(image, "RGB").save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """Decodes PNG bytes into a uint8 (H, W, 3) array."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
