"""The do-no-harm threshold of blind restoration, calibrated per model at the end of training.

`--task auto` restores an image with the head its degradation classifier names. When the classifier is
unsure it is often wrong, and a wrong head makes the image worse (docs/generalization.md). So an image
whose top class probability is below `model.routing_threshold` is left unchanged. The threshold is
chosen here, for each model, on images it never trained on and that are not the foreign benchmark's:

* `calibration_cases`: procedural dead leaves images (`tfrecords_tools.synthesis.dead_leaves`), each
  clean and degraded by every task's synthesizer with broad families (`CALIBRATION_SYNTHESIS`: wider
  than the training defaults, and none of the families `bench/generalization.py` holds out);
* `routed_gains`: what one routing step does to each (the named head, or nothing when it names
  `clean`), as a PSNR gain against the clean image, PSNR capped at `PSNR_CAP`;
* `choose_threshold`: the candidate that maximises the total gain when every case below it counts 0.

`calibrate` runs the three and reports, per candidate, the total gain and how many images would be
helped, hurt or left unchanged (docs/training.md "Do-no-harm threshold").
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import numpy as np

from keras_durbm.config.tasks import CLEAN, Task, get_task
from keras_durbm.images.pixels import to_float, to_uint8
from keras_durbm.restoration.routing import classify
from keras_durbm.restoration.tiling import restore
from keras_durbm.scoring.metrics import psnr
from keras_durbm.seeding import derive_seed
from tfrecords_tools.synthesis import get_synthesizer
from tfrecords_tools.synthesis.dead_leaves import dead_leaves_images

#: Candidate thresholds: none, then 0.30 to 0.95 in steps of 0.05.
DEFAULT_CANDIDATES = (0.0, *(round(0.3 + 0.05 * i, 2) for i in range(14)))
#: PSNR above this counts as this (an unchanged clean image has PSNR ∞).
PSNR_CAP = 50.0
#: Calibration images (their number, side and seed) when `calibrate` is not told otherwise.
DEFAULT_COUNT, DEFAULT_SIZE, DEFAULT_SEED = 24, 128, 0

#: Synthesis parameters of the calibration images, per task: broader than the training defaults, and none
#: of the families `bench/generalization.py` holds out (straight-line blur, planar-ground haze with a
#: tinted airlight, PIL-drawn rain, JPEG 4:4:4).
CALIBRATION_SYNTHESIS: dict[str, dict] = {
    "motion_blur": {"family": ["trajectory", "curve"], "length": (5.0, 25.0)},
    "haze": {"depth_model": ["random", "noise", "ramp", "banded"], "beta": (0.3, 1.8), "airlight": (0.6, 1.0),
             "airlight_tint": (-0.1, 0.1)},
    "rain": {"width": (1.0, 2.0), "softness": (0.0, 1.0)},
    "jpeg": {"quality_range": (5, 40)},  # Pillow's default 4:2:0 chroma
}


def _task(task: Task | str) -> Task:
    return task if isinstance(task, Task) else get_task(task)


def calibration_cases(tasks: Sequence[Task | str], count: int = DEFAULT_COUNT, size: int = DEFAULT_SIZE,
                      seed: int = DEFAULT_SEED) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(true label, degraded uint8, clean uint8) for `count` dead leaves images of `size`², each clean
    (label `clean`, degraded = clean) and degraded by each task's synthesizer with
    `CALIBRATION_SYNTHESIS[task]`, seeded by `derive_seed(seed, task.name, i)`: `count × (tasks + 1)`
    cases, image by image (the clean one first, then the tasks in order)."""
    tasks = [_task(t) for t in tasks]
    cases = []
    for i, clean in enumerate(dead_leaves_images(count, size, seed).values()):
        cases.append((CLEAN, clean, clean))
        for task in tasks:
            degraded = get_synthesizer(task)(to_float(clean), derive_seed(seed, task.name, i),
                                             **CALIBRATION_SYNTHESIS.get(task.name, {}))
            cases.append((task.name, to_uint8(degraded), clean))
    return cases


def capped_psnr(image: np.ndarray, clean: np.ndarray) -> float:
    """PSNR on RGB of two uint8 images in dB, at most `PSNR_CAP` (identical images: `PSNR_CAP`)."""
    return min(psnr(image, clean, colour="rgb"), PSNR_CAP)


@dataclasses.dataclass(frozen=True)
class RoutedGains:
    """One routing step on each case: the classifier's top probability and class, whether a head ran
    (the best class is one of the model's heads) and the gain in dB (capped PSNR of the output minus
    that of the input; 0 when no head ran)."""

    labels: tuple[str, ...]
    best: tuple[str, ...]
    top_probabilities: np.ndarray
    routed: np.ndarray
    gains: np.ndarray


