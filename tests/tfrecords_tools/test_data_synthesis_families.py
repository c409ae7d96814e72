"""The degradation families (motion blur, haze depth models and airlight, rain width and softness, JPEG
subsampling and quality ranges) against readable references: kernel moments and circle fits, eq. 2 by
hand, the structure tensor of the rain layer, PIL's own JPEG round trip. The defaults must stay the
original synthesis (same output for the same seed)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from keras_durbm.config.tasks import HAZE, JPEG, MOTION_BLUR, RAIN
from tfrecords_tools.synthesis import SYNTHESIZERS, resolve_params
from tfrecords_tools.synthesis.haze import (
    add_haze,
    banded_depth,
    noise_depth,
    planar_depth,
    ramp_depth,
    random_depth,
)
from tfrecords_tools.synthesis.jpeg import add_jpeg, jpeg_bytes, pick_quality
from tfrecords_tools.synthesis.kernels import convolve_same, curve_kernel, line_kernel
from tfrecords_tools.synthesis.motion_blur import add_motion_blur, motion_kernel
from tfrecords_tools.synthesis.rain import add_rain, rain_layers, streak_kernel


def photo(h=40, w=48, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.5 + 0.4 * np.sin(6 * xx), 0.5 + 0.4 * np.cos(5 * yy), 0.3 + 0.5 * xx * yy], -1)
    return np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1).astype(np.float32)


def mass_coordinates(k: np.ndarray):
    """Pixel coordinates (x right, y up, origin at the kernel centre) and masses of a kernel's pixels."""
    c0, c1 = k.shape[0] // 2, k.shape[1] // 2
    yy, xx = np.mgrid[0:k.shape[0], 0:k.shape[1]]
    keep = k.ravel() > 0
    return (xx - c1).ravel()[keep].astype(float), (c0 - yy).ravel()[keep].astype(float), k.ravel()[keep]


def principal_axis(k: np.ndarray) -> tuple[float, float]:
    """(orientation in degrees in [0, 180), counter-clockwise from +x; extent along it in px) of a kernel's
    mass from its second moments. A uniform run of n pixels has variance (n^2 - 1) / 12, so the extent is
    sqrt(12 var + 1)."""
    x, y, w = mass_coordinates(k)
    w = w / w.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    cxx, cyy, cxy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum(), (w * (x - mx) * (y - my)).sum()
    angle = np.degrees(0.5 * np.arctan2(2 * cxy, cxx - cyy)) % 180
    var_major = 0.5 * (cxx + cyy) + np.hypot(0.5 * (cxx - cyy), cxy)
    return float(angle), float(np.sqrt(12 * var_major + 1))


def angle_diff(a: float, b: float, period: float = 180.0) -> float:
    return abs((a - b + period / 2) % period - period / 2)


# ---- motion blur: families -------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [3, 11, 25])
@pytest.mark.parametrize("angle", [0, 37, 90, 135])
def test_line_kernel_sums_to_1_with_the_requested_orientation_and_length(length, angle):
    k = line_kernel(length, angle)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1 and k.min() >= 0
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    orientation, extent = principal_axis(k)
    assert angle_diff(orientation, angle) <= 3.0
    assert abs(extent - length) <= 1.0
    x, y, w = mass_coordinates(k)
    assert abs((w * x).sum()) < 1e-9 and abs((w * y).sum()) < 1e-9, "centred: no shift of the image"


def test_axis_aligned_lines_are_boxes():
    k = line_kernel(11, 0)
    c = k.shape[0] // 2
    box = np.zeros_like(k)
    box[c, c - 5:c + 6] = 1 / 11
    np.testing.assert_allclose(k, box, atol=1e-12)
    np.testing.assert_allclose(line_kernel(11, 90), box.T, atol=1e-12)
    np.testing.assert_allclose(line_kernel(11, 180), box, atol=1e-12)


def fit_circle(k: np.ndarray) -> tuple[float, float, float]:
    """Weighted algebraic (Kasa) circle fit to a kernel's mass: (centre x, centre y, radius), y up."""
    x, y, w = mass_coordinates(k)
    sw = np.sqrt(w)
    a = np.stack([x, y, np.ones_like(x)], 1) * sw[:, None]
    d, e, f = np.linalg.lstsq(a, -(x * x + y * y) * sw, rcond=None)[0]
    cx, cy = -d / 2, -e / 2
    return float(cx), float(cy), float(np.sqrt(cx * cx + cy * cy - f))


