"""Blind restoration: the degradation classifier names the head, and heads chain for mixed degradations.

`classify` gives the probabilities of `model.classes` (the heads' tasks, then `clean`) for one image;
`route` restores with the most probable head, or leaves a clean image as it is; with `chain` it
classifies the result again and goes on until the image is judged clean or `max_steps` heads have
run. When the most probable class is a head that already ran, the chain takes the most probable class
that has not (the head did what it could; what is left is often the other degradation), and stops
if that is `clean` (docs/evaluate-restore.md "Blind restoration" has the
measurements of both rules).

Do no harm: an image whose top probability is below the threshold (`min_confidence`, by default the
model's own `routing_threshold`, calibrated on procedural images when it was trained) is left unchanged
and listed, instead of being sent to a guess (or goes to `fallback_task` when one is given).

An image larger than the tiling budget is classified tile by tile (the tiles that `restore` would
use, without overlap) and the tiles' probabilities are averaged: the classifier reads means over the
image (its statistics and the first activation's block statistic), which a large tile estimates as
well as the whole image.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_durbm.config.engine import option
from keras_durbm.config.model import CLASSIFIER_STATISTICS, SIZE_MULTIPLE, min_input_size
from keras_durbm.config.tasks import CLEAN, get_task
from keras_durbm.images.pixels import check_float_rgb
from keras_durbm.restoration.tiling import (
    DEFAULT_TILE_ABOVE,
    Progress,
    TilingConfig,
    auto_tile,
    cached_runner,
    pad_to_multiple,
    restore,
    tile_starts,
)

#: Heads one image goes through with `chain` when `max_steps` is not given (the four degradations minus one).
DEFAULT_MAX_STEPS = 3


@dataclasses.dataclass(frozen=True)
class RoutingConfig:
    """How `--task auto` decides (the routing flags of `restore`)."""

    chain: bool = option(False, "after restoring, classify the result and restore again with the most probable "
                                "head not run yet, until it is judged clean or --max-steps heads have run")
    max_steps: int | None = option(None, f"most heads per image with --chain (default {DEFAULT_MAX_STEPS})")
    min_confidence: float | None = option(None, "below this top probability an image goes to --fallback-task, or "
                                                "is left unchanged and listed (in [0, 1]; default: the model's "
                                                "do-no-harm threshold, calibrated when it was trained; 0: always route)")
    fallback_task: str | None = option(None, "head for images below --min-confidence (name or letter)")

    def __post_init__(self):
        if self.max_steps is not None and not self.chain:
            raise ValueError("--max-steps needs --chain")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max-steps must be at least 1, got {self.max_steps}")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"--min-confidence must be in [0, 1], got {self.min_confidence}")
        if self.fallback_task is not None:
            if self.min_confidence is None:
                raise ValueError("--fallback-task needs --min-confidence (it is the head for uncertain images)")
            get_task(self.fallback_task)  # an unknown name is a KeyError listing the tasks

    def threshold(self, model) -> float:
        """The top probability below which an image is not sent to a head: `min_confidence`, or the model's
        calibrated `routing_threshold` (0: none)."""
        if self.min_confidence is not None:
            return self.min_confidence
        return float(getattr(model, "routing_threshold", 0.0))

    @property
    def steps(self) -> int:
        return (self.max_steps or DEFAULT_MAX_STEPS) if self.chain else 1


def check_classifier(model, source: str = "", otherwise: str = "") -> tuple[str, ...]:
    """The classes of `model`'s degradation classifier; a KeyError saying how to add one when it has none
    or one of earlier image statistics (`source`: the model's path; `otherwise`: what else the user can
    do, by default name the head with --task)."""
    model_name = source or "this model"
    add = ("(minutes, restoration unchanged) with: python -m keras_durbm.train --experiment router "
           f"--set init.model={source or '<this model>'}; or "
           + (otherwise or f"name the head with --task ({', '.join(model.task_names)})"))
    if not model.config.classifier:
        raise KeyError(f"{model_name} has no degradation classifier, so --task auto cannot choose a head; "
                       f"add one {add}")
    if model.config.classifier_statistics != CLASSIFIER_STATISTICS:
        raise KeyError(f"{model_name} has a degradation classifier trained on an earlier version's image "
                       f"statistics (version {model.config.classifier_statistics}, this version reads "
                       f"{CLASSIFIER_STATISTICS}); its heads are unchanged. Replace the classifier {add}")
    return model.classes


def classifier_runner(model):
    """A cached, traced-once function: float32 NHWC batch of aligned size → (N, classes) probabilities."""
    from keras_durbm.models.network import DEGRADATION, classifier_model  # heavy (Keras): on first use

    check_classifier(model)
    return cached_runner(model, DEGRADATION, lambda: classifier_model(model))


@dataclasses.dataclass(frozen=True)
class Classification:
    """The classifier's probability for each class; `best` is the most probable one."""

    probabilities: dict[str, float]

    @property
    def best(self) -> str:
        return max(self.probabilities, key=self.probabilities.__getitem__)

    @property
    def confidence(self) -> float:
        return self.probabilities[self.best]

    def best_except(self, ran) -> str:
        """The most probable class that is not in `ran`."""
        return max((c for c in self.probabilities if c not in ran), key=self.probabilities.__getitem__)

    def describe(self, shown: int = 3) -> str:
        """`haze 0.97 (rain 0.02, clean 0.01)`: the best class, then the runners-up."""
        ranked = sorted(self.probabilities.items(), key=lambda kv: -kv[1])
        rest = ", ".join(f"{name} {p:.2f}" for name, p in ranked[1:shown])
        return f"{ranked[0][0]} {ranked[0][1]:.2f}" + (f" ({rest})" if rest else "")


