"""Reading and writing the images users restore: any common format, mode and bit depth, EXIF-upright.

`read_image` gives the network what it takes (float32 RGB in [0, 1], HxWx3) and keeps aside what the
network does not see, so that `write_image` can put the result back in the input's form:

* grayscale (L, I;16, LA) is replicated to RGB and written back as grayscale (BT.601 luma, the
  weights of PIL's `convert("L")`);
* alpha (RGBA, LA, palette with transparency) is kept bit-exact and re-attached;
* 16-bit PNG and TIFF keep their 16-bit precision (Pillow reduces 16-bit colour to 8 bits, so those
  are decoded with TensorFlow's PNG codec and tifffile) and are written back as 16-bit;
* the EXIF orientation is applied (the pixels are turned upright; the output carries no orientation
  tag), and an embedded ICC profile is written back.

Palette, CMYK and other modes are converted to RGB(A) and written as such. Every error names the file.
Writes are atomic: a temporary file in the destination folder, then `os.replace`.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from keras_durbm.atomic_files import atomic_path
from tfrecords_tools.errors import BadImageError

#: Output formats by extension (lower case); the input's extension picks the output format.
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF",
                  ".tiff": "TIFF", ".webp": "WEBP"}
# Pillow modes each output format can hold at 8 bits (others are converted, see `_fit_mode`). Pillow
# writes RGBA BMPs but reads them back as RGB, so BMP counts as a format without alpha.
_MODES = {"PNG": {"L", "LA", "RGB", "RGBA"}, "TIFF": {"L", "LA", "RGB", "RGBA"}, "BMP": {"L", "RGB"},
          "JPEG": {"L", "RGB"}, "WEBP": {"RGB", "RGBA"}}
_SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")
JPEG_QUALITY = 95
_EXIF_ORIENTATION = 0x0112
_READABLE = "a PNG, JPEG, BMP, TIFF or WebP image"
# PIL's convert("L") weights (ITU-R 601-2 luma), used to write grayscale images back.
_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])


@dataclasses.dataclass(frozen=True, eq=False)
class ImageExtras:
    """What `read_image` kept aside so `write_image` can restore the file's form.

    Args:
        path: the file read.
        format: Pillow's format name (`PNG`, `JPEG`, …).
        grayscale: the file held one colour channel.
        bit_depth: 8 or 16 bits per sample.
        alpha: the alpha channel, oriented, in the file's integer dtype (uint8/uint16), or None.
        icc_profile: the embedded ICC profile bytes, or None.
    """

    path: str
    format: str
    grayscale: bool = False
    bit_depth: int = 8
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None


# --- reading ---------------------------------------------------------------------------------------------


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turns an HW[C] array upright for an EXIF orientation 1–8 (the transposes of PIL's `exif_transpose`)."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, k=1),
    }
    return np.ascontiguousarray(ops.get(int(orientation), ops[1])(array))


def _png_bit_depth(header: bytes) -> int | None:
    if header[:8] == b"\x89PNG\r\n\x1a\n" and len(header) > 24:
        return header[24]
    return None


def _is_tiff(header: bytes) -> bool:
    return header[:4] in (b"II*\x00", b"MM\x00*")


def _decode_png16(path: str) -> np.ndarray:
    import tensorflow as tf  # only 16-bit PNGs need TensorFlow's codec (Pillow keeps 8 bits of colour)

    with open(path, "rb") as f:
        data = f.read()
    try:
        return tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
    except tf.errors.OpError as error:
        raise BadImageError(path, f"truncated or corrupt 16-bit PNG ({error.message.strip()})", _READABLE) from None


def _read_tiff16(path: str) -> tuple[np.ndarray, int, bytes | None] | None:
    """(array, orientation, icc) of a 16-bit TIFF via tifffile, or None when the TIFF is not 16-bit or its
    compression needs the optional imagecodecs package (Pillow then reads it)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if page.bitspersample != 16:
                return None
            try:
                array = page.asarray()
            except ValueError as error:
                if "imagecodecs" not in str(error):
                    raise
                warnings.warn(f"{path}: this TIFF's compression needs the imagecodecs package; reading it with "
                              "Pillow, which keeps only 8 bits of 16-bit colour (grayscale keeps 16)", stacklevel=4)
                return None
            if page.axes.startswith("S"):  # planar storage
                array = np.moveaxis(array, 0, -1)
            orientation_tag = page.tags.get("Orientation")
            icc_tag = page.tags.get("InterColorProfile")
            orientation = int(orientation_tag.value) if orientation_tag else 1
            icc = bytes(icc_tag.value) if icc_tag else None
    except (tifffile.TiffFileError, ValueError, OSError, IndexError) as error:
        raise BadImageError(path, f"truncated or corrupt TIFF ({error})", _READABLE) from None
    if array.dtype != np.uint16:
        raise BadImageError(path, f"16-bit TIFF with {array.dtype} samples is not supported", "unsigned 16-bit samples")
    return array, orientation, icc


