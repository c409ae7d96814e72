"""The one image reader and writer of the project: any common format, mode and bit depth, EXIF-upright.

Every command that reads image files (restore, evaluate, convert, the serving client, the demo page)
reads them here, with one behaviour:

* the EXIF orientation is applied (pixels turned upright, the output carries no orientation tag);
* 16-bit PNG and TIFF keep their 16 bits (Pillow reduces 16-bit colour to 8 bits, so those are decoded
  with TensorFlow's PNG codec and tifffile);
* a pixel limit (`DEFAULT_MAX_PIXELS`, the `--max-pixels` flag of every command) is checked from the
  header before any pixel is decoded, so a decompression bomb (a few KB declaring 200 Mpx) fails that
  image with `ImageTooLargeError` instead of exhausting memory. Pillow's own process-wide bomb check
  is replaced by this per-call limit.

Two views of a file:

* `read_image` → float32 RGB in [0, 1] plus `ImageExtras` (grayscale, alpha, bit depth, ICC profile),
  so `write_image` writes the result back in the input's form (what `restore` needs);
* `read_rgb8` → uint8 RGB for dataset conversion: only 8-bit RGB is accepted unless `coerce=True`,
  which turns grayscale, palette, opaque alpha and 16-bit sources into 8-bit RGB (16 bits by rounding
  `x / 257`); transparent pixels are refused rather than composited on an invented background.

Every error names the file. Writes are atomic (`atomic_files.atomic_path`).
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import warnings
import zlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from keras_durbm.atomic_files import atomic_path
from keras_durbm.errors import BadImageError, ImageTooLargeError

#: Largest image any reader decodes by default: 2**25 pixels (33.5 Mpx; an 8K UHD frame, 7680x4320, fits).
DEFAULT_MAX_PIXELS = 2**25
#: File extensions treated as images when listing folders (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp")
#: Formats accepted (Pillow's names; MPO is a camera JPEG with a preview) whatever a file's extension says:
#: one rule for every reader. GIF and other formats are refused by name, as are animated PNG and WebP.
ACCEPTED_FORMATS = ("PNG", "JPEG", "MPO", "BMP", "TIFF", "PPM", "WEBP")
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
READABLE = "a PNG, JPEG, BMP, TIFF or WebP image"
RGB8 = "an 8-bit RGB image"
# PIL's convert("L") weights (ITU-R 601-2 luma), used to write grayscale images back.
_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])
_MODE_TEXT = {
    "1": "1-bit black and white", "L": "8-bit grayscale", "LA": "grayscale with alpha",
    "P": "palette (indexed colour)", "PA": "palette with alpha", "RGBA": "RGB with alpha", "CMYK": "CMYK",
    "I": "32-bit integer grayscale", "I;16": "16-bit grayscale", "I;16B": "16-bit grayscale",
    "I;16L": "16-bit grayscale", "F": "32-bit float grayscale", "YCbCr": "YCbCr",
}
_COERCIBLE = ("L", "LA", "P", "PA", "RGBA", "RGB", "I;16", "I;16B", "I;16L", "I", "1")

Image.MAX_IMAGE_PIXELS = None  # the pixel limit is checked per call below, with the file named


class ImageNotFoundError(BadImageError, FileNotFoundError):
    """An image path that does not exist (both a `BadImageError` and a `FileNotFoundError`)."""


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """Header facts of an image file, read without decoding its pixels; height and width are upright."""

    path: str
    height: int
    width: int
    mode: str
    bits: int
    format: str = ""
    orientation: int = 1


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


# --- listing -------------------------------------------------------------------------------------


def is_image_file(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_images(folder: str | os.PathLike) -> list[str]:
    """Sorted image file names (not paths) directly inside `folder`; hidden files are ignored."""
    return sorted(n for n in os.listdir(folder) if not n.startswith(".") and is_image_file(n)
                  and os.path.isfile(os.path.join(folder, n)))


# --- headers and the pixel limit -----------------------------------------------------------------


def check_pixel_limit(path: str, height: int, width: int, max_pixels: int | None) -> None:
    """Raises `ImageTooLargeError` naming the file, its size and the limit when H·W exceeds `max_pixels`."""
    if max_pixels and height * width > max_pixels:
        raise ImageTooLargeError(
            path, f"image is {width}x{height} = {height * width:,} pixels, over the limit of {max_pixels:,}",
            "a smaller image, or a higher --max-pixels if this machine has the memory (about "
            f"{height * width * 12 / 2**30:.1f} GiB for the decoded float image alone)")


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


def _read_header(path: str) -> bytes:
    if not os.path.exists(path):
        raise ImageNotFoundError(path, "file does not exist", READABLE)
    if os.path.isdir(path):
        raise BadImageError(path, "is a folder", READABLE)
    try:
        with open(path, "rb") as handle:
            return handle.read(32)
    except OSError as error:
        raise BadImageError(path, f"cannot read the file ({error.strerror})", READABLE) from None


def _pil_bits(img: Image.Image) -> int:
    # Pillow opens 16-bit-per-channel RGB PNGs as mode "RGB" (dropping the low byte); the raw mode tells.
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
    return 1 if img.mode == "1" else 8


def _unidentified(path: str) -> str:
    """Why Pillow could not open `path`: a TIFF's sample type when tifffile can read it (float TIFFs)."""
    try:
        is_tiff = _is_tiff(_read_header(path))
    except BadImageError:
        is_tiff = False
    if is_tiff:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                kind = {"f": "floating-point", "i": "signed integer", "u": "unsigned integer"}.get(
                    page.dtype.kind, str(page.dtype)) if page.dtype is not None else "unknown"
                return (f"TIFF with {page.bitspersample}-bit {kind} samples ({page.samplesperpixel} per pixel) "
                        "is not supported (8- or 16-bit unsigned samples are)")
        except (tifffile.TiffFileError, ValueError, OSError, IndexError, AttributeError):
            pass
    return "not a readable image (corrupt file or unknown format)"