@pytest.mark.parametrize("length, angle, curvature", [(25, 0, 0.1), (25, 60, -0.08), (15, 120, 0.2),
                                                      (25, 10, 0.25)])
def test_curve_kernel_is_an_arc_of_the_requested_radius_length_and_direction(length, angle, curvature):
    k = curve_kernel(length, angle, curvature)
    assert k.min() >= 0 and k.sum() == pytest.approx(1.0, abs=1e-12)
    x, y, w = mass_coordinates(k)
    assert abs((w * x).sum()) < 1e-9 and abs((w * y).sum()) < 1e-9, "centred on its centre of mass"
    cx, cy, radius = fit_circle(k)
    assert radius == pytest.approx(1 / abs(curvature), rel=0.05)
    # arc length: the mass spread along the circle (arc coordinate = radius x angle about the centre)
    mid = np.arctan2(-cy, -cx)  # direction from the centre to the centre of mass
    s = radius * np.angle(np.exp(1j * (np.arctan2(y - cy, x - cx) - mid)))
    var = (w * s * s).sum() - (w * s).sum() ** 2
    assert abs(np.sqrt(12 * var + 1) - length) <= 1.0
    # the chord points at `angle`; positive curvature bends counter-clockwise (centre on the left of it)
    to_centre = np.degrees(np.arctan2(cy, cx))
    assert angle_diff(to_centre, angle + (90 if curvature > 0 else -90), 360) <= 3.0


@pytest.mark.parametrize("length, angle", [(3, 0), (11, 37), (25, 135)])
def test_a_curve_of_zero_curvature_is_the_line(length, angle):
    np.testing.assert_array_equal(curve_kernel(length, angle, 0.0), line_kernel(length, angle))


@pytest.mark.parametrize("seed", [0, 1])
def test_motion_blur_defaults_take_the_camera_trajectory_path(seed):
    img = photo()
    out = add_motion_blur(img, seed)
    np.testing.assert_array_equal(out, add_motion_blur(img, seed, family="trajectory"))
    np.testing.assert_array_equal(out, add_motion_blur(img, seed, family=["trajectory"]))
    np.testing.assert_array_equal(motion_kernel(seed), motion_kernel(seed, family="trajectory"))
    _, info = add_motion_blur(img, seed, return_info=True)
    assert set(info) == {"length", "kernel_size", "noise_sigma"}


@pytest.mark.parametrize("family", ["line", "curve"])
def test_line_and_curve_blur_is_convolution_with_the_sampled_kernel(family):
    img = photo()
    out, info = add_motion_blur(img, 3, family=family, length=(3, 25), return_info=True)
    assert info["family"] == family and 3 <= info["length"] <= 25 and 0 <= info["angle"] <= 180
    k = (line_kernel(info["length"], info["angle"]) if family == "line"
         else curve_kernel(info["length"], info["angle"], info["curvature"]))
    np.testing.assert_array_equal(motion_kernel(3, family=family, length=(3, 25)), k)
    np.testing.assert_allclose(out, np.clip(convolve_same(img, k), 0, 1), atol=1e-6)
    assert info["kernel_size"] == k.shape[0]


def test_a_family_list_draws_every_family_by_seed_without_changing_the_other_draws():
    img = photo(16, 16)
    families = ("trajectory", "line", "curve")
    drawn = {s: add_motion_blur(img, s, family=families, return_info=True)[1]["family"] for s in range(24)}
    assert set(drawn.values()) == set(families)
    s = next(s for s, f in drawn.items() if f == "trajectory")
    np.testing.assert_array_equal(add_motion_blur(img, s, family=families), add_motion_blur(img, s))
    s = next(s for s, f in drawn.items() if f == "line")
    np.testing.assert_array_equal(add_motion_blur(img, s, family=families), add_motion_blur(img, s, family="line"))


def test_unknown_families_are_refused_naming_the_valid_ones():
    with pytest.raises(ValueError, match="unknown family 'zigzag'; valid: 'trajectory', 'line', 'curve'"):
        add_motion_blur(photo(8, 8), 0, family="zigzag")
    with pytest.raises(ValueError, match="unknown depth_model 'fog'; valid: 'random', 'noise'"):
        add_haze(photo(8, 8), 0, depth_model=["ramp", "fog"])
    with pytest.raises(ValueError, match="unknown subsampling '4:1:1'; valid: '4:4:4', '4:2:2', '4:2:0'"):
        add_jpeg(photo(8, 8), 0, subsampling="4:1:1")
    with pytest.raises(ValueError, match="subsampling 14520 is not a name.*quote it"):
        add_jpeg(photo(8, 8), 0, subsampling=14520)  # YAML's reading of an unquoted 4:2:0
    with pytest.raises(ValueError, match="family: empty list"):
        add_motion_blur(photo(8, 8), 0, family=[])


