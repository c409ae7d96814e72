"""The reader's conversion view (`keras_durbm.images.io.read_rgb8` / `probe_image`): modes, coercion, bit
depths, truncation, EXIF orientation; and the pixel helpers of `keras_durbm.images.pixels` (lossless PNG round
trips, uint8/float, half-size resizing, centre crops)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageOps

from keras_durbm.errors import BadImageError
from keras_durbm.images.io import check_rgb8, probe_image, read_image, read_rgb8
from keras_durbm.images.pixels import center_crop, decode_png, encode_png, resize_half, to_float, to_uint8
from tests.support import dataset_trees as trees


def test_rgb_png_and_jpeg_read_exactly_as_pil_decodes_them(tmp_path):
    img = trees.random_image(9, 13, 0)
    for name, kw in (("a.png", {}), ("b.jpg", {"quality": 90}), ("c.bmp", {})):
        ref = trees.save(str(tmp_path / name), img, **kw)
        got = read_rgb8(tmp_path / name)
        assert got.dtype == np.uint8 and got.shape == (9, 13, 3)
        np.testing.assert_array_equal(got, ref)
        assert probe_image(tmp_path / name).height == 9


def test_png_encoding_is_lossless_and_uint8_float_round_trip_is_exact():
    img = trees.random_image(7, 5, 1)
    for level in (1, 6):
        np.testing.assert_array_equal(decode_png(encode_png(img, compress_level=level)), img)
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, 2)
    np.testing.assert_array_equal(to_uint8(to_float(levels)), levels)


@pytest.mark.parametrize("mode, what", [("L", "8-bit grayscale"), ("RGBA", "RGB with alpha"),
                                        ("P", "palette"), ("I;16", "16-bit grayscale")])
def test_non_rgb_modes_are_rejected_naming_file_and_expectation(tmp_path, mode, what):
    img = Image.fromarray(trees.random_image(6, 6, 2))
    img = img.convert("I;16") if mode == "I;16" else img.convert(mode)
    path = str(tmp_path / "x.png")
    img.save(path)
    # the header check (probe + check_rgb8, what converters run before writing) and the reader itself
    for fn in (lambda p: check_rgb8(probe_image(p)), read_rgb8):
        with pytest.raises(BadImageError) as e:
            fn(path)
        assert path in str(e.value) and what in str(e.value) and "expected an 8-bit RGB image" in str(e.value)


def test_16_bit_rgb_png_is_detected_although_pillow_opens_it_as_rgb(tmp_path):
    path = tmp_path / "deep.png"
    path.write_bytes(trees.png16_rgb(np.full((4, 5, 3), 40000, np.uint16)))
    assert Image.open(path).mode == "RGB"
    with pytest.raises(BadImageError, match="16-bit RGB; expected an 8-bit RGB image"):
        read_rgb8(path)
    assert read_rgb8(path, coerce=True).shape == (4, 5, 3)


def test_coerce_converts_gray_palette_opaque_rgba_and_16_bit(tmp_path):
    rgb = trees.random_image(6, 6, 3)
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    Image.fromarray(gray).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_rgb8(tmp_path / "g.png", coerce=True), np.repeat(gray[..., None], 3, 2))
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "opaque.png")
    np.testing.assert_array_equal(read_rgb8(tmp_path / "opaque.png", coerce=True), rgb)
    see_through = np.dstack([rgb, np.full((6, 6), 128, np.uint8)])
    Image.fromarray(see_through, "RGBA").save(tmp_path / "alpha.png")
    with pytest.raises(BadImageError, match="transparent pixels"):
        read_rgb8(tmp_path / "alpha.png", coerce=True)
    deep = np.arange(36, dtype=np.uint16).reshape(6, 6) * 1000
    Image.fromarray(deep).save(tmp_path / "i16.png")
    np.testing.assert_array_equal(read_rgb8(tmp_path / "i16.png", coerce=True)[..., 0],
                                  np.round(deep / 257).astype(np.uint8))


def test_truncated_corrupt_missing_and_non_image_files(tmp_path):
    path = str(tmp_path / "t.png")
    trees.save(path, trees.random_image(32, 32, 4))
    trees.truncate_file(path, 0.6)
    probe_image(path)  # the header is intact ...
    with pytest.raises(BadImageError, match=r"t\.png: truncated or corrupt image data"):
        read_rgb8(path)  # ... the pixels are not
    (tmp_path / "n.png").write_bytes(b"this is not an image")
    with pytest.raises(BadImageError, match=r"n\.png: not a readable image"):
        probe_image(tmp_path / "n.png")
    with pytest.raises(BadImageError, match="does not exist"):
        read_rgb8(os.path.join(tmp_path, "missing.png"))


def test_half_resize_matches_pil_bicubic_and_centre_crop_takes_the_middle():
    img = trees.random_image(11, 14, 5)
    np.testing.assert_array_equal(resize_half(img), trees.pil_half(img))
    assert resize_half(img).shape == (5, 7, 3)
    np.testing.assert_array_equal(center_crop(img, 7, 10), img[2:9, 2:12])


# ---- one reader: what used to differ between the conversion reader and read_image --------------------

def test_exif_rotated_jpeg_is_read_upright_like_read_image_and_probed_with_upright_size(tmp_path):
    source = trees.random_image(8, 16, 6)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: the upright image is 16 high and 8 wide
    path = tmp_path / "o.jpg"
    Image.fromarray(source).save(path, exif=exif, quality=95)
    with Image.open(path) as img:
        upright = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    assert upright.shape == (16, 8, 3)
    got = read_rgb8(path)
    np.testing.assert_array_equal(got, upright)
    as_float, _ = read_image(path)
    np.testing.assert_array_equal(got, np.rint(as_float * 255).astype(np.uint8))
    info = probe_image(path)
    assert (info.height, info.width, info.orientation) == (16, 8, 6)


def test_16_bit_rgb_png_is_coerced_by_rounding_x_over_257_not_by_taking_the_high_byte(tmp_path):
    k = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 7) % 56  # k < 56: the high byte of 257k + 200 is k
    deep = (257 * k + 200).astype(np.uint16)
    expected = np.round(deep / 257).astype(np.uint8)  # k + 1
    assert not (expected == (deep >> 8)).any(), "the fixture must tell rounding and the high byte apart"
    path = tmp_path / "deep.png"
    path.write_bytes(trees.png16_rgb(deep))
    np.testing.assert_array_equal(read_rgb8(path, coerce=True), expected)