def classify(model, image: np.ndarray, *, tile_above: int | None = DEFAULT_TILE_ABOVE) -> Classification:
    """The degradation probabilities of a float RGB (H, W, 3) image in [0, 1]: whole, or averaged over
    the non-overlapping tiles of the tiling budget when it has more than `tile_above` pixels."""
    classes = check_classifier(model)
    run = classifier_runner(model)
    image = check_float_rgb(image)
    h, w = image.shape[:2]
    tile = auto_tile(h, w, tile_above)
    if tile is None:
        crops = [image]
    else:
        crops = [image[top:top + tile, left:left + tile]
                 for top in tile_starts(h, tile, 0) for left in tile_starts(w, tile, 0)]
    sums = np.zeros(len(classes), np.float64)
    for crop in crops:
        padded, _ = pad_to_multiple(crop[None], SIZE_MULTIPLE, min_input_size(model.config))
        sums += run(np.ascontiguousarray(padded, np.float32))[0]
    probabilities = sums / len(crops)
    return Classification({name: float(p) for name, p in zip(classes, probabilities, strict=True)})


#: What one routing step did: ran the chosen head, ran the fallback head, or stopped (and why).
RESTORED, NEXT, FALLBACK, CLEAN_STOP, REPEAT, UNCERTAIN, KEPT = (
    "restored", "next", "fallback", "clean", "repeat", "uncertain", "kept")


@dataclasses.dataclass(frozen=True)
class RouteStep:
    """One classification and what followed: `head` is the head that ran (None when the step stopped)."""

    classification: Classification
    action: str
    head: str | None = None

    def to_dict(self) -> dict:
        return {"task": self.classification.best, "confidence": self.classification.confidence,
                "probabilities": self.classification.probabilities, "action": self.action, "head": self.head}

    def describe(self) -> str:
        again = f"{self.classification.best} again"
        what = {RESTORED: f"restored with {self.head}", FALLBACK: f"below --min-confidence: {self.head} (fallback)",
                NEXT: f"{again}: restored with the next most probable, {self.head}",
                CLEAN_STOP: "judged clean", REPEAT: f"{again}, then clean: stop",
                UNCERTAIN: "below the confidence threshold: stop",
                KEPT: "below the confidence threshold: left unchanged"}[self.action]
        return f"{self.classification.describe()} -> {what}"


@dataclasses.dataclass(frozen=True)
class Routed:
    """The result of `route`: the output image (the input itself when judged clean or left unchanged) and
    every step taken."""

    image: np.ndarray | None
    steps: tuple[RouteStep, ...]

    @property
    def heads(self) -> tuple[str, ...]:
        """The heads that ran, in order."""
        return tuple(s.head for s in self.steps if s.head)

    @property
    def outcome(self) -> str:
        """`restored` (some head ran), `clean` (judged clean) or `kept` (below the threshold: unchanged)."""
        if self.heads:
            return RESTORED
        return KEPT if self.steps[0].action == KEPT else CLEAN_STOP

    def to_dict(self) -> dict:
        """The report entry: the first step's `task` (a head, or `clean`) and `probabilities`, then the rest."""
        first = self.steps[0]
        return {"task": first.classification.best, "probabilities": first.classification.probabilities,
                "outcome": self.outcome, "heads": list(self.heads), "steps": [s.to_dict() for s in self.steps]}


def route(model, image: np.ndarray, routing: RoutingConfig = RoutingConfig(),
          tiling: TilingConfig = TilingConfig(), progress: Progress | None = None) -> Routed:
    """Classifies `image` and restores it with the chosen head (see the module docstring for `chain`).

    Below the threshold (`routing.threshold(model)`) the first step runs `routing.fallback_task` or leaves
    the image unchanged (`kept`); a later step below it stops the chain. Returns float32 clipped to
    [0, 1], or the input itself when it is judged clean or kept. `progress` is passed to each head's `restore` (it counts each step's
    tiles afresh).
    """
    check_classifier(model)
    fallback = get_task(routing.fallback_task).name if routing.fallback_task else None
    if fallback and fallback not in model.task_names:
        raise KeyError(f"--fallback-task {fallback}: this model has no such head; its heads: "
                       f"{', '.join(model.task_names)}")
    current = check_float_rgb(image)
    threshold = routing.threshold(model)
    steps: list[RouteStep] = []
    while len([s for s in steps if s.head]) < routing.steps:
        found = classify(model, current, tile_above=tiling.tile_above)
        uncertain = found.confidence < threshold
        if uncertain and steps:
            steps.append(RouteStep(found, UNCERTAIN))
            break
        if uncertain:
            if not fallback:
                return Routed(current, (RouteStep(found, KEPT),))
            head, action = fallback, FALLBACK
        elif found.best == CLEAN:
            steps.append(RouteStep(found, CLEAN_STOP))
            break
        elif found.best in (ran := {s.head for s in steps}):
            head, action = found.best_except(ran), NEXT
            if head == CLEAN:
                steps.append(RouteStep(found, REPEAT))
                break
            if found.probabilities[head] < threshold:
                steps.append(RouteStep(found, UNCERTAIN))
                break
        else:
            head, action = found.best, RESTORED
        current = restore(model, current, get_task(head), **dataclasses.asdict(tiling), progress=progress)
        steps.append(RouteStep(found, action, head))
    return Routed(current, tuple(steps))
