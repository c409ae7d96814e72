"""Dead leaves images and photometric variation against readable references: the radius power law, a
pixel-loop painter, the power spectrum of natural images, and the formulas of each photometric step."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest
from scipy import optimize

from tfrecords_tools.synthesis.dead_leaves import (
    SHAPES,
    UNCOVERED,
    LeafLaw,
    LeafShapes,
    cover_with_leaves,
    dead_leaves,
    dead_leaves_images,
    draw_leaves,
    front_leaf_index,
    hsv_to_rgb,
    leaf_radii,
)
from tfrecords_tools.synthesis.photometric import (
    adjust_exposure,
    adjust_saturation,
    apply_gamma,
    apply_white_balance,
    vary_photometry,
)


def power_law_cdf(r, alpha, r_min, r_max):
    """F(r) = (r_min^(1-α) - r^(1-α)) / (r_min^(1-α) - r_max^(1-α))."""
    k = 1.0 - alpha
    return (r_min ** k - r ** k) / (r_min ** k - r_max ** k)


def power_law_mle(radii, r_min, r_max):
    """Maximum-likelihood α of p(r) = (α-1) r^(-α) / (r_min^(1-α) - r_max^(1-α)) on [r_min, r_max]."""
    n, sum_log = radii.size, np.log(radii).sum()

    def negative_log_likelihood(alpha):
        return -(n * math.log((alpha - 1) / (r_min ** (1 - alpha) - r_max ** (1 - alpha))) - alpha * sum_log)

    return optimize.minimize_scalar(negative_log_likelihood, bounds=(1.05, 6.0), method="bounded",
                                    options={"xatol": 1e-5}).x


@pytest.mark.parametrize("alpha", [2.0, 3.0])
def test_leaf_radii_follow_the_truncated_power_law(alpha):
    r_min, r_max = 1.5, 200.0
    radii = np.sort(leaf_radii(np.random.default_rng(7), 200_000, alpha, r_min, r_max))
    assert r_min <= radii[0] and radii[-1] <= r_max
    empirical = np.arange(1, radii.size + 1) / radii.size
    ks_distance = np.abs(empirical - power_law_cdf(radii, alpha, r_min, r_max)).max()
    assert ks_distance < 0.01
    assert power_law_mle(radii, r_min, r_max) == pytest.approx(alpha, abs=0.02)


def test_leaf_radii_reject_an_impossible_law():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="r_min and r_max"):
        leaf_radii(rng, 10, 3.0, 5.0, 2.0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        leaf_radii(rng, 10, 0.0, 1.0, 2.0)


def test_same_seed_same_image_another_seed_another_image():
    a, b, c = dead_leaves(64, 3), dead_leaves(64, 3), dead_leaves(64, 4)
    assert a.dtype == np.float32 and a.shape == (64, 64, 3)
    assert 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.05
    assert dead_leaves((40, 72), 0).shape == (40, 72, 3)


def test_the_leaves_cover_the_whole_canvas():
    law = LeafLaw(r_max=48.0)
    for seed in range(3):
        leaves, index_map = cover_with_leaves(np.random.default_rng(seed), 48, 64, law, max_leaves=100_000)
        assert (index_map != UNCOVERED).all() and index_map.max() == len(leaves) - 1
        # painted back to front on a NaN canvas, nothing of the canvas is left
        back_to_front = leaves.select(np.arange(len(leaves))[::-1])
        drawn = draw_leaves(back_to_front, np.random.default_rng(0).random((len(leaves), 3)), 48, 64)
        assert not np.isnan(drawn).any()
    # past max_leaves, a last leaf (the ground) covers what is left
    leaves, index_map = cover_with_leaves(np.random.default_rng(0), 48, 64, law, max_leaves=5)
    assert (index_map != UNCOVERED).all() and len(leaves) == 6


def inside_reference(leaf: dict, x: float, y: float) -> bool:
    """Whether point (x, y) lies in the leaf, from the shape's plain geometry (vertices for polygons)."""
    dx, dy = x - leaf["x"], y - leaf["y"]
    c, s = math.cos(leaf["angle"]), math.sin(leaf["angle"])
    u, v = dx * c + dy * s, -dx * s + dy * c
    r, aspect = leaf["radius"], leaf["aspect"]
    if leaf["shape"] == "disc":
        return math.hypot(dx, dy) <= r
    if leaf["shape"] == "ellipse":
        return (u / r) ** 2 + (v / (r * aspect)) ** 2 <= 1
    if leaf["shape"] == "rectangle":
        theta = math.atan(aspect)  # half-diagonal r at angle theta from the long axis
        return abs(u) <= r * math.cos(theta) and abs(v) <= r * math.sin(theta)
    corners = [(r * math.cos(2 * math.pi * k / leaf["sides"]), r * math.sin(2 * math.pi * k / leaf["sides"]))
               for k in range(leaf["sides"])]
    # inside a convex counter-clockwise polygon: left of (or on) every edge
    return all((x1 - x0) * (v - y0) - (y1 - y0) * (u - x0) >= 0
               for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1]))