def _pil_array(img: Image.Image, path: str) -> np.ndarray:
    """Decoded pixels of an opened PIL image as uint8/uint16 HW, HWx2 (LA), HWx3 or HWx4."""
    mode = img.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(img)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(img).astype(np.uint16)
    if mode == "I":  # some decoders give 16-bit grayscale as 32-bit integers
        array = np.asarray(img)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise BadImageError(path, "32-bit integer image", "8- or 16-bit samples")
        return array.astype(np.uint16)
    if mode == "1":
        return np.asarray(img.convert("L"))
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        return np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
    if mode == "La":
        return np.asarray(img.convert("LA"))
    if mode == "RGBa":
        return np.asarray(img.convert("RGBA"))
    if mode in ("RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(img.convert("RGB"))
    raise BadImageError(path, f"image mode {mode!r} is not supported", "8- or 16-bit grayscale or colour")


def _decode(path: str) -> tuple[np.ndarray, str, int, bytes | None]:
    """(pixels, format, EXIF orientation, ICC profile) of `path`, pixels in the file's own bit depth."""
    try:
        with open(path, "rb") as f:
            header = f.read(32)
    except OSError as error:
        raise BadImageError(path, f"cannot read the file ({error.strerror})", _READABLE) from None
    if _is_tiff(header):
        tiff16 = _read_tiff16(path)
        if tiff16 is not None:
            return tiff16[0], "TIFF", tiff16[1], tiff16[2]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt = img.format or "?"
                orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
                icc = img.info.get("icc_profile") or None
                if _png_bit_depth(header) == 16:
                    return _decode_png16(path), fmt, orientation, icc
                img.load()
                return _pil_array(img, path), fmt, orientation, icc
    except UnidentifiedImageError:
        raise BadImageError(path, "not a readable image (corrupt file or unknown format)", _READABLE) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as error:
        if isinstance(error, BadImageError):
            raise
        raise BadImageError(path, f"truncated or corrupt image data ({error})", _READABLE) from None


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, ImageExtras]:
    """Reads `path` as upright float32 RGB (H, W, 3) in [0, 1] plus what `write_image` needs to write it back."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file (expected {_READABLE})")
    if os.path.isdir(path):
        raise BadImageError(path, "is a folder", _READABLE)
    array, fmt, orientation, icc = _decode(path)
    array = apply_orientation(array, orientation)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4) or array.dtype not in (np.uint8, np.uint16):
        raise BadImageError(path, f"unsupported pixel layout {array.dtype} {array.shape}", _READABLE)
    if min(array.shape[:2]) < 1:
        raise BadImageError(path, "image has no pixels", _READABLE)
    channels = array.shape[-1]
    colour_channels = 1 if channels in (1, 2) else 3
    alpha = array[..., -1].copy() if channels in (2, 4) else None
    scale = np.float32(np.iinfo(array.dtype).max)
    rgb = array[..., :colour_channels].astype(np.float32) / scale
    if colour_channels == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    extras = ImageExtras(path=path, format=fmt, grayscale=colour_channels == 1,
                         bit_depth=16 if array.dtype == np.uint16 else 8, alpha=alpha, icc_profile=icc)
    return rgb, extras


# --- writing ---------------------------------------------------------------------------------------------


def output_format(path: str | os.PathLike) -> str:
    """Pillow format name for an output path's extension; the error lists the supported ones."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in OUTPUT_FORMATS:
        raise ValueError(f"{os.fspath(path)}: cannot write images with extension {ext!r}; "
                         f"supported: {', '.join(OUTPUT_FORMATS)}")
    return OUTPUT_FORMATS[ext]


