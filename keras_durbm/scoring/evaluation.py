"""Scoring a head on image pairs with the paper's protocol (docs/design.md §1.8), beside the input's own scores.

`evaluate_pairs` is what `python -m keras_durbm.evaluate`, training's validation and the studies all
call, so a number printed by one of them is the number the others give for the same images.
`evaluate_routing` scores blind restoration: the degradation classifier's confusion matrix over the
inputs (labelled with their task) and the distinct targets (labelled `clean`), and the PSNR/SSIM of
the head it chose beside those of the true head.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import sys
from collections.abc import Iterable, Mapping

import numpy as np

from keras_durbm.config.tasks import CLEAN, Task, get_task
from keras_durbm.images.pairs import Pair
from keras_durbm.images.pixels import to_uint8
from keras_durbm.restoration.routing import check_classifier, classify
from keras_durbm.restoration.tiling import DEFAULT_TILE_ABOVE, restore
from keras_durbm.scoring import metrics
from keras_durbm.scoring.confusion import ConfusionMatrix


def evaluate_pairs(model, task: Task, pairs: Iterable[Pair], *, crop_border: int = 0, tile: int | None = None,
                   overlap: int | None = None, tile_above: int | None = DEFAULT_TILE_ABOVE,
                   luma: str = metrics.DEFAULT_LUMA, score_input: bool = True, progress: bool = False,
                   total: int | None = None, keep_images: bool = True) -> dict:
    """Restores each pair's input with `task`'s head and scores it; returns means and per-image scores.

    The result: `{"task", "protocol", "crop_border", "luma", "n", "restored": {metric: mean},
    "input": {metric: mean} (when `score_input`), "images": [{"name", "restored", "input"}]}` (no
    "images" when not `keep_images`); the metric keys are those of `metrics.score` (e.g. `psnr_rgb`,
    `ssim_rgb` for haze).
    """
    images = []
    with _progress_bar(progress, total, f"evaluate {task.name}") as tick:
        for pair in pairs:
            if pair.input.shape != pair.target.shape:
                raise ValueError(f"{pair.name}: input {pair.input.shape} and target {pair.target.shape} differ in size")
            target_u8 = to_uint8(pair.target)
            restored = restore(model, pair.input, task, tile=tile, overlap=overlap, tile_above=tile_above)
            entry = {"name": pair.name,
                     "restored": metrics.score(to_uint8(restored), target_u8, task, crop_border, luma)}
            if score_input:
                entry["input"] = metrics.score(to_uint8(pair.input), target_u8, task, crop_border, luma)
            images.append(entry)
            tick()
    if not images:
        raise ValueError(f"no {task.name} images to evaluate")
    result = {"task": task.name, "protocol": metrics.protocol_text(task, crop_border, luma),
              "crop_border": crop_border, "luma": luma, "n": len(images), "restored": _means(images, "restored")}
    if score_input:
        result["input"] = _means(images, "input")
    if keep_images:
        result["images"] = images
    return result


@contextlib.contextmanager
def _progress_bar(progress: bool, total: int | None, description: str):
    """Yields `tick()`, which advances a progress bar on stderr by one image (nothing without `progress`)."""
    if not progress:
        yield lambda: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=description, unit="img", file=sys.stderr, dynamic_ncols=True) as bar:
        yield lambda: bar.update(1)


def _fingerprint(image: np.ndarray) -> str:
    return hashlib.sha1(to_uint8(image).tobytes() + str(image.shape).encode()).hexdigest()


def evaluate_routing(model, pairs_by_task: Mapping[Task, Iterable[Pair]], *, crop_border: int = 0,
                     tile: int | None = None, overlap: int | None = None,
                     tile_above: int | None = DEFAULT_TILE_ABOVE, luma: str = metrics.DEFAULT_LUMA,
                     restoration: bool = True, progress: bool = False, total: int | None = None) -> dict:
    """Blind restoration on labelled pairs: each input is classified (true class: its task) and each distinct
    target (true class: `clean`; identical targets of several tasks count once).

    With `restoration`, each input is also restored by the head the classifier chose (an input judged
    clean, or whose top probability is below the model's do-no-harm `routing_threshold`, is kept as it
    is, as `--task auto` keeps it) and by its true head, and both are scored against the target. Returns
    `{"confusion": ConfusionMatrix.to_dict(), "tasks": {task: {"n", "protocol", "routed_correctly",
    "routed": means, "true_head": means, "input": means}}, "images": [{"name", "task", "predicted",
    "probabilities", ...}]}`.
    """
    classes = check_classifier(model)
    threshold = float(getattr(model, "routing_threshold", 0.0))
    tiling = {"tile": tile, "overlap": overlap, "tile_above": tile_above}
    truth, predicted, images, seen = [], [], [], set()
    scores: dict[str, list[dict]] = {}
    with _progress_bar(progress, total, "evaluate auto") as tick:
        for task, pairs in pairs_by_task.items():
            for pair in pairs:
                found = classify(model, pair.input, tile_above=tile_above)
                truth.append(task.name)
                predicted.append(found.best)
                entry = {"name": pair.name, "task": task.name, "predicted": found.best,
                         "probabilities": found.probabilities}
                if restoration:
                    target_u8 = to_uint8(pair.target)
                    true_head = restore(model, pair.input, task, **tiling)
                    routed = (pair.input if found.best == CLEAN or found.confidence < threshold else
                              true_head if found.best == task.name else
                              restore(model, pair.input, get_task(found.best), **tiling))
                    for key, image in (("routed", routed), ("true_head", true_head), ("input", pair.input)):
                        entry[key] = metrics.score(to_uint8(image), target_u8, task, crop_border, luma)
                    scores.setdefault(task.name, []).append(entry)
                images.append(entry)
                key = _fingerprint(pair.target)
                if key not in seen:
                    seen.add(key)
                    clean = classify(model, pair.target, tile_above=tile_above)
                    truth.append(CLEAN)
                    predicted.append(clean.best)
                    images.append({"name": f"{pair.name} (target)", "task": CLEAN, "predicted": clean.best,
                                   "probabilities": clean.probabilities})
                tick()
    if not images:
        raise ValueError("no images to evaluate")
    confusion = ConfusionMatrix.from_labels(classes, truth, predicted)
    per_task = {}
    for name, entries in scores.items():
        task = get_task(name)
        per_task[name] = {"n": len(entries), "protocol": metrics.protocol_text(task, crop_border, luma),
                          "routed_correctly": sum(e["predicted"] == name for e in entries),
                          **{key: _means(entries, key) for key in ("routed", "true_head", "input")}}
    return {"confusion": confusion.to_dict(), "tasks": per_task, "images": images}


def format_routing(result: dict) -> str:
    """The confusion matrix, then per task: PSNR/SSIM of the routed head, the true head and the input."""
    confusion = result["confusion"]
    lines = [ConfusionMatrix(tuple(confusion["classes"]), np.asarray(confusion["counts"])).format_table()]
    if result["tasks"]:
        lines += ["", f"{'task':12s}{'routed ok':>10s}{'metric':>10s}{'routed':>10s}{'true head':>11s}{'input':>10s}"]
        for name, scores in result["tasks"].items():
            for k, metric in enumerate(scores["routed"]):
                digits = 2 if metric.startswith("psnr") else 4
                head = f"{name:12s}{scores['routed_correctly']:>5d}/{scores['n']:<4d}" if k == 0 else " " * 22
                lines.append(head + f"{metric:>10s}" + "".join(
                    f"{scores[key][metric]:>{w}.{digits}f}" for key, w in (("routed", 10), ("true_head", 11),
                                                                            ("input", 10))))
    return "\n".join(lines)


def _means(images: list[dict], which: str) -> dict[str, float]:
    keys = images[0][which].keys()
    return {k: float(np.mean([image[which][k] for image in images])) for k in keys}


def format_table(result: dict, model_path: str = "") -> str:
    """The printed report: protocol line, then restored / input / gain rows of mean PSNR and SSIM."""
    keys = list(result["restored"])
    lines = [f"task {result['task']}: {result['n']} image pair(s)" + (f", model {model_path}" if model_path else ""),
             f"protocol: {result['protocol']}", ""]
    lines.append(f"{'':10s}" + "".join(f"{k.upper():>12s}" for k in keys))

    def row(label: str, values: dict[str, float], signed: bool = False) -> str:
        cells = []
        for k in keys:
            v = values[k]
            digits = 2 if k.startswith("psnr") else 4
            cells.append(f"{v:>+12.{digits}f}" if signed else f"{v:>12.{digits}f}")
        return f"{label:10s}" + "".join(cells)

    lines.append(row("restored", result["restored"]))
    if "input" in result:
        lines.append(row("input", result["input"]))
        lines.append(row("gain", {k: result["restored"][k] - result["input"][k] for k in keys}, signed=True))
    return "\n".join(lines)


def jsonable(value):
    """A result with infinite PSNRs (identical images) as the string "inf": JSON has no infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value
