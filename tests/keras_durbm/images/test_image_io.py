"""Image reading/writing against PIL, tifffile and TensorFlow's PNG codec: modes, 16 bits, EXIF, errors."""

import importlib.util
import os

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from keras_durbm.errors import BadImageError
from keras_durbm.images.io import ImageExtras, apply_orientation, read_image, write_image


def pixels(path):
    with Image.open(path) as img:
        return img.mode, np.asarray(img).copy()


def test_rgb_png_round_trip_is_exact(tmp_path, rng):
    source = rng.integers(0, 256, (21, 13, 3), dtype=np.uint8)
    Image.fromarray(source).save(tmp_path / "a.png")
    rgb, extras = read_image(tmp_path / "a.png")
    assert rgb.dtype == np.float32 and rgb.shape == (21, 13, 3)
    np.testing.assert_array_equal(rgb, source.astype(np.float32) / 255)
    assert (extras.format, extras.grayscale, extras.bit_depth, extras.alpha) == ("PNG", False, 8, None)
    write_image(tmp_path / "b.png", rgb, extras)
    assert pixels(tmp_path / "b.png")[0] == "RGB"
    np.testing.assert_array_equal(pixels(tmp_path / "b.png")[1], source)


def test_jpeg_and_bmp_read_as_pil_decodes_them(tmp_path, rng):
    source = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    for name in ("a.jpg", "a.bmp"):
        Image.fromarray(source).save(tmp_path / name)
        rgb, extras = read_image(tmp_path / name)
        np.testing.assert_array_equal(rgb, pixels(tmp_path / name)[1] / np.float32(255))
    write_image(tmp_path / "out.bmp", rgb, extras)
    np.testing.assert_array_equal(pixels(tmp_path / "out.bmp")[1], source)


def test_grayscale_stays_grayscale(tmp_path, rng):
    gray = rng.integers(0, 256, (9, 14), dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    rgb, extras = read_image(tmp_path / "g.png")
    assert extras.grayscale and np.array_equal(rgb[..., 0], rgb[..., 2])
    write_image(tmp_path / "out.png", rgb, extras)
    write_image(tmp_path / "out.jpg", rgb, extras)
    mode, out = pixels(tmp_path / "out.png")
    assert mode == "L" and np.array_equal(out, gray)
    assert pixels(tmp_path / "out.jpg")[0] == "L"
    # A colour result is written back with PIL's own luma weights.
    colour = rng.random((9, 14, 3)).astype(np.float32)
    write_image(tmp_path / "c.png", colour, extras)
    expected = Image.fromarray(np.rint(colour * 255).astype(np.uint8)).convert("L")
    assert np.abs(pixels(tmp_path / "c.png")[1].astype(int) - np.asarray(expected)).max() <= 1


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_kept_bit_exact(tmp_path, rng, mode):
    source = rng.integers(0, 256, (11, 17, len(mode)), dtype=np.uint8)
    Image.fromarray(source, mode).save(tmp_path / "a.png")
    rgb, extras = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(extras.alpha, source[..., -1])
    write_image(tmp_path / "b.png", 1.0 - rgb, extras)  # the "restored" colours change, alpha must not
    out_mode, out = pixels(tmp_path / "b.png")
    assert out_mode == mode
    np.testing.assert_array_equal(out[..., -1], source[..., -1])
    np.testing.assert_array_equal(out[..., 0], 255 - source[..., 0])


def test_palette_with_transparency_reads_as_rgba(tmp_path, rng):
    source = rng.integers(0, 4, (6, 7), dtype=np.uint8)
    img = Image.fromarray(source, "P")
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    img.save(tmp_path / "p.png", transparency=3)
    rgb, extras = read_image(tmp_path / "p.png")
    expected = np.asarray(Image.open(tmp_path / "p.png").convert("RGBA"))
    np.testing.assert_array_equal(extras.alpha, expected[..., 3])
    np.testing.assert_array_equal(rgb, expected[..., :3] / np.float32(255))


def test_16_bit_grayscale_png_round_trip(tmp_path, rng):
    source = rng.integers(0, 65536, (10, 12), dtype=np.uint16)
    Image.fromarray(source).save(tmp_path / "g16.png")  # mode I;16
    rgb, extras = read_image(tmp_path / "g16.png")
    assert extras.bit_depth == 16 and extras.grayscale
    np.testing.assert_array_equal(np.rint(rgb[..., 1].astype(np.float64) * 65535), source)
    write_image(tmp_path / "out.png", rgb, extras)
    mode, out = pixels(tmp_path / "out.png")
    assert mode.startswith("I") and np.array_equal(out.astype(np.uint16), source)


def test_16_bit_rgba_png_keeps_16_bits(tmp_path, rng):
    import tensorflow as tf

    source = rng.integers(0, 65536, (9, 10, 4), dtype=np.uint16)
    (tmp_path / "c16.png").write_bytes(tf.io.encode_png(source).numpy())
    rgb, extras = read_image(tmp_path / "c16.png")
    assert extras.bit_depth == 16 and extras.alpha.dtype == np.uint16
    np.testing.assert_array_equal(np.rint(rgb.astype(np.float64) * 65535), source[..., :3])  # not 8-bit
    write_image(tmp_path / "out.png", rgb, extras)
    data = (tmp_path / "out.png").read_bytes()
    assert data[24] == 16  # IHDR bit depth
    np.testing.assert_array_equal(tf.io.decode_png(data, dtype=tf.uint16).numpy(), source)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16_bit_tiff_round_trip(tmp_path, rng, channels):
    shape = (8, 11) if channels == 1 else (8, 11, channels)
    source = rng.integers(0, 65536, shape, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", source, photometric="minisblack" if channels == 1 else "rgb",
                     extrasamples=("unassalpha",) if channels == 4 else None)
    rgb, extras = read_image(tmp_path / "a.tif")
    assert extras.bit_depth == 16 and extras.grayscale == (channels == 1)
    write_image(tmp_path / "b.tiff", rgb, extras)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "b.tiff"), source)


