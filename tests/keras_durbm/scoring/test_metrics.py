"""PSNR / SSIM / Y conversion against scikit-image and closed forms; the range and dtype guards."""

import math

import numpy as np
import pytest
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from keras_durbm.config.tasks import get_task
from keras_durbm.images.pixels import to_uint8
from keras_durbm.scoring import metrics

TOL = 1e-6
# OpenCV's published fixed-point BT.601 luma (imgproc, color_yuv: R2Y, G2Y, B2Y with yuv_shift = 14):
# Y = (R·4899 + G·9617 + B·1868 + 2**13) >> 14, the authors' cv2.COLOR_RGB2YCR_CB on uint8 images.
OPENCV_R2Y, OPENCV_G2Y, OPENCV_B2Y, OPENCV_SHIFT = 4899, 9617, 1868, 14


def opencv_luma(image: np.ndarray) -> np.ndarray:
    """OpenCV's 8-bit RGB -> Y in integer arithmetic, written from its published constants."""
    r, g, b = (image[..., c].astype(np.int64) for c in range(3))
    return (r * OPENCV_R2Y + g * OPENCV_G2Y + b * OPENCV_B2Y + (1 << (OPENCV_SHIFT - 1))) >> OPENCV_SHIFT


def noisy_pair(rng, shape=(23, 31, 3), noise=25):
    target = rng.integers(0, 256, shape, dtype=np.uint8)
    restored = np.clip(target.astype(int) + rng.integers(-noise, noise + 1, shape), 0, 255).astype(np.uint8)
    return restored, target


@pytest.mark.parametrize("shape", [(23, 31, 3), (7, 9, 3), (40, 17, 3)])
def test_rgb_psnr_and_ssim_match_skimage(rng, shape):
    restored, target = noisy_pair(rng, shape)
    assert abs(metrics.psnr(restored, target, colour="rgb")
               - peak_signal_noise_ratio(target, restored, data_range=255)) < TOL
    assert abs(metrics.ssim(restored, target, colour="rgb")
               - structural_similarity(target, restored, data_range=255, channel_axis=-1)) < TOL


def test_y_psnr_and_ssim_match_skimage_on_rgb2ycbcr(rng):
    restored, target = noisy_pair(rng)
    y_restored, y_target = rgb2ycbcr(restored)[..., 0], rgb2ycbcr(target)[..., 0]
    assert abs(metrics.psnr(restored, target, colour="y", luma="matlab")
               - peak_signal_noise_ratio(y_target, y_restored, data_range=255)) < TOL
    assert abs(metrics.ssim(restored, target, colour="y", luma="matlab")
               - structural_similarity(y_target, y_restored, data_range=255)) < TOL


def test_opencv_luma_equals_opencvs_fixed_point_formula_on_every_colour():
    """All 2**24 RGB colours against the integer formula with OpenCV's published coefficients."""
    g, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    for red in range(256):
        colours = np.stack([np.full_like(g, red), g, b], axis=-1).astype(np.uint8)
        np.testing.assert_array_equal(metrics.rgb_to_y(colours, luma="opencv"), opencv_luma(colours),
                                      err_msg=f"R={red}")
    assert (OPENCV_R2Y + OPENCV_G2Y + OPENCV_B2Y) == 1 << OPENCV_SHIFT  # white stays 255
    np.testing.assert_allclose(np.array([OPENCV_R2Y, OPENCV_G2Y, OPENCV_B2Y]) / 2**OPENCV_SHIFT,
                               [0.299, 0.587, 0.114], atol=1e-4)  # the BT.601 weights


def test_default_y_is_the_authors_full_range_luma(rng):
    """The default scores Y as the authors' test code did (OpenCV's rounded 0.299 R + 0.587 G + 0.114 B)."""
    restored, target = noisy_pair(rng)
    y_restored, y_target = (opencv_luma(im).astype(np.float64) for im in (restored, target))
    assert abs(metrics.psnr(restored, target, colour="y")
               - peak_signal_noise_ratio(y_target, y_restored, data_range=255)) < TOL
    assert abs(metrics.ssim(restored, target, colour="y")
               - structural_similarity(y_target, y_restored, data_range=255)) < TOL


def test_rgb_to_y_is_matlab_rgb2ycbcr(rng):
    image = rng.integers(0, 256, (13, 11, 3), dtype=np.uint8)
    np.testing.assert_allclose(metrics.rgb_to_y(image, luma="matlab"), rgb2ycbcr(image)[..., 0], atol=1e-10)
    extremes = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)
    np.testing.assert_allclose(metrics.rgb_to_y(extremes, luma="matlab")[0], [16.0, 235.0], atol=1e-9)


