"""One training run, start to end: the custom distributed loop of `python -m keras_durbm.train` (docs/design.md §1.7).

Run folder layout (`run_dir`):
    config.yaml        the effective config (rewritten on every start)
    train.lock         held while a training runs (a second one in this folder is refused, naming the pid)
    checkpoints/       tf.train checkpoints: model, optimizer, schedule, step
    tensorboard/       scalars (per-task loss, learning rate, validation PSNR/SSIM) and image grids
    model.keras        the trained model (`load_durbm` reads it), written at the end
    before_after.png   input | restored | target for one held-out image per task
    confusion.png      the degradation classifier's confusion matrix on the held-out images (model.classifier)
    summary.json       the end-of-run numbers printed as the summary table
    data/              the demo's synthesised shards (data.source=demo)

Rerunning the same command resumes from the newest checkpoint with the optimizer state, the
schedule and the step counter restored; a finished run only prints its summary again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import signal
import time

import numpy as np
import tensorflow as tf
import yaml

from keras_durbm.atomic_files import write_json_atomic
from keras_durbm.config.engine import dump_yaml, to_dict
from keras_durbm.config.experiment import ExperimentConfig
from keras_durbm.errors import DataError
from keras_durbm.images.io import write_image
from keras_durbm.models.saving import MODEL_FILENAME, save_durbm
from keras_durbm.scoring.confusion import ConfusionMatrix
from keras_durbm.scoring.evaluation import evaluate_routing
from keras_durbm.training.checkpoints import CHECKPOINT_DIRNAME, RunCheckpoint, checkpoint_paths
from keras_durbm.training.data import TrainingData, distribute_training_data, make_training_data
from keras_durbm.training.progress import LossTracker, ProgressBar, RemainingTime
from keras_durbm.training.routing_threshold import calibrate as calibrate_routing_threshold
from keras_durbm.training.routing_threshold import summary_entry
from keras_durbm.training.run_lock import run_folder_lock
from keras_durbm.training.signals import StopRequest
from keras_durbm.training.strategy import make_strategy, strategy_label, worker_info
from keras_durbm.training.summaries import (
    Summaries,
    beats_input,
    evaluation_line,
    evaluation_scalars,
    format_summary,
)
from keras_durbm.training.trainer import StepResult, Trainer
from keras_durbm.training.validation import before_after_rows, crop_pairs, evaluate_tasks, stack_rows

CONFIG_FILENAME = "config.yaml"
#: What the loss tracker follows for the degradation classifier: its cross-entropy and batch accuracy.
CLASSIFIER_KEYS = ("classifier", "accuracy")
SUMMARY_FILENAME = "summary.json"
GRID_FILENAME = "before_after.png"
CONFUSION_FILENAME = "confusion.png"


@dataclasses.dataclass
class RunResult:
    """What `train` returns: the summary (also in summary.json), and how the process should exit."""

    summary: dict
    interrupted: bool = False
    exit_code: int = 0


def _flatten(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def prepare_run_dir(config: ExperimentConfig, run_dir: str, chief: bool, say=print) -> None:
    """Creates the run folder and writes config.yaml; refuses to resume a checkpoint of another model."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, CONFIG_FILENAME)
    current = yaml.safe_load(yaml.safe_dump(to_dict(config), sort_keys=False))
    resuming = bool(checkpoint_paths(os.path.join(run_dir, CHECKPOINT_DIRNAME)))
    if resuming and os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            saved = yaml.safe_load(handle) or {}
        if saved.get("model") != current["model"]:
            raise ValueError(f"{path}: this run folder holds checkpoints of another model config "
                             f"({saved.get('model')}); use a new --run-dir for {current['model']}")
        old, new = _flatten(saved), _flatten(current)
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed:
            say(f"note: resuming with changed settings: {', '.join(changed)}")
    if chief:
        dump_yaml(config, path)


def _next_batch(iterator):
    """The next distributed minibatch; a shard damaged since the run started is a data error naming it."""
    try:
        return next(iterator)
    except tf.errors.OpError as error:
        text = " ".join(re.findall(r"\[([^\]]*)\]", error.message)) or error.message.strip().splitlines()[0]
        raise DataError("training data", f"a shard cannot be read ({text})",
                        "intact shards: `python -m tfrecords_tools.inspect_shards DATA --verify` names the "
                        "damaged ones, and rerunning their convert command rebuilds them") from None