def test_drawing_matches_a_pixel_loop_painter():
    rng = np.random.default_rng(5)
    n, height, width = 40, 20, 28
    spec = [{"x": rng.uniform(-4, width + 4), "y": rng.uniform(-4, height + 4), "radius": rng.uniform(0.8, 9),
             "shape": SHAPES[k % 4], "angle": rng.uniform(0, np.pi), "aspect": rng.uniform(0.3, 1.0),
             "sides": int(rng.integers(3, 9))} for k in range(n)]
    leaves = LeafShapes.of(*([leaf[key] for leaf in spec] for key in ("x", "y", "radius")),
                           shape=[leaf["shape"] for leaf in spec], angle=[leaf["angle"] for leaf in spec],
                           aspect=[leaf["aspect"] for leaf in spec], sides=[leaf["sides"] for leaf in spec])
    colours = rng.random((n, 3))
    reference = np.full((height, width, 3), np.nan)
    for leaf, colour in zip(spec, colours):
        for row in range(height):
            for col in range(width):
                if inside_reference(leaf, col, row):
                    reference[row, col] = colour
    np.testing.assert_array_equal(draw_leaves(leaves, colours, height, width), reference)


def test_a_later_leaf_hides_an_earlier_one():
    # two overlapping discs on a 9 x 15 canvas; the overlap is around column 7
    discs = LeafShapes.of(x=[5.0, 9.0], y=[4.0, 4.0], radius=[4.0, 4.0])
    red_then_blue = draw_leaves(discs, [[1, 0, 0], [0, 0, 1]], 9, 15)
    np.testing.assert_array_equal(red_then_blue[4, 7], [0, 0, 1])
    np.testing.assert_array_equal(red_then_blue[4, 3], [1, 0, 0])
    blue_then_red = draw_leaves(discs.select([1, 0]), [[0, 0, 1], [1, 0, 0]], 9, 15)
    np.testing.assert_array_equal(blue_then_red[4, 7], [1, 0, 0])
    assert np.isnan(red_then_blue[0, 14]).all()  # no leaf there: the background stays
    # in the simulation's numbering, the lower index lies in front
    assert front_leaf_index(discs, 9, 15)[4, 7] == 0