# ---- haze: depth models, tinted airlight (eq. 2) -------------------------------------------------------

SHAPE = (48, 64)


@pytest.mark.parametrize("model", ["noise", "ramp", "planar", "banded"])
def test_every_depth_model_lies_in_0_1(model):
    rng = np.random.default_rng(0)
    d = {"noise": lambda: noise_depth(SHAPE, rng), "ramp": lambda: ramp_depth(SHAPE, 33.0),
         "planar": lambda: planar_depth(SHAPE, 0.3, 5.0), "banded": lambda: banded_depth(SHAPE, rng, 4, 0.03)}[model]()
    assert d.shape == SHAPE and d.min() >= 0.0 and d.max() <= 1.0 + 1e-12
    assert d.max() - d.min() > 0.9


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 200.0])
def test_ramp_depth_is_a_plane_growing_towards_the_requested_direction(angle):
    d = ramp_depth(SHAPE, angle)
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(float)
    up = -yy  # y up, so angles are counter-clockwise on the screen
    a = np.stack([xx.ravel(), up.ravel(), np.ones(d.size)], 1)
    coef = np.linalg.lstsq(a, d.ravel(), rcond=None)[0]
    assert np.abs(a @ coef - d.ravel()).max() < 1e-9, "a plane"
    gx, gy = coef[:2]
    assert angle_diff(np.degrees(np.arctan2(gy, gx)), angle, 360) < 0.1


def test_noise_depth_is_smooth():
    d = noise_depth((96, 128), np.random.default_rng(1))
    assert np.abs(np.diff(d, axis=0)).max() < 0.1 and np.abs(np.diff(d, axis=1)).max() < 0.1


def test_planar_depth_grows_towards_the_horizon_and_the_sky_is_farthest():
    d = planar_depth(SHAPE, 0.25)
    horizon_row = 0.25 * (SHAPE[0] - 1)
    assert (np.diff(d, axis=0) <= 1e-12).all(), "depth never decreases going up towards the horizon"
    assert (d[: int(np.floor(horizon_row)) + 1] == 1.0).all() and d[-1].max() == pytest.approx(0.0)
    tilted = planar_depth(SHAPE, 0.5, 10.0)
    assert (np.diff(tilted, axis=0) <= 1e-12).all()
    sky_left, sky_right = (tilted[:, 0] == 1).sum(), (tilted[:, -1] == 1).sum()
    assert sky_right < sky_left, "tilted counter-clockwise: the horizon is higher on the right"


def test_banded_depth_has_few_distinct_levels_before_softening():
    sharp = banded_depth(SHAPE, np.random.default_rng(2), 4, 0.0)
    np.testing.assert_allclose(np.unique(sharp), [0, 1 / 3, 2 / 3, 1], atol=1e-12)
    assert (sharp == sharp[:, :1]).all(), "horizontal bands"
    soft = banded_depth(SHAPE, np.random.default_rng(2), 4, 0.05)
    assert len(np.unique(soft)) > 4 and soft.min() >= 0 and soft.max() <= 1
    assert np.abs(np.diff(soft, axis=0)).max() < 0.5 * np.abs(np.diff(sharp, axis=0)).max()


@pytest.mark.parametrize("tint", [0.12, -0.1])
def test_tinted_airlight_haze_is_eq_2_by_hand(tint):
    img = photo()
    hazy, info = add_haze(img, 4, beta=1.1, airlight=0.9, airlight_tint=tint, depth_model="ramp", ramp_angle=30.0,
                          depth_range=(0.2, 1.0), return_info=True)
    depth = 0.2 + 0.8 * ramp_depth(img.shape[:2], 30.0)
    t = np.exp(-1.1 * depth)[..., None]
    airlight = np.clip(0.9 * np.array([1 - tint, 1.0, 1 + tint]), 0, 1)  # (R, G, B): tint > 0 is bluish
    np.testing.assert_allclose(hazy, img * t + airlight * (1 - t), atol=1e-6)
    np.testing.assert_allclose(info["airlight_rgb"], airlight, atol=1e-6)
    assert info["depth_model"] == "ramp" and info["ramp_angle"] == 30.0


