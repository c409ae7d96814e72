"""The do-no-harm threshold: the choice against a brute-force loop, the calibration images against their
synthesizers, the routed gains against PSNR recomputed by hand, and a training run that stores it."""

import json
import math
import types

import numpy as np
import pytest

from keras_durbm.config.tasks import get_task
from keras_durbm.images.pixels import to_float, to_uint8
from keras_durbm.models import load_durbm
from keras_durbm.restoration.routing import Classification, classify
from keras_durbm.restoration.tiling import restore
from keras_durbm.seeding import derive_seed
from keras_durbm.train import main
from keras_durbm.training import routing_threshold as rt
from tests.support.exports import trained_tiny_path
from tfrecords_tools.synthesis import add_haze, add_jpeg, add_motion_blur, add_rain
from tfrecords_tools.synthesis.dead_leaves import dead_leaves_images

CANDIDATES = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def brute_force_threshold(top, gains, candidates):
    """The smallest candidate with the largest total, where a case below the candidate counts 0."""
    best, best_total = None, -math.inf
    for t in sorted(candidates):
        total = 0.0
        for p, g in zip(top, gains):
            if p >= t:
                total += g
        if total > best_total:
            best, best_total = t, total
    return best


def capped_rgb_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 50.0 if mse == 0 else min(10 * math.log10(255.0**2 / mse), 50.0)


def test_default_candidates_are_none_then_0_30_to_0_95():
    assert rt.DEFAULT_CANDIDATES == CANDIDATES