def _load_summary(run_dir: str) -> dict | None:
    path = os.path.join(run_dir, SUMMARY_FILENAME)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def train(config: ExperimentConfig, run_dir: str, *, strategy: tf.distribute.Strategy | None = None,
          data: TrainingData | None = None, progress: bool = True) -> RunResult:
    """Trains (or resumes) the run of `config` in `run_dir`; returns its summary and exit status.

    Args:
        config: the experiment (see `keras_durbm.config.experiment`).
        run_dir: the run folder (created; see the module docstring for its contents).
        strategy: an existing strategy; by default built from `config.runtime` (which must then
            happen before TensorFlow initialises its devices).
        data: a data source; by default from `config.data` (synthesising the demo data if needed).
        progress: allow the progress bar (also subject to `config.logging.progress_bar`).
    """
    wall_start = time.monotonic()
    strategy = strategy or make_strategy(config.runtime)
    rank, num_workers = worker_info(strategy)
    with run_folder_lock(run_dir) if rank == 0 else contextlib.nullcontext():  # one training per run folder
        return _train(config, run_dir, strategy, data, progress, rank=rank, num_workers=num_workers,
                      wall_start=wall_start)


def step_budget(config: ExperimentConfig, start: int, total: int) -> str:
    """The line that says, before training, how many steps of what size the run will take."""
    joint, classifier = config.schedule.total_steps, total_steps(config) - config.schedule.total_steps
    parts = [f"{joint} joint"] + ([f"{classifier} classifier-only"] if classifier else [])
    batches = {config.data.batch_size_of(t) for t in config.tasks} or {config.data.batch_size}
    batch = "/".join(str(b) for b in sorted(batches))
    left = f", {total - start} left from step {start}" if start else ""
    return (f"step budget: {total} steps ({', '.join(parts)}){left}, global batch {batch} of "
            f"{config.data.crop}² crops; the time left is estimated after {RemainingTime.SKIP + RemainingTime.WINDOW} steps")


def total_steps(config: ExperimentConfig) -> int:
    """Steps of the whole run: the joint ones, then the classifier's own (with a classifier)."""
    return config.schedule.total_steps + (config.schedule.classifier_steps if config.model.classifier else 0)


def _train(config: ExperimentConfig, run_dir: str, strategy: tf.distribute.Strategy, data: TrainingData | None,
           progress: bool, *, rank: int, num_workers: int, wall_start: float) -> RunResult:
    """`train` once the strategy is made and (on the chief) the run folder is locked: prepare the folder and
    the data, build or restore the trainer, run the steps, then save and score the model."""
    chief = rank == 0
    show = progress and config.logging.progress_bar and chief
    say = print if chief else (lambda *a, **k: None)
    prepare_run_dir(config, run_dir, chief, say)
    data_start = time.monotonic()
    if data is None:
        data = make_training_data(config, run_dir, rank=rank, num_workers=num_workers, progress=show)
    data_seconds = time.monotonic() - data_start

    trainer = Trainer(config, strategy, say)
    checkpoint = RunCheckpoint(run_dir, config.checkpoint.max_to_keep, rank, **trainer.checkpoint_objects())
    restored = checkpoint.restore_latest(say)
    start, total = int(trainer.step.numpy()), total_steps(config)
    if start >= total and (finished := _load_summary(run_dir)) is not None:
        say(f"run {run_dir} already finished at step {start}; its summary:")
        say(format_summary(finished))
        return RunResult(finished)

    steps = StepLoop(trainer, checkpoint, data, run_dir, chief=chief, show=show, start=start, total=total)
    if restored:
        steps.log(f"resumed from {restored} at step {start} (learning rate {trainer.learning_rate:.3g})")
    try:
        steps.run(strategy)
    finally:
        steps.close()
    summary = {"run_dir": run_dir, "experiment": config.experiment, "tasks": list(trainer.task_names),
               "start_step": start, "final_step": steps.step, "total_steps": total, "strategy": strategy_label(strategy),
               "replicas": strategy.num_replicas_in_sync, "workers": num_workers, "data_seconds": data_seconds,
               **steps.timing(), "initial_learning_rate": config.optimizer.learning_rate,
               "learning_rate": trainer.learning_rate, "plateau_cuts": int(trainer.schedule.reductions.numpy()),
               **steps.losses()}
    if steps.stop_signal:
        steps.summaries.close()
        summary["interrupted_by"] = steps.stop_signal
        code = 128 + getattr(signal, steps.stop_signal, signal.SIGTERM)
        return RunResult(summary, interrupted=True, exit_code=int(code))
    if chief:
        finish_start = time.monotonic()
        summary.update(finish(trainer, data, run_dir, steps.summaries, steps.step))
        summary["finish_seconds"] = time.monotonic() - finish_start
        summary["wall_seconds"] = time.monotonic() - wall_start
        write_json_atomic(os.path.join(run_dir, SUMMARY_FILENAME), summary)
        print(format_summary(summary), flush=True)
    steps.summaries.close()
    return RunResult(summary)