@pytest.mark.parametrize("seed", [0, 1])
def test_haze_defaults_take_the_original_random_depth_path(seed):
    """Replays the original draws: beta, grey airlight, then `random_depth` on the same generator."""
    img = photo()
    hazy, info = add_haze(img, seed, return_info=True)
    rng = np.random.default_rng(seed)
    beta, a = rng.uniform(0.6, 1.8), rng.uniform(0.7, 1.0)
    t = np.exp(-beta * random_depth(img.shape[:2], rng).astype(np.float64)).astype(np.float32)[..., None]
    np.testing.assert_array_equal(hazy, np.clip(img * t + np.float32(a) * (1 - t), 0, 1).astype(np.float32))
    assert info == {"beta": beta, "airlight": a}
    np.testing.assert_array_equal(hazy, add_haze(img, seed, depth_model=["random"], airlight_tint=0.0))


def test_a_depth_model_list_draws_every_model():
    models = ["random", "noise", "ramp", "planar", "banded"]
    img = photo(12, 12)
    drawn = {add_haze(img, s, depth_model=models, return_info=True)[1]["depth_model"] for s in range(30)}
    assert drawn == set(models)


# ---- rain (eq. 3): angle, width, softness, density -----------------------------------------------------

def streak_direction(layer: np.ndarray) -> float:
    """Streak angle in degrees from vertical (positive: lower end to the right) from the structure tensor:
    its eigenvector of least gradient energy points along the streaks (gradients of a Gaussian-smoothed layer)."""
    g = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
    gy, gx = np.gradient(convolve_same(layer.astype(np.float64), np.outer(g, g) / g.sum() ** 2, mode="constant"))
    tensor = np.array([[(gx * gx).sum(), (gx * gy).sum()], [(gx * gy).sum(), (gy * gy).sum()]])
    dx, dy = np.linalg.eigh(tensor)[1][:, 0]
    return float(np.degrees(np.arctan2(dx, dy)))


@pytest.mark.parametrize("angle", [-45.0, 0.0, 20.0, 60.0])
@pytest.mark.parametrize("width, softness", [(1.0, 0.0), (3.0, 1.5)])
def test_rain_streaks_point_along_the_requested_angle_for_any_width_and_softness(angle, width, softness):
    (layer,), info = rain_layers((128, 128), 3, layers=1, angle=angle, angle_jitter=0.0, length=40.0,
                                 density=0.003, intensity=0.8, width=width, softness=softness)
    assert angle_diff(streak_direction(layer), angle) <= 3.0
    assert info["layers"][0]["angle"] == angle


def test_streak_width_and_softness():
    thin = streak_kernel(20.0, 0.0)
    c = thin.shape[0] // 2
    wide = streak_kernel(20.0, 0.0, width=3.0)
    cw = wide.shape[0] // 2
    np.testing.assert_allclose(wide[cw - 5:cw + 6, cw - 2:cw + 3], np.tile([0, 1, 1, 1, 0], (11, 1)), atol=0.03)
    np.testing.assert_allclose(thin[c - 5:c + 6, c - 1:c + 2], np.tile([0, 1, 0], (11, 1)), atol=0.03)
    for w in (0.5, 1.7, 3.0):
        assert streak_kernel(20.0, 25.0, width=w).sum() == pytest.approx(w * streak_kernel(20.0, 25.0).sum())
    soft = streak_kernel(20.0, 0.0, softness=1.5)
    assert soft.sum() == pytest.approx(thin.sum()) and soft.max() < 0.5 * thin.max()
    with pytest.raises(ValueError, match="width must be > 0"):
        add_rain(photo(8, 8), 0, width=0.0)


def test_more_density_or_width_streaks_more_pixels():
    def rainy_fraction(**kw):
        (layer,), _ = rain_layers((96, 96), 2, layers=1, length=15.0, intensity=0.8, **kw)
        return float((layer > 0.05).mean())

    fracs = [rainy_fraction(density=d) for d in (0.001, 0.005, 0.02)]
    assert 0 < fracs[0] < fracs[1] < fracs[2]
    assert rainy_fraction(density=0.005, width=3.0) > 1.5 * fracs[1]


@pytest.mark.parametrize("seed", [0, 1])
def test_rain_defaults_are_unchanged_by_the_new_parameters(seed):
    img = photo()
    out, info = add_rain(img, seed, return_info=True)
    np.testing.assert_array_equal(out, add_rain(img, seed, width=1.0, softness=0.0))
    assert all(set(layer) == {"angle", "length", "density", "intensity"} for layer in info["layers"])
    wild = dict(angle=(-60, 60), length=(5, 80), width=(0.5, 3), density=(0.001, 0.05), intensity=(0.1, 1.0),
                softness=(0, 2))
    a, b = add_rain(img, seed, **wild), add_rain(img, seed, **wild)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1


