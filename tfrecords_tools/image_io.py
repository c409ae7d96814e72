"""Reading and validating source images, and the uint8 <-> float and PNG conversions used everywhere.

Source images must be 8-bit RGB. Grayscale, palette, alpha, 16-bit and CMYK images are rejected with a
message naming the file, unless the caller asks to coerce them (`coerce=True`): then L/LA/P/RGBA become RGB
(RGBA only when fully opaque) and 16-bit samples are scaled to 8 bits by rounding `x / 257`.
"""

from __future__ import annotations

import dataclasses
import io
import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from tfrecords_tools.errors import BadImageError

#: File extensions treated as images when listing source folders (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp")

_MODE_TEXT = {
    "1": "1-bit black and white",
    "L": "8-bit grayscale",
    "LA": "grayscale with alpha",
    "P": "palette (indexed colour)",
    "RGBA": "RGB with alpha",
    "CMYK": "CMYK",
    "I": "32-bit integer grayscale",
    "I;16": "16-bit grayscale",
    "I;16B": "16-bit grayscale",
    "F": "32-bit float grayscale",
    "YCbCr": "YCbCr",
}
EXPECTED = "an 8-bit RGB image"


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """Header facts of an image file, read without decoding the pixels."""

    path: str
    height: int
    width: int
    mode: str
    bits: int


def is_image_file(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_images(folder: str | os.PathLike) -> list[str]:
    """Sorted image file names (not paths) directly inside `folder`; hidden files are ignored."""
    return sorted(n for n in os.listdir(folder) if not n.startswith(".") and is_image_file(n)
                  and os.path.isfile(os.path.join(folder, n)))


def _bits_per_sample(img: Image.Image) -> int:
    # Pillow opens 16-bit-per-channel RGB PNGs as mode "RGB" and silently drops the low byte; the
    # decoder's raw mode ("RGB;16B") still tells.
    for tile in getattr(img, "tile", None) or ():
        rawmode = tile[3] if len(tile) > 3 else None
        if isinstance(rawmode, tuple):
            rawmode = rawmode[0] if rawmode else None
        if isinstance(rawmode, str) and ";16" in rawmode:
            return 16
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return 16
    if img.mode in ("I", "F"):
        return 32
    if img.mode == "1":
        return 1
    return 8


def _open(path: str) -> Image.Image:
    if not os.path.exists(path):
        raise BadImageError(path, "file does not exist", EXPECTED)
    try:
        return Image.open(path)
    except UnidentifiedImageError as e:
        raise BadImageError(path, "not a readable image (corrupt file or unknown format)", EXPECTED) from e
    except OSError as e:
        raise BadImageError(path, f"cannot open image ({e})", EXPECTED) from e


def probe_image(path: str | os.PathLike, *, coerce: bool = False) -> ImageInfo:
    """Reads the header of `path` and checks its colour mode and bit depth; the pixels are not decoded."""
    path = os.fspath(path)
    with _open(path) as img:
        info = ImageInfo(path, img.height, img.width, img.mode, _bits_per_sample(img))
    _check_mode(info, coerce=coerce)
    return info


def _check_mode(info: ImageInfo, *, coerce: bool) -> None:
    if info.mode == "RGB" and info.bits == 8:
        return
    what = _MODE_TEXT.get(info.mode, f"mode {info.mode!r}")
    if info.bits == 16:
        what = f"16-bit {'RGB' if info.mode == 'RGB' else what}"
    if coerce and info.mode in ("L", "LA", "P", "RGBA", "RGB", "I;16", "I;16B", "I;16L", "I", "1"):
        return
    raise BadImageError(info.path, f"image is {what}", EXPECTED + (
        " (or pass --coerce-rgb to convert grayscale/palette/opaque-alpha/16-bit images)" if not coerce else ""))


def read_rgb(path: str | os.PathLike, *, coerce: bool = False) -> np.ndarray:
    """Decodes `path` into a uint8 (H, W, 3) array; truncated or corrupt data raises `BadImageError`."""
    path = os.fspath(path)
    with _open(path) as img:
        info = ImageInfo(path, img.height, img.width, img.mode, _bits_per_sample(img))
        _check_mode(info, coerce=coerce)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as e:
            raise BadImageError(path, f"truncated or corrupt image data ({e})", EXPECTED) from e
        if info.mode == "RGB" and info.bits == 8:
            return np.asarray(img, dtype=np.uint8).copy()
        return _coerce_to_rgb(img, info)


def _coerce_to_rgb(img: Image.Image, info: ImageInfo) -> np.ndarray:
    if info.bits == 16 and info.mode == "RGB":
        # Pillow has already reduced the samples to 8 bits (it keeps the high byte); re-decoding at 16 bits
        # is not supported by Pillow, so the high byte is what we can offer.
        return np.asarray(img, dtype=np.uint8).copy()
    if info.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img).astype(np.float64)
        gray = np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if info.mode == "RGBA":
        alpha = np.asarray(img.getchannel("A"))
        if alpha.min() < 255:
            raise BadImageError(info.path, "RGBA image has transparent pixels, which cannot be made RGB "
                                "without inventing a background", "an opaque image")
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def check_same_size(input_path: str, input_hw: tuple[int, int], target_path: str,
                    target_hw: tuple[int, int]) -> None:
    """Raises `BadImageError` naming both files when an input/target pair differs in size."""
    if tuple(input_hw) != tuple(target_hw):
        raise BadImageError(
            input_path,
            f"size {input_hw[1]}x{input_hw[0]} (WxH) differs from its target {target_path} "
            f"({target_hw[1]}x{target_hw[0]})", "input and target of the same size")


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [0, 1]."""
    if image.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {image.dtype}")
    return image.astype(np.float32) / np.float32(255.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 by rounding to the nearest level (values outside [0, 1] are clipped)."""
    return np.clip(np.round(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def encode_png(image: np.ndarray, *, compress_level: int = 1) -> bytes:
    """Encodes a uint8 (H, W, 3) array as PNG (lossless; level 1 is ~4x faster than 6 for ~10% more bytes)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) array, got {image.dtype} {image.shape}")
    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """Decodes PNG bytes into a uint8 (H, W, 3) array (PIL; used by `inspect` and tests)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def resize_half(image: np.ndarray) -> np.ndarray:
    """Halves width and height (floor) with PIL's antialiased bicubic filter, as the paper does for
    GoPro and DIV2K training images (DESIGN §1.7)."""
    h, w = image.shape[:2]
    out = Image.fromarray(image, "RGB").resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BICUBIC)
    return np.asarray(out, dtype=np.uint8).copy()


def center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Crops the centre `height` x `width` window (the larger margin goes to the bottom/right when odd)."""
    h, w = image.shape[:2]
    top, left = (h - height) // 2, (w - width) // 2
    return image[top:top + height, left:left + width]