@pytest.mark.parametrize("seed", range(20))
def test_choose_threshold_matches_a_brute_force_loop(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    top = rng.uniform(0.2, 1.0, n)
    gains = rng.normal(0.5, 3.0, n) * (rng.random(n) < 0.8)  # some exact zeros (judged clean)
    assert rt.choose_threshold(top, gains) == brute_force_threshold(top, gains, CANDIDATES)
    candidates = tuple(rng.permutation(CANDIDATES))  # the order given does not matter
    assert rt.choose_threshold(top, gains, candidates) == brute_force_threshold(top, gains, candidates)


def test_choose_threshold_hand_cases():
    # every routed image gains: no threshold
    assert rt.choose_threshold([0.4, 0.9, 0.6], [1.0, 0.5, 2.0]) == 0.0
    # a confident wrong guess (0.9, -5 dB) beside an unsure right one (0.6, +3 dB): only a threshold above
    # 0.9 removes it; one at its probability keeps it (>=), so among these no threshold is best (-2 > -5)
    assert rt.choose_threshold([0.9, 0.6], [-5.0, 3.0]) == 0.95
    assert rt.choose_threshold([0.9, 0.6], [-5.0, 3.0], (0.0, 0.5, 0.7, 0.9)) == 0.0
    # 0.55 to 0.8 all keep only the +2 dB case: the smallest of them
    assert rt.choose_threshold([0.5, 0.8], [-1.0, 2.0]) == 0.55
    assert rt.choose_threshold([0.5, 0.8], [-1.0, 2.0], (0.8, 0.7, 0.6)) == 0.6
    # nothing routed: every total is 0, so no threshold
    assert rt.choose_threshold([0.5, 0.8], [0.0, 0.0]) == 0.0


def test_calibration_cases_are_dead_leaves_and_their_broad_degradations():
    tasks = ["motion_blur", "haze", "rain", "jpeg"]
    cases = rt.calibration_cases(tasks, count=3, size=48, seed=7)
    assert len(cases) == 3 * 5
    assert [label for label, _, _ in cases] == ["clean", *tasks] * 3
    clean = list(dead_leaves_images(3, 48, 7).values())
    for k, (label, degraded, target) in enumerate(cases):
        i = k // 5
        np.testing.assert_array_equal(target, clean[i])
        assert degraded.dtype == np.uint8 and degraded.shape == (48, 48, 3)
        if label == "clean":
            np.testing.assert_array_equal(degraded, clean[i])
        else:
            assert not np.array_equal(degraded, clean[i]), label

    # image 1 under each synthesizer with the broad families (none of bench/generalization.py's held-out ones)
    image = to_float(clean[1])
    expected = {
        "motion_blur": add_motion_blur(image, derive_seed(7, "motion_blur", 1), family=["trajectory", "curve"],
                                       length=(5, 25)),
        "haze": add_haze(image, derive_seed(7, "haze", 1), depth_model=["random", "noise", "ramp", "banded"],
                         beta=(0.3, 1.8), airlight=(0.6, 1.0), airlight_tint=(-0.1, 0.1)),
        "rain": add_rain(image, derive_seed(7, "rain", 1), width=(1, 2), softness=(0, 1)),
        "jpeg": add_jpeg(image, derive_seed(7, "jpeg", 1), quality_range=(5, 40)),
    }
    for j, task in enumerate(tasks):
        label, degraded, _ = cases[5 + 1 + j]
        assert label == task
        np.testing.assert_array_equal(degraded, to_uint8(expected[task]), err_msg=task)

    again = rt.calibration_cases(tasks, count=3, size=48, seed=7)
    for (la, da, ca), (lb, db, cb) in zip(cases, again, strict=True):
        assert la == lb
        np.testing.assert_array_equal(da, db)
        np.testing.assert_array_equal(ca, cb)
    other = rt.calibration_cases(["haze"], count=3, size=48, seed=8)
    assert len(other) == 6 and not np.array_equal(other[1][1], cases[2][1])


def test_routed_gains_leaves_clean_and_headless_classes_unchanged(monkeypatch):
    """The rule on a stand-in classifier: `clean`, and a class the model has no head for, run nothing."""
    named = iter(["clean", "rain"])
    monkeypatch.setattr(rt, "classify", lambda model, image: Classification(
        {"haze": 0.1, "rain": 0.1, "clean": 0.1, next(named): 0.7}))
    monkeypatch.setattr(rt, "restore", lambda *args, **kwargs: pytest.fail("no head should run"))
    image = np.full((8, 8, 3), 100, np.uint8)
    result = rt.routed_gains(types.SimpleNamespace(task_names=("haze",)), [("clean", image, image),
                                                                           ("rain", image, image // 2)])
    assert result.best == ("clean", "rain") and result.labels == ("clean", "rain")
    np.testing.assert_array_equal(result.gains, [0.0, 0.0])
    np.testing.assert_array_equal(result.routed, [False, False])
    np.testing.assert_allclose(result.top_probabilities, [0.7, 0.7])


@pytest.fixture(scope="module")
def tiny():
    return load_durbm(trained_tiny_path())  # R>H with a classifier (trained on haze vs clean)


def test_routed_gains_on_the_tiny_trained_model(tiny):
    cases = rt.calibration_cases(["haze"], count=6, size=48, seed=1)
    result = rt.routed_gains(tiny, cases)
    assert result.labels == tuple(label for label, _, _ in cases)
    heads = [k for k, best in enumerate(result.best) if best in tiny.task_names]
    clean = [k for k, best in enumerate(result.best) if best == "clean"]
    assert heads and clean, result.best  # the test needs both kinds of decision
    np.testing.assert_array_equal(result.routed, [best in tiny.task_names for best in result.best])
    for k in clean:
        assert result.gains[k] == 0.0
    for k in heads[:2]:
        _, degraded, target = cases[k]
        found = classify(tiny, to_float(degraded))
        assert found.best == result.best[k] and result.top_probabilities[k] == pytest.approx(found.confidence)
        output = to_uint8(restore(tiny, to_float(degraded), get_task(found.best)))
        expected = capped_rgb_psnr(output, target) - capped_rgb_psnr(degraded, target)
        assert result.gains[k] == pytest.approx(expected, abs=1e-9)
    for k in heads:
        if cases[k][0] == "clean":  # a clean image altered: its input scores the cap
            assert result.gains[k] <= 0.0

    threshold, report = rt.calibrate(tiny, ["haze"], count=6, size=48, seed=1)
    assert report["tasks"] == ["haze"] and report["classes"] == 2 and report["images"] == 6
    assert threshold == rt.choose_threshold(result.top_probabilities, result.gains)
    rows = {row["threshold"]: row for row in report["per_threshold"]}
    assert set(rows) == set(CANDIDATES) and report["no_threshold"] == rows[0.0]
    none = rows[0.0]
    assert none["total_gain_db"] == pytest.approx(result.gains.sum())
    assert none["helped"] + none["hurt"] + none["left"] == 6  # the hazy images
    assert none["clean_altered"] == sum(1 for k in heads if cases[k][0] == "clean")
    assert rows[threshold]["total_gain_db"] == max(row["total_gain_db"] for row in rows.values())


@pytest.mark.slow
def test_a_training_run_with_a_classifier_stores_its_threshold(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["--experiment", "smoke", "--no-progress", "--run-dir", str(run), "--set", "model.topology=H",
                 "--set", "data.pattern=H", "--set", "schedule.total_steps=2", "--set", "model.classifier=true",
                 "--set", "data.demo.max_side=40", "--set", "data.crop=16", "--set", "logging.eval_every=0"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    calibrated = summary["routing_threshold"]
    assert calibrated["images"] == rt.DEFAULT_COUNT and calibrated["classes"] == 2
    assert calibrated["threshold"] in CANDIDATES
    assert load_durbm(str(run)).routing_threshold == calibrated["threshold"]
    assert calibrated["chosen"]["threshold"] == calibrated["threshold"]
    assert calibrated["chosen"]["total_gain_db"] >= calibrated["no_threshold"]["total_gain_db"]
    assert f"do-no-harm threshold {calibrated['threshold']:.2f}: images whose top probability" in printed