def test_opencv_luma_is_rounded_full_range_bt601(rng):
    image = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)
    reference = np.rint(image.astype(np.float64) @ [0.299, 0.587, 0.114])
    y = metrics.rgb_to_y(image, luma="opencv")
    assert np.all(y == np.rint(y)) and y.min() >= 0 and y.max() <= 255
    assert np.abs(y - reference).max() <= 1 and np.mean(y != reference) < 0.01  # 14-bit fixed point ties
    # Studio swing compresses differences by 219/255: the same pair scores ~1.32 dB higher.
    restored, target = noisy_pair(rng, (60, 60, 3), noise=12)
    gap = metrics.psnr(restored, target, luma="matlab") - metrics.psnr(restored, target, luma="opencv")
    assert abs(gap - 20 * math.log10(255 / 219)) < 0.05


@pytest.mark.parametrize("colour", ["y", "rgb"])
def test_crop_border_scores_the_inner_image(rng, colour):
    restored, target = noisy_pair(rng, (30, 26, 3))
    inner = (slice(4, -4), slice(4, -4))
    for fn in (metrics.psnr, metrics.ssim):
        assert abs(fn(restored, target, colour=colour, crop_border=4)
                   - fn(restored[inner], target[inner], colour=colour)) < 1e-12
    assert metrics.psnr(restored, target, colour=colour, crop_border=4) != metrics.psnr(restored, target,
                                                                                       colour=colour)


def test_psnr_closed_form_on_the_255_scale():
    # Every pixel off by 10 levels: MSE = 100, PSNR = 10 log10(255² / 100) (not the [0, 1] scale's 48 dB less).
    target = np.full((8, 8, 3), 100, np.uint8)
    assert metrics.psnr(target + 10, target, colour="rgb") == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-12)


def test_identical_images_score_inf_and_one(rng):
    image = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    assert metrics.psnr(image, image) == math.inf
    assert metrics.ssim(image, image, colour="rgb") == pytest.approx(1.0, abs=1e-12)


def test_float_images_are_rejected_so_the_wrong_range_cannot_be_scored(rng):
    restored, target = noisy_pair(rng)
    as_unit = restored / 255.0, target / 255.0  # what a model outputs
    with pytest.raises(TypeError, match="to_uint8"):
        metrics.psnr(*as_unit)
    with pytest.raises(TypeError, match="uint8"):
        metrics.ssim(as_unit[0], target)
    # The supported path scores the same images as skimage does on uint8.
    quantised = to_uint8(as_unit[0]), to_uint8(as_unit[1])
    assert abs(metrics.psnr(*quantised, colour="rgb") - peak_signal_noise_ratio(target, restored,
                                                                                data_range=255)) < TOL


def test_to_uint8_clips_rounds_and_rejects_wrong_ranges():
    values = np.array([-0.3, 0.0, 0.4 / 255, 0.6 / 255, 0.5, 1.0, 1.7])
    np.testing.assert_array_equal(to_uint8(values), [0, 0, 0, 1, 128, 255, 255])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_uint8(np.array([0.0, 200.0]))  # a [0, 255] image in float
    with pytest.raises(TypeError, match="float"):
        to_uint8(np.array([0, 255], np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(np.array([np.nan]))


def test_shape_and_size_errors_say_what_was_expected(rng):
    a = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"\(10, 12, 3\).*\(12, 10, 3\)"):
        metrics.psnr(a, a.transpose(1, 0, 2).copy())
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        metrics.psnr(a[..., 0], a[..., 0])
    with pytest.raises(ValueError, match="7x7"):
        metrics.ssim(a, a, crop_border=3)
    with pytest.raises(ValueError, match="colour"):
        metrics.psnr(a, a, colour="lab")


def test_score_returns_the_protocol_and_extra_colour_spaces(rng):
    restored, target = noisy_pair(rng)
    haze = metrics.score(restored, target, get_task("haze"))
    assert set(haze) == {"psnr_rgb", "ssim_rgb"}
    blur = metrics.score(restored, target, get_task("B"), crop_border=2)
    assert list(blur) == ["psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"]
    assert blur["psnr_rgb"] == metrics.psnr(restored, target, colour="rgb", crop_border=2)
    assert blur["ssim_y"] == metrics.ssim(restored, target, colour="y", crop_border=2)
    assert set(metrics.score(restored, target, get_task("rain"))) == {"psnr_y", "ssim_y"}
    assert metrics.protocol_keys(get_task("haze")) == ("psnr_rgb", "ssim_rgb")
    assert metrics.protocol_keys(get_task("motion_blur")) == ("psnr_y", "ssim_y")


def test_protocol_text_names_colour_space_and_crop():
    assert "RGB [paper protocol]" in metrics.protocol_text(get_task("haze"))
    text = metrics.protocol_text(get_task("motion_blur"), crop_border=4, luma="opencv")
    assert "Y (ITU-R BT.601, OpenCV" in text and "RGB [also reported]" in text and "crop border 4" in text