def _fit_mode(mode: str, fmt: str, path: str) -> str:
    """The closest mode `fmt` can hold; dropping alpha is warned about."""
    allowed = _MODES[fmt]
    if mode in allowed:
        return mode
    if mode == "LA":
        if "RGBA" in allowed:
            return "RGBA"
        warnings.warn(f"{path}: {fmt} cannot hold alpha; the alpha channel is dropped", stacklevel=3)
        return "L" if "L" in allowed else "RGB"
    if mode == "RGBA":
        warnings.warn(f"{path}: {fmt} cannot hold alpha; the alpha channel is dropped", stacklevel=3)
        return "RGB"
    return "RGB"  # L where only colour is allowed


def _encode_pil(tmp: str, array: np.ndarray, mode: str, fmt: str, icc: bytes | None, path: str) -> None:
    target = _fit_mode(mode, fmt, path)
    if target != mode:
        if mode in ("L", "LA") and target in ("RGB", "RGBA"):
            array = np.concatenate([np.repeat(array[..., :1], 3, axis=-1), array[..., 1:]], axis=-1)
        if target in ("L", "RGB"):
            array = array[..., : len(target)]
    img = Image.fromarray(np.ascontiguousarray(array.squeeze(-1) if target == "L" else array), target)
    options: dict = {}
    if fmt == "JPEG":
        options = {"quality": JPEG_QUALITY, "subsampling": 0}
    if fmt == "WEBP":
        options = {"quality": JPEG_QUALITY}
    if icc and fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        options["icc_profile"] = icc
    img.save(tmp, format=fmt, **options)


def _encode_16bit(tmp: str, array: np.ndarray, fmt: str, icc: bytes | None) -> None:
    if fmt == "PNG":
        import tensorflow as tf  # Pillow cannot write 16-bit colour PNGs

        with open(tmp, "wb") as f:
            f.write(tf.io.encode_png(array).numpy())
        return
    import tifffile

    channels = array.shape[-1]
    tifffile.imwrite(
        tmp, array if channels > 1 else array[..., 0],
        photometric="rgb" if channels >= 3 else "minisblack",
        extrasamples=("unassalpha",) if channels in (2, 4) else None,
        iccprofile=icc,
    )


def write_image(path: str | os.PathLike, rgb: np.ndarray, extras: ImageExtras | None = None) -> None:
    """Writes float RGB (H, W, 3) in [0, 1] (clipped) to `path`, in the form `extras` describes, atomically.

    The format comes from the extension. 16-bit depth is kept for PNG and TIFF (other formats get 8
    bits); grayscale sources are written as grayscale, alpha is re-attached. JPEG and WebP use quality 95.
    """
    path = os.fspath(path)
    fmt = output_format(path)
    rgb = np.asarray(rgb)
    if not np.issubdtype(rgb.dtype, np.floating) or rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"{path}: expected a float RGB image (H, W, 3) in [0, 1], got {rgb.dtype} {rgb.shape}")
    if not np.isfinite(rgb).all():
        raise ValueError(f"{path}: the image to write has NaN or infinite values")
    extras = extras or ImageExtras(path="", format=fmt)
    bits = extras.bit_depth if fmt in _SIXTEEN_BIT_FORMATS else 8
    dtype, peak = (np.uint16, 65535.0) if bits == 16 else (np.uint8, 255.0)
    colour = np.clip(rgb.astype(np.float64), 0.0, 1.0)
    if extras.grayscale:
        colour = (colour @ _GRAY_WEIGHTS)[..., None]
    planes = [np.rint(colour * peak).astype(dtype)]
    if extras.alpha is not None:
        alpha = extras.alpha
        if alpha.shape != rgb.shape[:2]:
            raise ValueError(f"{path}: alpha of shape {alpha.shape} does not match the image {rgb.shape[:2]}")
        if alpha.dtype != dtype:  # 16-bit alpha into an 8-bit format, or the reverse
            alpha = (np.rint(alpha / 257.0) if dtype == np.uint8 else alpha.astype(np.uint32) * 257).astype(dtype)
        planes.append(alpha[..., None])
    array = np.concatenate(planes, axis=-1)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[array.shape[-1]]
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{path}: the output folder {folder} does not exist")
    with atomic_path(path) as tmp:
        if bits == 16:
            _encode_16bit(tmp, array, fmt, extras.icc_profile)
        else:
            _encode_pil(tmp, array, mode, fmt, extras.icc_profile, path)