def power_spectrum_slope(grey: np.ndarray) -> float:
    """β of the radially averaged power spectrum P(f) ∝ 1/f^β, fitted in log-log over 4-64 cycles/image."""
    n = grey.shape[0]
    window = np.outer(np.hanning(n), np.hanning(n))  # against the wrap-around edge of the DFT
    power = np.abs(np.fft.fftshift(np.fft.fft2((grey - grey.mean()) * window))) ** 2
    frequency = np.rint(np.hypot(*(np.indices(power.shape) - n // 2))).astype(int)
    radial = np.bincount(frequency.ravel(), power.ravel()) / np.bincount(frequency.ravel())
    f = np.arange(4, 65)
    return -np.polyfit(np.log(f), np.log(radial[f]), 1)[0]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_power_spectrum_falls_like_that_of_photographs(seed):
    image = dead_leaves(256, seed, grey_probability=1.0)
    np.testing.assert_array_equal(image[..., 0], image[..., 2])
    assert 1.5 <= power_spectrum_slope(image[..., 0]) <= 2.7  # natural photographs: β ≈ 2


def test_defocus_blurs_the_background_and_keeps_the_foreground():
    sharp = dead_leaves(96, 2, defocus_probability=0.0)
    defocused, info = dead_leaves(96, 2, defocus_probability=1.0, defocus_sigma=2.0, return_info=True)
    unchanged = np.all(sharp == defocused, axis=-1).mean()
    assert 0.0 < info["foreground_coverage"] <= unchanged < 1.0
    assert np.abs(np.diff(defocused, axis=1)).mean() < np.abs(np.diff(sharp, axis=1)).mean()


def test_hsv_to_rgb_matches_colorsys():
    hsv = np.random.default_rng(3).random((200, 3))
    np.testing.assert_allclose(hsv_to_rgb(hsv), [colorsys.hsv_to_rgb(*c) for c in hsv], atol=1e-12)


def test_dead_leaves_images_stand_in_for_photographs():
    images = dead_leaves_images(3, (24, 32), seed=1)
    assert list(images) == ["leaves-0000", "leaves-0001", "leaves-0002"]
    assert all(im.dtype == np.uint8 and im.shape == (24, 32, 3) for im in images.values())
    again = dead_leaves_images(3, (24, 32), seed=1)
    np.testing.assert_array_equal(again["leaves-0002"], images["leaves-0002"])


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="shapes"):
        dead_leaves(16, 0, shapes=("disc", "star"))
    with pytest.raises(ValueError, match="grey_probability"):
        dead_leaves(16, 0, grey_probability=1.5)
    with pytest.raises(ValueError, match="size"):
        dead_leaves((0, 16), 0)
    with pytest.raises(ValueError, match="gamma"):
        vary_photometry(np.zeros((4, 4, 3), np.float32), 0, gamma=-1.0)


# --- photometric variation ---

def colourful(seed=0, shape=(16, 20, 3)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_one_stop_doubles_unclipped_values():
    image = colourful()
    brighter = adjust_exposure(image, 1.0)
    unclipped = image <= 0.5
    np.testing.assert_allclose(brighter[unclipped], 2 * image[unclipped], rtol=1e-6)
    assert (brighter[~unclipped] == 1.0).all()
    np.testing.assert_allclose(adjust_exposure(image, -1.0), image / 2, rtol=1e-6)


def test_gamma_is_a_power():
    image = colourful()
    np.testing.assert_allclose(apply_gamma(image, 1.3), image.astype(np.float64) ** 1.3, rtol=1e-5)


def test_zero_saturation_gives_bt601_luma_in_every_channel():
    image = colourful()
    grey = adjust_saturation(image, 0.0)
    luma = 0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]
    for channel in range(3):
        np.testing.assert_allclose(grey[..., channel], luma, atol=1e-6)
    np.testing.assert_allclose(adjust_saturation(image, 1.0), image, atol=1e-6)


def test_white_balance_multiplies_each_channel():
    image = colourful() * 0.5
    balanced = apply_white_balance(image, (0.9, 1.0, 1.1))
    np.testing.assert_allclose(balanced, image * np.array([0.9, 1.0, 1.1], np.float32), rtol=1e-6)


def test_vary_photometry_is_deterministic_and_composes_the_steps():
    image = colourful()
    first, info = vary_photometry(image, 11, return_info=True)
    np.testing.assert_array_equal(vary_photometry(image, 11), first)
    assert first.dtype == np.float32 and 0.0 <= first.min() and first.max() <= 1.0
    assert not np.array_equal(vary_photometry(image, 12), first)
    fixed = vary_photometry(image, 0, exposure=0.5, white_balance=1.0, gamma=0.8, saturation=1.2,
                            grey_probability=0.0)
    np.testing.assert_allclose(fixed, adjust_saturation(apply_gamma(adjust_exposure(image, 0.5), 0.8), 1.2),
                               atol=1e-6)
    always_grey = vary_photometry(image, 0, grey_probability=1.0)
    np.testing.assert_array_equal(always_grey[..., 0], always_grey[..., 1])