def _refusal(img: Image.Image) -> str | None:
    """Why an opened image is not accepted (None: it is): a format outside `ACCEPTED_FORMATS` whatever
    its extension, or an animation (only its first frame would be restored)."""
    fmt = img.format or "unknown"
    if fmt not in ACCEPTED_FORMATS:
        return f"{fmt} images are not accepted"
    if fmt in ("PNG", "WEBP") and getattr(img, "is_animated", False):
        return (f"animated {fmt} ({img.n_frames} frames): only still images are accepted (its first frame would "
                "be restored alone)")
    return None


def _open_pil(path: str) -> Image.Image:
    try:
        img = Image.open(path)
    except UnidentifiedImageError:
        raise BadImageError(path, _unidentified(path), READABLE) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImageError(path, f"cannot open image ({error})", READABLE) from None
    problem = _refusal(img)
    if problem:
        img.close()
        raise BadImageError(path, problem, READABLE)
    return img


def _tiff16_page(tif, path: str):
    try:
        page = tif.pages[0]
    except (IndexError, ValueError) as error:
        raise BadImageError(path, f"truncated or corrupt TIFF ({error})", READABLE) from None
    return page if page.bitspersample == 16 else None


def _tiff_mode(page) -> str:
    samples = page.samplesperpixel
    return {1: "I;16", 2: "LA", 3: "RGB", 4: "RGBA"}.get(samples, f"{samples}-sample")


def _orientation_of(img: Image.Image) -> int:
    try:
        if img.format == "PNG" and "exif" not in img.info:
            return 1  # no eXIf chunk before the pixels; Pillow's getexif() would decode the whole image to look
        return int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except (ValueError, TypeError, SyntaxError):
        return 1