class StepLoop:
    """The steps of a run from `start` to `total`, each: train on the next minibatch, check its losses, let
    the plateau rule see the loss, then log, checkpoint and validate when their intervals say so. A stop
    request (a signal here or on another worker) checkpoints and ends the loop (`stop_signal`).

    The progress bar, the loss tracker, TensorBoard `summaries` and the time spent validating (left out
    of the training time and the steps/s) live here; `close` ends the bar and fixes the training time.
    """

    def __init__(self, trainer: Trainer, checkpoint: RunCheckpoint, data: TrainingData, run_dir: str, *,
                 chief: bool, show: bool, start: int, total: int):
        config = trainer.config
        self.config, self.trainer, self.checkpoint, self.data = config, trainer, checkpoint, data
        self.chief, self.start, self.total, self.step = chief, start, total, start
        self.bar = ProgressBar(start, total, show)
        self.log = self.bar.write if chief else (lambda text: None)
        if start < total:
            self.log(step_budget(config, start, total))
        self.remaining = RemainingTime(start, total)
        self.summaries = Summaries(os.path.join(run_dir, "tensorboard") if chief and config.logging.tensorboard
                                   else None)
        logging = config.logging
        self.val_pairs = {}
        if chief and logging.eval_every:
            self.val_pairs = {t: crop_pairs(data.validation_pairs(t, logging.eval_images), logging.eval_max_side)
                              for t in trainer.tasks}
        self.tracker = LossTracker((*(trainer.task_names if trainer.joint_steps else ()),
                                    *(CLASSIFIER_KEYS if trainer.classifying else ())))
        self.stop_signal = ""
        self.eval_seconds = 0.0
        self.marks: list[tuple[float, int]] = []  # (training time, step) at each log line: the steps/s
        self.loop_start = time.monotonic()
        self.train_seconds = 0.0

    def run(self, strategy: tf.distribute.Strategy) -> None:
        """Trains from `start` until `total`, or until a stop request."""
        if self.step >= self.total:
            return
        trainer = self.trainer
        iterator = iter(distribute_training_data(strategy, self.data, self.config, self.start))
        with StopRequest() as stop:
            while self.step < self.total:
                joint = trainer.restoring
                if self.step == trainer.joint_steps and self.step:
                    self.log(f"step {self.step}: joint training done; {self.total - self.step} step(s) train the "
                             "degradation classifier alone on the final encoder")
                result = trainer.train_step(_next_batch(iterator), stop.requested)
                self.step += 1
                self._record(result, joint)
                if joint and trainer.schedule.update(result.loss):
                    self.log(f"step {self.step}: loss plateaued, learning rate → {trainer.learning_rate:.3g}")
                self.bar.update(self.tracker, trainer.learning_rate)
                if estimate := self.remaining.line(self.step, time.monotonic() - self.eval_seconds):
                    self.log(estimate)
                if result.stop:
                    self._stop(stop.signal_name)
                    return
                self._after_step()

    def _record(self, result: StepResult, joint: bool) -> None:
        """Adds the step's losses to the tracker; a loss that is not finite stops the run, naming it."""
        losses = {**({result.task: result.loss} if joint else {}),
                  **({"classifier": result.classifier_loss} if self.trainer.classifying else {})}
        for name, loss in losses.items():
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"the {name} loss became {loss} at step {self.step} ({result.task} minibatch); the last "
                    f"checkpoint ({self.checkpoint.latest}) is intact: resume with a lower optimizer.learning_rate")
            self.tracker.add(name, loss)
        if self.trainer.classifying:
            self.tracker.add("accuracy", result.classifier_accuracy)

    def _stop(self, signal_name: str) -> None:
        """Checkpoints the step a stop was requested at, and says how to resume."""
        path = self.checkpoint.save(self.step)
        self.stop_signal = signal_name or "SIGTERM"
        self.log(f"{signal_name or 'stop requested by another worker'}: checkpoint {path} written at step "
                 f"{self.step}; rerun the same command to resume")

    def _after_step(self) -> None:
        """Checkpoint, log line and validation, each at its interval."""
        step, logging = self.step, self.config.logging
        if step % self.config.checkpoint.every_steps == 0 or step == self.total:
            self.checkpoint.save(step)
        if step % logging.log_every == 0:
            self._log_window()
        if self.chief and logging.eval_every and step % logging.eval_every == 0 and step < self.total:
            self._validate()

    def _log_window(self) -> None:
        """The mean losses since the last log line, to the terminal and TensorBoard."""
        self.marks.append((time.monotonic() - self.eval_seconds, self.step))
        means = self.tracker.window_means()
        rate = self.trainer.learning_rate
        self.summaries.scalars(self.step, {**{f"train/{'classifier' if t == 'accuracy' else 'loss'}/{t}": v
                                              for t, v in means.items()}, "train/learning_rate": rate})
        self.log(f"step {self.step}: loss " + " ".join(f"{t}={v:.4f}" for t, v in means.items()) + f" lr={rate:.3g}")

    def _validate(self) -> None:
        """Scores the validation crops and shows them in TensorBoard; its time is not training time."""
        began = time.monotonic()
        model = self.trainer.model
        results = evaluate_tasks(model, self.val_pairs)
        self.summaries.scalars(self.step, evaluation_scalars(results))
        self.summaries.images(self.step, {f"val/{t}": row.image
                                          for t, row in before_after_rows(model, self.val_pairs).items()})
        self.summaries.flush()
        self.log(f"step {self.step}: val (input→restored) {evaluation_line(results)}")
        self.eval_seconds += time.monotonic() - began

    def close(self) -> None:
        """Ends the progress bar; the training time is the loop's time without validation."""
        self.bar.close()
        self.train_seconds = time.monotonic() - self.loop_start - self.eval_seconds

    def timing(self) -> dict:
        """The training time (validation left out) and the median steps/s between log lines."""
        steady = [(b - a) / (tb - ta) for (ta, a), (tb, b) in zip(self.marks, self.marks[1:]) if tb > ta]
        fallback = (self.step - self.start) / self.train_seconds if self.train_seconds > 0 else 0.0
        return {"train_seconds": self.train_seconds,
                "steps_per_second": sorted(steady)[len(steady) // 2] if steady else fallback}

    def losses(self) -> dict:
        """Minibatches per task and the last window's mean losses."""
        self.tracker.window_means()
        return {"batches": dict(self.tracker.batches), "last_loss": dict(self.tracker.last_mean)}


def finish(trainer: Trainer, data: TrainingData, run_dir: str, summaries: Summaries, step: int) -> dict:
    """End of a run on the chief: calibrate the do-no-harm threshold of blind restoration (with a classifier),
    save the model, score the validation images whole, write the grid."""
    logging = trainer.config.logging
    model_path = os.path.join(run_dir, MODEL_FILENAME)
    out = {"model_path": model_path, "evaluation": {}, "beats_input": None, "grid_path": ""}
    if trainer.classifying:  # before saving: the threshold is stored in model.keras
        threshold, report = calibrate_routing_threshold(trainer.model)
        trainer.model.routing_threshold = threshold
        out["routing_threshold"] = summary_entry(report)
        summaries.scalars(step, {"final/classifier/routing_threshold": threshold})
    save_durbm(trainer.model, model_path)
    pairs = {t: data.validation_pairs(t, logging.final_eval_images) for t in trainer.tasks}
    if any(pairs.values()):
        evaluation = evaluate_tasks(trainer.model, pairs)
        rows = before_after_rows(trainer.model, pairs)
        grid_path = os.path.join(run_dir, GRID_FILENAME)
        write_image(grid_path, stack_rows(rows))
        summaries.scalars(step, evaluation_scalars(evaluation, prefix="final"))
        summaries.images(step, {f"final/{t}": row.image for t, row in rows.items()})
        out.update(evaluation=evaluation, beats_input=beats_input(evaluation), grid_path=grid_path)
        if trainer.classifying:
            confusion = evaluate_routing(trainer.model, pairs, restoration=False)["confusion"]
            confusion_path = os.path.join(run_dir, CONFUSION_FILENAME)
            ConfusionMatrix(tuple(confusion["classes"]), np.asarray(confusion["counts"])).write_png(
                confusion_path, f"degradation classifier, {run_dir}: held-out accuracy "
                f"{100 * confusion['accuracy']:.1f}%")
            summaries.scalars(step, {"final/classifier/accuracy": confusion["accuracy"]})
            out.update(classification=confusion, confusion_path=confusion_path)
    summaries.flush()
    return out
