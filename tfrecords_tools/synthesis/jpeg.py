"""JPEG artefacts by real JPEG encoding with PIL (the authors' protocol: PIL `save("JPEG", quality=q)` of the
RGB image, Pillow's default 4:2:0 chroma subsampling), docs/design.md §1.8.

Options beyond the protocol: `quality_range` draws any integer quality of a range (e.g. 5-40) instead of
one of the list `quality`, and `subsampling` sets PIL's chroma subsampling ("4:4:4": none, "4:2:2":
chroma halved horizontally, "4:2:0": halved in both directions) or draws one per image from a list.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from keras_durbm.images.pixels import check_float_rgb, to_float, to_uint8
from tfrecords_tools.synthesis._common import check_choices, choose

#: Training qualities of the authors' JPEG converter; the test set (LIVE1) uses 10.
TRAIN_QUALITIES = (10, 20, 30, 40)
TEST_QUALITY = 10
#: Chroma subsampling modes of `add_jpeg(subsampling=...)` -> PIL's `save(subsampling=...)` value.
SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def check_subsampling(value: str | Sequence[str]) -> list[str]:
    """`value` as a list of `SUBSAMPLING` names; the error names the valid ones, and explains numbers (YAML
    reads an unquoted 4:2:0 as the base-60 integer 14520)."""
    for v in list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]:
        if not isinstance(v, str):
            raise ValueError(f"subsampling {v!r} is not a name; expected one of {', '.join(map(repr, SUBSAMPLING))} "
                             "(YAML reads an unquoted 4:2:0 as the base-60 number 14520: quote it, \"4:2:0\")")
    return check_choices(value, "subsampling", tuple(SUBSAMPLING))


def jpeg_bytes(image_u8: np.ndarray, quality: int, *, subsampling: str | None = None) -> bytes:
    """The JPEG file PIL writes for a uint8 (H, W, 3) RGB array at `quality` (1..95). `subsampling`:
    None for PIL's default (4:2:0, the protocol), or one of `SUBSAMPLING`."""
    if image_u8.dtype != np.uint8 or image_u8.ndim != 3 or image_u8.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) array, got {image_u8.dtype} {image_u8.shape}")
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    buf = io.BytesIO()
    if subsampling is None:
        Image.fromarray(image_u8, "RGB").save(buf, format="JPEG", quality=int(quality))
    else:
        mode = SUBSAMPLING[check_subsampling(subsampling)[0]]
        Image.fromarray(image_u8, "RGB").save(buf, format="JPEG", quality=int(quality), subsampling=mode)
    return buf.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decodes JPEG bytes with PIL into uint8 (H, W, 3)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def jpeg_roundtrip_u8(image_u8: np.ndarray, quality: int, *, subsampling: str | None = None) -> np.ndarray:
    """uint8 image -> PIL JPEG at `quality` (and `subsampling`, see `jpeg_bytes`) -> decoded uint8 image."""
    return decode_jpeg(jpeg_bytes(image_u8, quality, subsampling=subsampling))


def pick_quality(seed: int, quality: int | Sequence[int]) -> int:
    """A fixed quality stays; from a list one is drawn uniformly with `seed`."""
    if np.isscalar(quality):
        return int(quality)
    choices = [int(q) for q in quality]
    if not choices:
        raise ValueError("quality list is empty")
    return choices[int(np.random.default_rng(seed).integers(len(choices)))]


def pick_quality_range(seed: int, quality_range: Sequence[int]) -> int:
    """An integer quality drawn uniformly from `(low, high)`, both included, with `seed`."""
    lo, hi = (int(q) for q in quality_range)
    if not 1 <= lo <= hi <= 100:
        raise ValueError(f"quality_range must be (low, high) with 1 <= low <= high <= 100, got {quality_range}")
    return int(np.random.default_rng(seed).integers(lo, hi + 1))


def add_jpeg(image: np.ndarray, seed: int, *, quality: int | Sequence[int] = TRAIN_QUALITIES,
             quality_range: Sequence[int] | None = None, subsampling: str | Sequence[str] | None = None,
             return_info: bool = False):
    """Compresses a float32 (H, W, 3) image in [0, 1] (rounded to uint8 first) and returns the decoded
    JPEG as float32 in [0, 1].

    Args:
        quality: one value, or a list drawn from with `seed` (default: the authors' 10, 20, 30, 40).
        quality_range: `(low, high)`: instead of `quality`, any integer in low..high (both included) drawn
            with `seed`, e.g. (5, 40). Default None: use `quality`.
        subsampling: chroma subsampling, `"4:4:4"`, `"4:2:2"` or `"4:2:0"` (strings: quote them in YAML), or a
            list of them, one drawn per image by seed (its own stream). Default None: PIL's default, 4:2:0
            (the protocol).
        return_info: also return `{"quality"}` (and `"subsampling"` when it is set).
    """
    img = check_float_rgb(image, tolerance=0.0)
    if subsampling is not None:
        check_subsampling(subsampling)
    q = pick_quality(seed, quality) if quality_range is None else pick_quality_range(seed, quality_range)
    sub = None if subsampling is None else choose(seed, subsampling, "subsampling", tuple(SUBSAMPLING))
    out = to_float(jpeg_roundtrip_u8(to_uint8(img), q, subsampling=sub))
    info = {"quality": q} if sub is None else {"quality": q, "subsampling": sub}
    return (out, info) if return_info else out