def test_lzw_16_bit_grayscale_tiff_falls_back_to_pillow_at_full_precision(tmp_path, rng):
    if importlib.util.find_spec("imagecodecs"):
        pytest.skip("imagecodecs is installed, so tifffile reads LZW itself")
    source = rng.integers(0, 65536, (8, 11), dtype=np.uint16)
    Image.fromarray(source).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    with pytest.warns(UserWarning, match="imagecodecs"):  # tifffile needs imagecodecs for LZW
        rgb, extras = read_image(tmp_path / "lzw.tif")
    assert extras.bit_depth == 16 and extras.grayscale
    np.testing.assert_array_equal(np.rint(rgb[..., 0].astype(np.float64) * 65535), source)


def test_16_bit_alpha_is_rescaled_for_an_8_bit_format(tmp_path, rng):
    alpha = rng.integers(0, 65536, (5, 6), dtype=np.uint16)
    extras = ImageExtras(path="x.png", format="PNG", bit_depth=16, alpha=alpha)
    write_image(tmp_path / "a.webp", np.zeros((5, 6, 3), np.float32), extras)  # 8-bit, lossless alpha
    mode, out = pixels(tmp_path / "a.webp")
    assert mode == "RGBA" and np.array_equal(out[..., 3], np.rint(alpha / 257.0).astype(np.uint8))
    with pytest.warns(UserWarning, match="alpha channel is dropped"):
        write_image(tmp_path / "a.jpg", np.zeros((5, 6, 3), np.float32), extras)
    assert pixels(tmp_path / "a.jpg")[0] == "RGB"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pil(tmp_path, rng, orientation):
    source = rng.integers(0, 256, (5, 8, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(source).save(tmp_path / "o.png", exif=exif)
    rgb, _ = read_image(tmp_path / "o.png")
    upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")))
    np.testing.assert_array_equal(np.rint(rgb * 255).astype(np.uint8), upright)
    np.testing.assert_array_equal(apply_orientation(source, orientation), upright)


def test_jpeg_with_orientation_tag_is_turned_upright(tmp_path, rng):
    source = rng.integers(0, 256, (8, 16, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: the upright image is 16 high and 8 wide
    Image.fromarray(source).save(tmp_path / "o.jpg", exif=exif, quality=95)
    rgb, _ = read_image(tmp_path / "o.jpg")
    assert rgb.shape == (16, 8, 3)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.jpg")))
    np.testing.assert_array_equal(np.rint(rgb * 255).astype(np.uint8), upright)


def test_bad_files_raise_errors_naming_them(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"this is not an image at all")
    with pytest.raises(BadImageError, match="junk.png.*not a readable image"):
        read_image(tmp_path / "junk.png")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadImageError, match="cut.png.*truncated"):
        read_image(tmp_path / "cut.png")
    Image.fromarray(rng.integers(0, 65536, (32, 32), dtype=np.uint16)).save(tmp_path / "t16.png")
    data = (tmp_path / "t16.png").read_bytes()
    (tmp_path / "cut16.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadImageError, match="cut16.png"):
        read_image(tmp_path / "cut16.png")


def test_writes_are_atomic_and_leave_nothing_on_failure(tmp_path, monkeypatch):
    rgb = np.full((4, 4, 3), 0.5, np.float32)
    with pytest.raises(ValueError, match="extension '.xyz'"):
        write_image(tmp_path / "a.xyz", rgb)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_image(tmp_path / "no" / "a.png", rgb)

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    write_image(tmp_path / "kept.png", rgb)
    before = (tmp_path / "kept.png").read_bytes()
    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(tmp_path / "kept.png", np.zeros((4, 4, 3), np.float32))
    assert os.listdir(tmp_path) == ["kept.png"]  # no temporary file left, the old file untouched
    assert (tmp_path / "kept.png").read_bytes() == before


def test_written_files_get_normal_permissions(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.float32))
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "a.png").st_mode & 0o777 == 0o666 & ~umask


def test_write_rejects_non_rgb_or_non_finite(tmp_path):
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        write_image(tmp_path / "a.png", np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        write_image(tmp_path / "a.png", np.full((4, 4, 3), np.nan, np.float32))
    assert not os.listdir(tmp_path)