def probe_image(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Header facts of `path` (upright size, mode, bits per sample); no pixel is decoded.

    Raises `ImageTooLargeError` above `max_pixels`, `BadImageError` for unreadable files.
    """
    path = os.fspath(path)
    header = _read_header(path)
    if _is_tiff(header):
        import tifffile  # only 16-bit TIFFs need it

        try:
            with tifffile.TiffFile(path) as tif:
                page = _tiff16_page(tif, path)
                if page is not None:
                    height, width = page.imagelength, page.imagewidth
                    check_pixel_limit(path, height, width, max_pixels)
                    tag = page.tags.get("Orientation")
                    orientation = int(tag.value) if tag else 1
                    if orientation in (5, 6, 7, 8):
                        height, width = width, height
                    return ImageInfo(path, height, width, _tiff_mode(page), 16, "TIFF", orientation)
        except (tifffile.TiffFileError, ValueError, OSError) as error:
            raise BadImageError(path, f"truncated or corrupt TIFF ({error})", READABLE) from None
    with _open_pil(path) as img:
        return _pil_info(img, path, max_pixels)


def _pil_info(img: Image.Image, label: str, max_pixels: int | None) -> ImageInfo:
    """The `ImageInfo` of an opened Pillow image (header only), after the pixel limit."""
    width, height = img.size
    check_pixel_limit(label, height, width, max_pixels)
    orientation = _orientation_of(img)
    if orientation in (5, 6, 7, 8):
        height, width = width, height
    return ImageInfo(label, height, width, img.mode, _pil_bits(img), img.format or "?", orientation)


def probe_image_bytes(data: bytes, label: str, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                      formats: tuple[str, ...] | None = None) -> ImageInfo:
    """`probe_image` for an encoded image held in memory (a request's bytes), named `label` in errors.

    An image whose size cannot be read from its header is refused (`BadImageError`), never passed on:
    another decoder may read past a header Pillow cannot parse and decode it without the pixel limit.
    `formats` (Pillow names) restricts the formats tried, e.g. to those the next decoder identifies by
    the same magic bytes, so both read the same header.
    """
    import io

    try:
        img = Image.open(io.BytesIO(data), formats=formats)
    except UnidentifiedImageError:
        kinds = f"a {' or '.join(formats)} image" if formats else READABLE
        raise BadImageError(label, "the image size cannot be read from its header (corrupt header or unknown "
                            "format)", kinds) from None
    except (OSError, SyntaxError, ValueError, TypeError) as error:
        raise BadImageError(label, f"the image header cannot be read ({error})", READABLE) from None
    with img:
        return _pil_info(img, label, max_pixels)


# --- decoding ------------------------------------------------------------------------------------


def _decode_png16(path: str) -> np.ndarray:
    import tensorflow as tf  # only 16-bit PNGs need TensorFlow's codec (Pillow keeps 8 bits of colour)

    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
    except tf.errors.OpError as error:
        raise BadImageError(path, f"truncated or corrupt 16-bit PNG ({error.message.strip()})", READABLE) from None


def _read_tiff16(path: str, max_pixels: int | None) -> tuple[np.ndarray, int, bytes | None] | None:
    """(array, orientation, icc) of a 16-bit TIFF via tifffile, or None when the TIFF is not 16-bit or its
    compression needs the optional imagecodecs package (Pillow then reads it)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = _tiff16_page(tif, path)
            if page is None:
                return None
            check_pixel_limit(path, page.imagelength, page.imagewidth, max_pixels)
            try:
                array = page.asarray()
            except ValueError as error:
                if "imagecodecs" not in str(error):
                    raise
                warnings.warn(f"{path}: this TIFF's compression needs the imagecodecs package; reading it with "
                              "Pillow, which keeps only 8 bits of 16-bit colour (grayscale keeps 16)", stacklevel=5)
                return None
            if page.axes.startswith("S"):  # planar storage
                array = np.moveaxis(array, 0, -1)
            orientation_tag = page.tags.get("Orientation")
            icc_tag = page.tags.get("InterColorProfile")
            orientation = int(orientation_tag.value) if orientation_tag else 1
            icc = bytes(icc_tag.value) if icc_tag else None
    except (tifffile.TiffFileError, ValueError, OSError, IndexError) as error:
        if isinstance(error, BadImageError):
            raise
        raise BadImageError(path, f"truncated or corrupt TIFF ({error})", READABLE) from None
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


def _profile_space(icc: bytes | None) -> bytes:
    """The colour space an ICC profile describes (its header's bytes 16-19: b"RGB ", b"GRAY", b"CMYK", ...)."""
    return icc[16:20] if icc and len(icc) >= 128 else b""


def _cmyk_to_srgb(img: Image.Image, icc: bytes | None, path: str) -> tuple[np.ndarray, bytes | None]:
    """RGB pixels of a CMYK image and the profile to write with them: converted through its own ICC profile
    to sRGB (and tagged sRGB) when it has a usable one; Pillow's ink formula, untagged, when it has none."""
    from PIL import ImageCms

    if _profile_space(icc) == b"CMYK":
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            rgb = ImageCms.profileToProfile(img, source, srgb, outputMode="RGB")
            return np.asarray(rgb), srgb.tobytes()
        except (ImageCms.PyCMSError, OSError, ValueError) as error:
            warnings.warn(f"{path}: its CMYK colour profile cannot be used ({error}); converted without it, "
                          "and written without a profile", stacklevel=5)
    return np.asarray(img.convert("RGB")), None


def _decode(path: str, max_pixels: int | None) -> tuple[np.ndarray, str, bytes | None]:
    """(upright pixels in the file's own bit depth, format, ICC profile) of `path`."""
    header = _read_header(path)
    if _is_tiff(header):
        tiff16 = _read_tiff16(path, max_pixels)
        if tiff16 is not None:
            array, orientation, icc = tiff16
            return apply_orientation(array, orientation), "TIFF", icc
    try:
        with _open_pil(path) as img:
            width, height = img.size
            check_pixel_limit(path, height, width, max_pixels)
            fmt = img.format or "?"
            orientation = _orientation_of(img)
            icc = img.info.get("icc_profile") or None
            if _png_bit_depth(header) == 16:
                array = _decode_png16(path)
            else:
                img.load()
                if img.mode == "CMYK":
                    array, icc = _cmyk_to_srgb(img, icc, path)
                else:
                    array = _pil_array(img, path)
    except BadImageError:
        raise
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImageError(path, f"truncated or corrupt image data ({error})", READABLE) from None
    return apply_orientation(array, orientation), fmt, icc


def _decoded(path: str, max_pixels: int | None) -> tuple[np.ndarray, str, bytes | None]:
    array, fmt, icc = _decode(path, max_pixels)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4) or array.dtype not in (np.uint8, np.uint16):
        raise BadImageError(path, f"unsupported pixel layout {array.dtype} {array.shape}", READABLE)
    if min(array.shape[:2]) < 1:
        raise BadImageError(path, "image has no pixels", READABLE)
    return array, fmt, icc


def read_image(path: str | os.PathLike, *,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, ImageExtras]:
    """Reads `path` as upright float32 RGB (H, W, 3) in [0, 1] plus what `write_image` needs to write it back."""
    path = os.fspath(path)
    array, fmt, icc = _decoded(path, max_pixels)
    channels = array.shape[-1]
    colour_channels = 1 if channels in (1, 2) else 3
    alpha = array[..., -1].copy() if channels in (2, 4) else None
    scale = np.float32(np.iinfo(array.dtype).max)
    rgb = array[..., :colour_channels].astype(np.float32) / scale
    if colour_channels == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    wanted = b"GRAY" if colour_channels == 1 else b"RGB "
    if icc and _profile_space(icc) != wanted:  # a profile that cannot describe the result is not written with it
        found = _profile_space(icc).decode("latin-1").strip() or "unreadable"
        warnings.warn(f"{path}: its colour profile is for {found} pixels, not {wanted.decode().strip()}; the result "
                      "is written without it", stacklevel=2)
        icc = None
    extras = ImageExtras(path=path, format=fmt, grayscale=colour_channels == 1,
                         bit_depth=16 if array.dtype == np.uint16 else 8, alpha=alpha, icc_profile=icc)
    return rgb, extras


def check_rgb8(info: ImageInfo, *, coerce: bool = False) -> None:
    """Raises `BadImageError` unless the file is 8-bit RGB, or, with `coerce`, a mode `read_rgb8` converts."""
    if info.mode == "RGB" and info.bits == 8:
        return
    if coerce and info.mode in _COERCIBLE:
        return
    what = _MODE_TEXT.get(info.mode, f"mode {info.mode!r}")
    if info.bits == 16 and not what.startswith("16-bit"):
        what = "16-bit " + ("RGB" if info.mode == "RGB" else what)
    raise BadImageError(info.path, f"image is {what}", RGB8 + (
        " (or pass --coerce-rgb to convert grayscale/palette/opaque-alpha/16-bit images)" if not coerce else ""))


def _for_conversion(error: BadImageError) -> BadImageError:
    """The same error saying what a conversion expects (8-bit RGB) instead of the list of readable formats."""
    if error.expected != READABLE:
        return error
    return type(error)(error.path, error.problem, RGB8)


def probe_rgb8(path: str | os.PathLike, *, coerce: bool = False,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """`probe_image` for dataset conversion: the header must be 8-bit RGB (or, with `coerce`, convertible)."""
    try:
        info = probe_image(path, max_pixels=max_pixels)
    except BadImageError as error:
        raise _for_conversion(error) from None
    check_rgb8(info, coerce=coerce)
    return info


def read_rgb8(path: str | os.PathLike, *, coerce: bool = False,
              max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Reads `path` as upright uint8 RGB (H, W, 3) for dataset conversion (see the module docstring)."""
    path = os.fspath(path)
    probe_rgb8(path, coerce=coerce, max_pixels=max_pixels)
    try:
        array, _, _ = _decoded(path, max_pixels)
    except BadImageError as error:
        raise _for_conversion(error) from None
    channels = array.shape[-1]
    if channels in (2, 4):
        alpha = array[..., -1]
        if alpha.min() < np.iinfo(array.dtype).max:
            raise BadImageError(path, "image has transparent pixels, which cannot be made RGB without inventing "
                                "a background", "an opaque image")
        array = array[..., :-1]
    if array.dtype == np.uint16:
        array = np.clip(np.round(array.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array)


# --- writing -------------------------------------------------------------------------------------


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


def _with_iccp(png: bytes, icc: bytes) -> bytes:
    """`png` with an iCCP chunk (the zlib-compressed profile) right after IHDR, where the PNG spec puts it."""
    body = b"ICC Profile\0\0" + zlib.compress(icc)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    end_of_ihdr = 8 + 8 + struct.unpack(">I", png[8:12])[0] + 4
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


def _encode_16bit(tmp: str, array: np.ndarray, fmt: str, icc: bytes | None) -> None:
    if fmt == "PNG":
        import tensorflow as tf  # Pillow cannot write 16-bit colour PNGs

        png = tf.io.encode_png(array).numpy()
        with open(tmp, "wb") as handle:
            handle.write(_with_iccp(png, icc) if icc else png)  # TensorFlow's encoder writes no profile
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