# ---- JPEG: chroma subsampling, quality range -------------------------------------------------------------

def colourful(h=48, w=48, seed=0) -> np.ndarray:
    """Saturated colour blocks of 2 x 2 pixels: chroma detail that 4:2:0 subsampling cannot keep."""
    rng = np.random.default_rng(seed)
    blocks = rng.random((h // 2, w // 2, 3)) > 0.5
    return np.repeat(np.repeat(blocks, 2, 0), 2, 1).astype(np.float32)


def chroma_detail(img: np.ndarray) -> float:
    """Energy of the neighbour differences of the chroma (Cb, Cr of ITU-R BT.601)."""
    r, g, b = (img[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    chroma = np.stack([(b - y) / 1.772, (r - y) / 1.402], -1)
    return float((np.diff(chroma, axis=0) ** 2).sum() + (np.diff(chroma, axis=1) ** 2).sum())


@pytest.mark.parametrize("quality", [10, 40])
def test_jpeg_444_is_pils_own_round_trip_and_420_blurs_the_chroma(quality):
    img = colourful()
    u8 = (img * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, "JPEG", quality=quality, subsampling=0)
    ref = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float32) / 255
    full = add_jpeg(img, 0, quality=quality, subsampling="4:4:4")
    np.testing.assert_array_equal(full, ref)
    sub = add_jpeg(img, 0, quality=quality, subsampling="4:2:0")
    assert not np.array_equal(sub, full)
    assert chroma_detail(sub) < 0.7 * chroma_detail(full) < chroma_detail(img)


def test_jpeg_default_subsampling_is_pils_default_4_2_0_and_unchanged():
    u8 = (photo() * 255).round().astype(np.uint8)
    assert jpeg_bytes(u8, 20) == jpeg_bytes(u8, 20, subsampling="4:2:0")
    img = photo()
    for seed in (0, 1):
        out, info = add_jpeg(img, seed, return_info=True)
        np.testing.assert_array_equal(out, add_jpeg(img, seed, quality=(10, 20, 30, 40), quality_range=None,
                                                     subsampling=None))
        assert info == {"quality": pick_quality(seed, (10, 20, 30, 40))}


def test_jpeg_quality_range_and_subsampling_lists_are_drawn_by_seed_independently():
    img = photo(16, 16)
    infos = [add_jpeg(img, s, quality_range=(5, 40), subsampling=["4:4:4", "4:2:0"], return_info=True)[1]
             for s in range(60)]
    qualities = [i["quality"] for i in infos]
    assert min(qualities) >= 5 and max(qualities) <= 40 and len(set(qualities)) > 15
    assert {i["subsampling"] for i in infos} == {"4:4:4", "4:2:0"}
    # the subsampling draw has its own stream: the list quality is still `pick_quality`'s
    _, info = add_jpeg(img, 7, subsampling=["4:4:4", "4:2:2", "4:2:0"], return_info=True)
    assert info["quality"] == pick_quality(7, (10, 20, 30, 40))
    with pytest.raises(ValueError, match="quality_range must be"):
        add_jpeg(img, 0, quality_range=(40, 5))


# ---- configuration: the new parameters are listed and accept lists as JSON gives them ---------------------

def test_new_parameters_are_configurable_through_resolve_params():
    assert resolve_params(MOTION_BLUR)["family"] == "trajectory"
    assert resolve_params(HAZE)["depth_model"] == "random" and resolve_params(HAZE)["airlight_tint"] == 0.0
    assert resolve_params(RAIN)["width"] == 1.0 and resolve_params(RAIN)["softness"] == 0.0
    assert resolve_params(JPEG)["subsampling"] is None and resolve_params(JPEG)["quality_range"] is None
    img = photo(24, 24)
    for task, overrides in [(MOTION_BLUR, {"family": ["line", "curve"], "length": [3, 9]}),
                            (HAZE, {"depth_model": ["planar", "banded"], "airlight_tint": [-0.1, 0.1]}),
                            (RAIN, {"width": [0.5, 3.0], "softness": [0.0, 1.0]}),
                            (JPEG, {"quality_range": [5, 40], "subsampling": ["4:4:4", "4:2:0"]})]:
        out = SYNTHESIZERS[task.name](img, 5, **resolve_params(task, overrides))
        assert out.dtype == np.float32 and out.shape == img.shape and 0 <= out.min() and out.max() <= 1