def routed_gains(model, cases: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> RoutedGains:
    """Classifies each case's image with `model` and restores it with the best class's head (unchanged
    when the best class is `clean` or not a head of the model); see `RoutedGains`."""
    best, top, routed, gains = [], [], [], []
    for _, image, clean in cases:
        found = classify(model, to_float(image))
        head = found.best if found.best != CLEAN and found.best in model.task_names else None
        gain = 0.0
        if head is not None:
            output = to_uint8(restore(model, to_float(image), get_task(head)))
            gain = capped_psnr(output, clean) - capped_psnr(image, clean)
        best.append(found.best)
        top.append(found.confidence)
        routed.append(head is not None)
        gains.append(gain)
    return RoutedGains(tuple(label for label, _, _ in cases), tuple(best), np.asarray(top, np.float64),
                       np.asarray(routed, bool), np.asarray(gains, np.float64))


def threshold_totals(top_probabilities, gains, candidates: Sequence[float] = DEFAULT_CANDIDATES) -> np.ndarray:
    """For each candidate t, the total gain when the cases with top probability < t count 0 (an exact
    sum, so equal sets of cases give equal totals)."""
    top, gains = np.asarray(top_probabilities, np.float64), np.asarray(gains, np.float64)
    if top.shape != gains.shape or top.ndim != 1:
        raise ValueError(f"expected two 1-D arrays of one length, got shapes {top.shape} and {gains.shape}")
    return np.array([math.fsum(gains[top >= t]) for t in candidates], np.float64)


def choose_threshold(top_probabilities, gains, candidates: Sequence[float] = DEFAULT_CANDIDATES) -> float:
    """The candidate that maximises `threshold_totals`; among equal totals the smallest."""
    if not len(candidates):
        raise ValueError("no candidate thresholds")
    totals = threshold_totals(top_probabilities, gains, candidates)
    best = totals.max()
    return float(min(t for t, total in zip(candidates, totals) if total == best))


def threshold_report(result: RoutedGains, candidates: Sequence[float] = DEFAULT_CANDIDATES) -> list[dict]:
    """Per candidate: `threshold`, `total_gain_db`, and among the degraded images how many a head would
    make better (`helped`) or worse (`hurt`) and how many are `left` as they are (or come out at the
    same PSNR), and how many clean images a head would alter (`clean_altered`)."""
    totals = threshold_totals(result.top_probabilities, result.gains, candidates)
    degraded = np.array([label != CLEAN for label in result.labels], bool)
    rows = []
    for t, total in zip(candidates, totals):
        changed = result.routed & (result.top_probabilities >= t)
        helped = int(np.sum(changed & degraded & (result.gains > 0)))
        hurt = int(np.sum(changed & degraded & (result.gains < 0)))
        rows.append({"threshold": float(t), "total_gain_db": float(total), "helped": helped, "hurt": hurt,
                     "left": int(np.sum(degraded)) - helped - hurt,
                     "clean_altered": int(np.sum(changed & ~degraded))})
    return rows


def calibrate(model, tasks: Sequence[Task | str] | None = None, *, count: int = DEFAULT_COUNT,
              size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED,
              candidates: Sequence[float] = DEFAULT_CANDIDATES) -> tuple[float, dict]:
    """The do-no-harm threshold of `model` (with a degradation classifier) and its report: the chosen
    `threshold`, the calibration set (`images`, `size`, `seed`, `tasks`, `classes`), `seconds`, and
    `per_threshold` (`threshold_report`) with `no_threshold` (its row for 0). `tasks`: the degradations to synthesise (default: the model's
    heads)."""
    start = time.monotonic()
    tasks = [_task(t) for t in (model.task_names if tasks is None else tasks)]
    result = routed_gains(model, calibration_cases(tasks, count, size, seed))
    threshold = choose_threshold(result.top_probabilities, result.gains, candidates)
    report = {"threshold": threshold, "images": int(count), "size": int(size), "seed": int(seed),
              "tasks": [t.name for t in tasks], "classes": len(tasks) + 1,
              "per_threshold": threshold_report(result, candidates),
              "no_threshold": threshold_report(result, (0.0,))[0], "seconds": time.monotonic() - start}
    return threshold, report


def summary_entry(report: dict) -> dict:
    """The short form `train` keeps in summary.json: the threshold, the calibration set, and the rows of
    the chosen threshold (`chosen`) and of none (`no_threshold`)."""
    chosen = next(row for row in report["per_threshold"] if row["threshold"] == report["threshold"])
    return {**{k: report[k] for k in ("threshold", "images", "size", "seed", "classes", "seconds")},
            "chosen": chosen, "no_threshold": report["no_threshold"]}
