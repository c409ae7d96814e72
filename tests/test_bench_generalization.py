"""`bench/generalization.py`: its held-out synthesis against readable references, and the bench end to end on
the shared tiny trained model (R>H heads, with a classifier) over a folder of small crops of `skimage.data`."""

import contextlib
import io
import json
import math
import os
import re

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio

from tests.support.exports import trained_tiny_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = ("chelsea", "coffee", "astronaut")


@pytest.fixture(scope="module")
def bench():
    """`bench/generalization.py` as a module (with bench/ on the path for its `foreign_photos` and `machine`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(os.path.join(ROOT, "bench"))
        import generalization

        yield generalization


def _photo(name: str, side: int) -> np.ndarray:
    from tfrecords_tools.photos import load_photo

    photo = load_photo(name, 4 * side)
    return np.ascontiguousarray(photo[:side, :side])


@pytest.mark.parametrize("angle", [0.0, 30.0, 72.5, 90.0, 135.0])
def test_line_kernel_sums_to_one_with_the_requested_direction_and_length(bench, angle):
    kernel = bench.line_kernel(11, angle)
    assert kernel.shape[0] % 2 == 1 and kernel.min() >= 0 and kernel.sum() == pytest.approx(1.0)
    centre = kernel.shape[0] // 2
    rows, cols = np.indices(kernel.shape)
    x, y = cols - centre, centre - rows  # y up: the angle is counter-clockwise from the x axis
    assert abs(np.sum(kernel * x)) < 1e-9 and abs(np.sum(kernel * y)) < 1e-9  # centred: no shift
    moments = np.array([[np.sum(kernel * x * x), np.sum(kernel * x * y)],
                        [np.sum(kernel * x * y), np.sum(kernel * y * y)]])
    variances, axes = np.linalg.eigh(moments)
    found = math.degrees(math.atan2(axes[1, 1], axes[0, 1])) % 180
    assert abs((found - angle + 90) % 180 - 90) < 0.5
    assert math.sqrt(12 * variances[1]) == pytest.approx(11, abs=0.3)  # a uniform segment: variance L²/12
    assert math.sqrt(12 * variances[0]) < 1.6  # about one pixel wide


def test_jpeg_is_pils_round_trip_with_444_chroma(bench):
    clean = _photo("coffee", 64)
    buffer = io.BytesIO()
    Image.fromarray(clean).save(buffer, "JPEG", quality=10, subsampling=0)
    expected = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    np.testing.assert_array_equal(bench.jpeg_444(clean), expected)
    degraded, info = bench.degrade("jpeg", clean, 0, 0)
    np.testing.assert_array_equal(degraded, expected)
    assert info == {"quality": 10, "subsampling": "4:4:4"}
    buffer = io.BytesIO()
    Image.fromarray(clean).save(buffer, "JPEG", quality=10)  # Pillow's default 4:2:0, the training family's
    assert not np.array_equal(np.asarray(Image.open(buffer).convert("RGB")), expected)


def test_haze_is_eq2_on_the_returned_depth_and_airlight(bench):
    clean = _photo("astronaut", 48).astype(np.float32) / 255
    hazy, info = bench.add_planar_haze(clean, np.random.default_rng(4))
    depth, beta, airlight = info["depth"], info["beta"], np.asarray(info["airlight"])
    t = np.exp(-beta * depth.astype(np.float64))[..., None]
    np.testing.assert_allclose(hazy, np.clip(clean * t + airlight * (1 - t), 0, 1), atol=1e-6)
    assert 0.8 <= beta <= 1.6 and np.all((airlight >= 0.75) & (airlight <= 0.95))
    assert np.ptp(airlight) > 0  # tinted, not grey
    assert depth.shape == clean.shape[:2] and depth.min() >= 0.1 - 1e-6 and depth.max() <= 1.0 + 1e-6
    assert depth[-4:].mean() < depth[:4].mean()  # the ground near the bottom, far at the top


def test_rain_adds_one_streak_layer_covering_a_few_percent(bench):
    clean = _photo("chelsea", 64).astype(np.float32) / 255
    rainy, info = bench.add_drawn_rain(clean, np.random.default_rng(1))
    streak, same = bench.rain_layer(64, 64, np.random.default_rng(1))
    assert same == info and streak.min() >= 0 and streak.max() <= 0.9 + 1e-6
    np.testing.assert_allclose(rainy, np.clip(clean + streak[..., None], 0, 1), atol=1e-6)  # O = B + S, clipped
    assert abs(info["angle"]) <= 25 and 0.02 <= info["target_coverage"] <= info["coverage"] < 0.1
    assert 0.005 < np.mean(streak > 0.1) < 0.15  # a few percent of the pixels carry a visible streak


def test_crop_windows_do_not_overlap_and_are_square_ish(bench):
    import foreign_photos

    windows = foreign_photos.crop_windows(427, 640)
    assert len(windows) == 3
    covered = np.zeros((427, 640), int)
    for top, left, h, w in windows:
        assert max(h, w) / min(h, w) <= 4 / 3 + 1e-9 and min(h, w) >= foreign_photos.MIN_CROP
        covered[top:top + h, left:left + w] += 1
    assert covered.max() == 1


@pytest.fixture(scope="module")
def run(bench, tmp_path_factory):
    """The bench on three 64-px photographs (2×2 grids: 3 crops each, 9 test images): its output and JSON."""
    folder = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        Image.fromarray(_photo(name, 64)).save(folder / f"{name}.png")
    out = folder.parent / "generalization.json"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = bench.main(["--model", trained_tiny_path(), "--photos", str(folder), "--max-side", "64",
                           "--seed", "3", "--json", str(out)])
    assert code == 0, stderr.getvalue()[-3000:]
    return stdout.getvalue(), stderr.getvalue(), json.loads(out.read_text()), folder


def test_summary_is_numpy_on_the_per_image_gains(bench, run):
    stdout, stderr, result, _ = run
    assert "machine: " in stdout and "held-out synthesis" in stdout and "test images (9," in stdout
    assert "[1/9] astronaut-1: " in stderr and "[9/9] coffee-3: " in stderr  # progress, one line per image
    names = [r["name"] for r in result["images"]]
    assert len(names) == 9 and names[0] == "astronaut-1"
    for task in ("haze", "rain"):  # the tiny model's heads
        gains = np.array([r["tasks"][task]["gain_db"] for r in result["images"]])
        row = result["summary"][task]
        assert row["images"] == 9 and row["mean_gain_db"] == pytest.approx(np.mean(gains))
        assert row["median_gain_db"] == pytest.approx(np.median(gains))
        assert row["worst_gain_db"] == pytest.approx(gains.min()) and row["worst_image"] == names[int(np.argmin(gains))]
        assert row["made_worse"] == int(np.sum(gains < 0))
        assert row["score_on"] == ("rgb" if task == "haze" else "y")
    for task in ("motion_blur", "jpeg"):  # no head: not scored, still degraded and classified
        assert result["summary"][task] == {"images": 0} and not result["images"][0]["tasks"][task]["head"]
    assert "(no jpeg head in this model: not scored)" in stdout


def test_a_gain_is_skimages_psnr_difference_recomputed(bench, run):
    import foreign_photos

    from keras_durbm.config.tasks import get_task
    from keras_durbm.images.pixels import to_float, to_uint8
    from keras_durbm.models import load_durbm
    from keras_durbm.restoration.tiling import restore

    _, _, result, folder = run
    photo = foreign_photos.Photo("astronaut", folder.name, str(folder / "astronaut.png"))
    test = foreign_photos.crops(photo, foreign_photos.read_rgb8(photo.path), 64)[0]
    assert test.name == "astronaut-1" and list(test.window) == result["images"][0]["window"]
    model = load_durbm(trained_tiny_path())
    for task in ("haze", "rain"):
        degraded, _ = bench.degrade(task, test.image, 3, 0)
        restored = to_uint8(restore(model, to_float(degraded), get_task(task)))
        if task == "haze":
            gain = (peak_signal_noise_ratio(test.image, restored, data_range=255)
                    - peak_signal_noise_ratio(test.image, degraded, data_range=255))
        else:
            y = [rgb2ycbcr(a)[..., 0] for a in (test.image, restored, degraded)]
            gain = (peak_signal_noise_ratio(y[0], y[1], data_range=255)
                    - peak_signal_noise_ratio(y[0], y[2], data_range=255))
        assert result["images"][0]["tasks"][task]["gain_db"] == pytest.approx(gain, abs=1e-6)


def test_confusion_matrix_counts_five_classes_per_image(run):
    stdout, _, result, _ = run
    confusion = result["confusion"]
    assert confusion["classes"] == ["motion_blur", "haze", "rain", "jpeg", "clean"]
    counts = np.array(confusion["counts"])
    assert counts.sum() == 5 * 9 and list(counts.sum(axis=1)) == [9] * 5
    truth = [label for r in result["images"] for label in r["classified"]]
    assert len(truth) == 45 and "accuracy" in stdout and "recall" in stdout


def test_routed_gains_and_the_threshold_table_follow_the_classifier(run):
    """A degraded image routed to its own head gains what that head gains; one routed to clean gains 0; the
    table's row at threshold t counts only images whose top probability reaches t, the others as gain 0."""
    stdout, _, result, _ = run
    routed = {"haze": [], "rain": []}
    for record in result["images"]:
        for label, found in record["classified"].items():
            if label in routed:
                routed[label].append((max(found["probabilities"].values()), found["routed_gain_db"]))
            if found["predicted"] == label and label in routed:
                assert found["routed_gain_db"] == pytest.approx(record["tasks"][label]["gain_db"], abs=1e-9)
            if found["predicted"] == "clean":
                assert found["routed_gain_db"] == 0.0 and not found["altered"]
    rows = {line.split()[0]: line.split()[1:] for line in stdout.splitlines() if re.match(r"^0\.\d0 ", line)}
    for threshold in ("0.00", "0.70"):
        for column, task in ((1, "haze"), (2, "rain")):
            gains = [gain if top >= float(threshold) else 0.0 for top, gain in routed[task]]
            assert rows[threshold][3 * column] == f"{np.mean(gains):+.2f}"


def test_a_missing_photo_folder_or_too_few_images_exit_2(bench, tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    assert bench.main(["--model", trained_tiny_path(), "--photos", str(missing)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: photo folder {missing} does not exist"]
    Image.fromarray(_photo("coffee", 40)).save(tmp_path / "one.png")  # too small to split: one crop
    assert bench.main(["--model", trained_tiny_path(), "--photos", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: 1 test image(s) from folder") and "at least 4 needed" in error
