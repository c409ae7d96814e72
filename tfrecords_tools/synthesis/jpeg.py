"""JPEG artefacts by real JPEG encoding with PIL (the authors' protocol: PIL `save("JPEG", quality=q)` of the
RGB image, Pillow's default 4:2:0 chroma subsampling), docs/design.md §1.8."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from keras_durbm.images.pixels import check_float_rgb, to_float, to_uint8

#: Training qualities of the authors' JPEG converter; the test set (LIVE1) uses 10.
TRAIN_QUALITIES = (10, 20, 30, 40)
TEST_QUALITY = 10


def jpeg_bytes(image_u8: np.ndarray, quality: int) -> bytes:
    """The JPEG file PIL writes for a uint8 (H, W, 3) RGB array at `quality` (1..95)."""
    if image_u8.dtype != np.uint8 or image_u8.ndim != 3 or image_u8.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) array, got {image_u8.dtype} {image_u8.shape}")
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    buf = io.BytesIO()
    Image.fromarray(image_u8, "RGB").save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decodes JPEG bytes with PIL into uint8 (H, W, 3)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def jpeg_roundtrip_u8(image_u8: np.ndarray, quality: int) -> np.ndarray:
    """uint8 image -> PIL JPEG at `quality` -> decoded uint8 image."""
    return decode_jpeg(jpeg_bytes(image_u8, quality))


def pick_quality(seed: int, quality: int | Sequence[int]) -> int:
    """A fixed quality stays; from a list one is drawn uniformly with `seed`."""
    if np.isscalar(quality):
        return int(quality)
    choices = [int(q) for q in quality]
    if not choices:
        raise ValueError("quality list is empty")
    return choices[int(np.random.default_rng(seed).integers(len(choices)))]


def add_jpeg(image: np.ndarray, seed: int, *, quality: int | Sequence[int] = TRAIN_QUALITIES,
             return_info: bool = False):
    """Compresses a float32 (H, W, 3) image in [0, 1] (rounded to uint8 first) and returns the decoded
    JPEG as float32 in [0, 1]. `quality`: one value, or a list drawn from with `seed`."""
    img = check_float_rgb(image, tolerance=0.0)
    q = pick_quality(seed, quality)
    out = to_float(jpeg_roundtrip_u8(to_uint8(img), q))
    return (out, {"quality": q}) if return_info else out
