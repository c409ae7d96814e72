"""Synthesizers against their formulas (paper eq. 2 and 3), NumPy references and PIL."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from keras_durbm.config.tasks import HAZE, get_task, task_names
from tfrecords_tools.synthesis import SYNTHESIZERS, resolve_params
from tfrecords_tools.synthesis.haze import add_haze, random_depth
from tfrecords_tools.synthesis.jpeg import add_jpeg, jpeg_bytes, pick_quality
from tfrecords_tools.synthesis.kernels import convolve_same, line_points, rasterize_path
from tfrecords_tools.synthesis.motion_blur import add_motion_blur, motion_kernel
from tfrecords_tools.synthesis.rain import add_rain, rain_layers


def photo(h=48, w=64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.5 + 0.4 * np.sin(6 * xx), 0.5 + 0.4 * np.cos(5 * yy), 0.3 + 0.5 * xx * yy], -1)
    return np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1).astype(np.float32)


def direct_convolution(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """out[y, x] = sum_ij k[i, j] * pad(img)[y + 2r0 - i, x + 2r1 - j] with reflect padding, as loops."""
    r0, r1 = k.shape[0] // 2, k.shape[1] // 2
    p = np.pad(img.astype(np.float64), ((r0, r0), (r1, r1), (0, 0)), mode="reflect")
    h, w = img.shape[:2]
    out = np.zeros((h, w, img.shape[2]))
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            out += k[i, j] * p[2 * r0 - i:2 * r0 - i + h, 2 * r1 - j:2 * r1 - j + w]
    return out


def test_registry_covers_the_paper_tasks_and_lists_parameters():
    assert set(SYNTHESIZERS) == set(task_names()) >= {"motion_blur", "haze", "rain", "jpeg"}
    assert resolve_params(get_task("H"))["beta"] == [0.6, 1.8]
    assert resolve_params(HAZE, {"beta": 1.0})["beta"] == 1.0
    with pytest.raises(ValueError, match="unknown haze synthesis parameter 'betta'.*beta"):
        resolve_params(HAZE, {"betta": 1.0})


@pytest.mark.parametrize("task", sorted(SYNTHESIZERS))
def test_every_synthesizer_is_deterministic_by_seed_and_stays_in_range(task):
    img = photo()
    fn = SYNTHESIZERS[task]
    a, b, c = fn(img, 7), fn(img, 7), fn(img, 8)
    assert a.dtype == np.float32 and a.shape == img.shape
    np.testing.assert_array_equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert np.abs(a - img).mean() > 1e-3, "the degradation must change the image"
    if task != "jpeg":  # JPEG at the same quality may repeat; the others must differ per seed
        assert not np.array_equal(a, c)


def test_synthesizers_reject_non_float_or_out_of_range_images():
    with pytest.raises(ValueError, match="float image"):
        add_haze(np.zeros((4, 4, 3), np.uint8), 0)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        add_rain(np.zeros((4, 4), np.float32), 0)
    with pytest.raises(ValueError, match="values in"):
        add_motion_blur(np.full((4, 4, 3), 1.5, np.float32), 0)


# ---- haze, eq. 2 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 3, 7, 2024])
def test_haze_output_satisfies_eq_2_with_one_grey_airlight_and_one_smooth_transmission(seed):
    """Eq. 2 checked from the output alone (no replay of the random draws): with the sampled beta and A,
    t_c = (H_c - A) / (I_c - A) must be one value per pixel for all three channels, lie in
    [exp(-beta d_max), exp(-beta d_min)] and vary smoothly; H lies between I and A."""
    img = photo(96, 128, seed)
    d_min, d_max = 0.3, 1.5
    hazy, info = add_haze(img, seed, depth_range=(d_min, d_max), return_info=True)
    beta, a = float(info["beta"]), float(info["airlight"])
    i, h = img.astype(np.float64), hazy.astype(np.float64)
    # (c) H is a blend of I and A in every channel
    assert (h >= np.minimum(i, a) - 1e-6).all() and (h <= np.maximum(i, a) + 1e-6).all()
    # (a) one transmission per pixel, the same in all three channels (where I_c is not close to A)
    usable = np.abs(i - a) > 0.1
    t_c = np.where(usable, (h - a) / np.where(usable, i - a, 1.0), np.nan)
    assert (usable.sum(-1) >= 2).mean() > 0.5, "too few pixels to compare channels"
    for c1, c2 in ((0, 1), (0, 2), (1, 2)):
        both = usable[..., c1] & usable[..., c2]
        np.testing.assert_allclose(t_c[..., c1][both], t_c[..., c2][both], atol=2e-5)
    seen = usable.any(-1)
    assert seen.mean() > 0.9
    t = np.nanmean(t_c[seen], axis=-1)
    # (b) t = exp(-beta d) for d in the depth range
    t_low, t_high = np.exp(-beta * d_max), np.exp(-beta * d_min)
    assert t.min() >= t_low - 2e-5 and t.max() <= t_high + 2e-5
    # (d) t is smooth: neighbours differ by a small fraction of its range (white noise: about the range)
    t_map = np.full(img.shape[:2], np.nan)
    t_map[seen] = t
    for axis in (0, 1):
        step = np.abs(np.diff(t_map, axis=axis))
        assert np.nanmax(step) < 0.1 * (t_high - t_low)


def test_haze_with_a_given_depth_map_follows_the_formula_exactly():
    img = photo()
    depth = np.linspace(0, 2, img.shape[0] * img.shape[1]).reshape(img.shape[:2])
    hazy = add_haze(img, 0, beta=1.2, airlight=0.8, depth=depth)
    t = np.exp(-1.2 * depth)[..., None]
    np.testing.assert_allclose(hazy, img * t + 0.8 * (1 - t), atol=1e-6)
    with pytest.raises(ValueError, match="depth map has shape"):
        add_haze(img, 0, depth=depth[:-1])


def test_random_depth_is_smooth_spans_its_range_and_is_far_at_the_top():
    d = random_depth((96, 128), np.random.default_rng(0), depth_range=(0.2, 1.0))
    assert d.min() == pytest.approx(0.2, abs=1e-6) and d.max() == pytest.approx(1.0, abs=1e-6)
    # smooth: neighbouring pixels differ by a small fraction of the range (white noise would differ by ~0.27)
    assert np.abs(np.diff(d, axis=0)).max() < 0.05 and np.abs(np.diff(d, axis=1)).max() < 0.05
    assert d[:10].mean() > d[-10:].mean()


# ---- rain, eq. 3 ---------------------------------------------------------------------------------------

def test_rain_is_the_image_plus_the_sum_of_streak_layers_clipped():
    img = photo()
    rainy = add_rain(img, 5, layers=3)
    layers, info = rain_layers(img.shape, 5, layers=3)
    assert len(layers) == 3 == len(info["layers"])
    np.testing.assert_allclose(rainy, np.clip(img + np.sum(layers, axis=0)[..., None], 0, 1), atol=1e-6)
    for s, li in zip(layers, info["layers"], strict=True):
        assert s.min() >= 0 and s.max() <= 1
        assert np.median(s[s > 0.05]) <= li["intensity"] + 1e-6  # overlapping streaks may add up


@pytest.mark.parametrize("angle", [0.0, 25.0, -40.0])
def test_rain_streaks_point_along_the_requested_angle(angle):
    (layer,), _ = rain_layers((256, 256), 1, layers=1, angle=angle, angle_jitter=0.0, length=40.0,
                              density=0.002, intensity=0.8)
    # the layer is most similar to itself shifted along the streaks: scan the autocorrelation by direction
    f = np.fft.fft2(layer - layer.mean())
    ac = np.fft.fftshift(np.real(np.fft.ifft2(f * np.conj(f))))

    def bilinear(y, x):
        y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
        fy, fx = y - y0, x - x0
        return ((1 - fy) * (1 - fx) * ac[y0, x0] + (1 - fy) * fx * ac[y0, x0 + 1]
                + fy * (1 - fx) * ac[y0 + 1, x0] + fy * fx * ac[y0 + 1, x0 + 1])

    r = np.arange(5.0, 30.0)
    candidates = np.arange(-89.5, 90, 0.5)
    score = [bilinear(128 + r * np.cos(np.deg2rad(a)), 128 + r * np.sin(np.deg2rad(a))).sum() for a in candidates]
    assert abs(candidates[int(np.argmax(score))] - angle) <= 1.5


def test_rain_density_sets_how_much_of_the_image_is_streaked():
    sparse, _ = rain_layers((96, 96), 2, layers=1, density=0.001, length=10.0, intensity=0.8)
    dense, _ = rain_layers((96, 96), 2, layers=1, density=0.02, length=10.0, intensity=0.8)
    frac = [float((s[0] > 0.05).mean()) for s in (sparse, dense)]
    assert frac[1] > 5 * frac[0] > 0


# ---- motion blur ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_motion_kernel_is_a_normalised_trajectory(seed):
    k = motion_kernel(seed, length=15.0)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.min() >= 0 and k.sum() == pytest.approx(1.0, abs=1e-12)
    assert (k > 1e-4).sum() >= 10, "a 15-pixel trajectory covers many pixels"
    ys, xs = np.nonzero(k > 1e-4)
    assert max(np.ptp(ys), np.ptp(xs)) <= 16
    np.testing.assert_array_equal(k, motion_kernel(seed, length=15.0))


def test_fft_convolution_matches_direct_numpy_reference():
    rng = np.random.default_rng(0)
    img = rng.random((13, 17, 3))
    for shape in [(1, 1), (3, 5), (7, 7), (9, 3)]:
        k = rng.random(shape)
        np.testing.assert_allclose(convolve_same(img, k), direct_convolution(img, k), atol=1e-10)


def test_motion_blur_is_convolution_with_its_kernel_and_a_point_becomes_the_kernel():
    img = photo(30, 40)
    k = motion_kernel(4, length=9.0)
    np.testing.assert_allclose(add_motion_blur(img, 4, length=9.0), np.clip(direct_convolution(img, k), 0, 1),
                               atol=1e-5)
    point = np.zeros((41, 41, 3), np.float32)
    point[20, 20] = 1.0
    out = add_motion_blur(point, 0, kernel=k)
    r = k.shape[0] // 2
    np.testing.assert_allclose(out[20 - r:21 + r, 20 - r:21 + r, 0], k, atol=1e-6)


def test_motion_blur_noise_has_the_requested_sigma():
    flat = np.full((128, 128, 3), 0.5, np.float32)
    out = add_motion_blur(flat, 0, noise_sigma=0.02)
    assert np.std(out - 0.5) == pytest.approx(0.02, rel=0.05)
    np.testing.assert_allclose(add_motion_blur(flat, 0), 0.5, atol=1e-6)


def test_rasterized_line_has_unit_mass_per_point():
    pts = line_points(10.0, 30.0)
    assert rasterize_path(pts, 15).sum() == pytest.approx(len(pts))


# ---- JPEG ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("quality", [10, 40])
def test_jpeg_is_byte_identical_to_pil(quality):
    u8 = (photo() * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, "JPEG", quality=quality)
    assert jpeg_bytes(u8, quality) == buf.getvalue()
    ref = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float32) / 255
    np.testing.assert_array_equal(add_jpeg(u8.astype(np.float32) / 255, 0, quality=quality), ref)


def test_jpeg_lower_quality_loses_more_and_quality_lists_are_drawn_by_seed():
    img = photo(64, 64)
    err = [np.mean((add_jpeg(img, 0, quality=q) - img) ** 2) for q in (10, 40, 90)]
    assert err[0] > err[1] > err[2]
    picks = {pick_quality(s, [10, 20, 30, 40]) for s in range(40)}
    assert picks == {10, 20, 30, 40}
    assert pick_quality(5, [10, 20, 30, 40]) == pick_quality(5, [10, 20, 30, 40])
    _, info = add_jpeg(img, 5, return_info=True)
    assert info["quality"] == pick_quality(5, (10, 20, 30, 40))
