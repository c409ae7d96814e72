"""Running a study: one data folder, one budget, ordinary training runs under `DIR/runs/`, each scored on
the test split with the paper's protocol; finished runs are skipped, interrupted ones resume.

    DIR/study.json            the study, its budget and the base config (a rerun must match it)
    DIR/data/                 the embedded default's shards (without --data), made once for every run
    DIR/runs/<id>/            a training run folder (keras_durbm.train's layout)
    DIR/runs/<id>/result.json its test scores, budget and wall time (written last: "finished")
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence

from keras_durbm.atomic_files import write_json_atomic
from keras_durbm.config.engine import apply_overrides, to_dict
from keras_durbm.config.experiment import ExperimentConfig, build_config, validate
from keras_durbm.config.tasks import get_task
from keras_durbm.errors import UsageError
from keras_durbm.scoring.evaluation import evaluate_pairs
from keras_durbm.scoring.metrics import protocol_keys
from keras_durbm.studies.plan import RunSpec, Study, StudySettings, tasks_of
from tfrecords_tools.manifest import load_manifest
from tfrecords_tools.pipeline import split_pairs

STUDY_FILE = "study.json"
RESULT_FILE = "result.json"
TEST_SPLIT = "test"
DEFAULT_STEPS = {True: 100_000, False: 1_000}  # with --data: the paper's 1e5 iterations (Table 2)


@dataclasses.dataclass(frozen=True)
class Budget:
    """What every run of a study shares (printed in the report)."""

    steps: int
    batch: int
    learning_rate: float
    schedule: dict
    data: str
    seed: int
    preset: str


@dataclasses.dataclass
class StudyContext:
    """Everything a study's runs and report need, built once from the command line."""

    study: Study
    directory: str
    settings: StudySettings
    base: ExperimentConfig  # the experiment every run starts from (its model.topology and pattern vary)
    data_dir: str
    embedded: bool  # the embedded default's data (no --data)
    runs: list[RunSpec]
    cycle: dict[str, int]  # minibatches per task in one cycle, from the base experiment's pattern

    def run_dir(self, run: RunSpec) -> str:
        return os.path.join(self.directory, "runs", run.id)

    def run_config(self, run: RunSpec) -> ExperimentConfig:
        return validate(apply_overrides(self.base, assignments=run.assignments(self.cycle)))

    @property
    def budget(self) -> Budget:
        return Budget(steps=self.base.schedule.total_steps, batch=self.base.data.batch_size,
                      learning_rate=self.base.optimizer.learning_rate, schedule=to_dict(self.base.schedule),
                      data="the embedded default (scikit-image photographs, synthesised degradations)"
                      if self.embedded else os.path.abspath(self.data_dir),
                      seed=self.base.runtime.seed, preset=self.base.model_preset)


def build_context(study: Study, directory: str, *, data: str | None, preset: str | None, steps: int | None,
                  batch: int | None, seed: int | None, assignments: Sequence[str], settings: StudySettings,
                  with_model: bool) -> StudyContext:
    """The study's base config and runs; raises UsageError when the data lacks a task the study needs."""
    embedded = data is None
    experiment = "demo" if embedded else "paper"
    preset = preset or ("demo" if embedded else "paper")
    data_dir = os.path.join(directory, "data") if embedded else data
    if not embedded:
        _check_data(data, study)
    overrides = [f"model_preset={preset}", f"schedule.total_steps={steps or DEFAULT_STEPS[not embedded]}",
                 "data.source=tfrecords", f"data.tfrecord_dir={os.path.abspath(data_dir)}", "data.val_split=",
                 # the studies are about restoration (the paper has no classifier)
                 "model.classifier=false", "schedule.classifier_steps=0",
                 "logging.eval_every=0", "logging.progress_bar=false", *assignments]
    if batch or study.batch:
        overrides.append(f"data.batch_size={batch or study.batch}")
    if seed is not None:
        overrides += [f"runtime.seed={seed}", f"data.seed={seed}"]
    base = build_config(experiment, (), overrides)
    cycle = {}
    for letter in base.data.pattern:
        cycle[get_task(letter).name] = cycle.get(get_task(letter).name, 0) + 1
    return StudyContext(study, directory, settings, base, data_dir, embedded, study.runs(settings, with_model), cycle)


def _check_data(folder: str, study: Study) -> None:
    if not os.path.isdir(folder):
        raise UsageError(f"--data {folder}: no such folder (expected the output of python -m tfrecords_tools.convert)")
    manifest = load_manifest(folder)
    have = {(g.task, g.split) for g in manifest.groups.values() if g.complete}
    missing = [f"{t}/{split}" for t in study.tasks for split in ("train", TEST_SPLIT) if (t, split) not in have]
    if missing:
        raise UsageError(f"--data {folder} lacks {', '.join(missing)}, which the {study.name} study needs "
                         f"(it holds {', '.join(sorted(manifest.groups)) or 'nothing'})")


def check_study_file(context: StudyContext) -> None:
    """Writes DIR/study.json on the first run; a rerun with another budget or data is refused."""
    path = os.path.join(context.directory, STUDY_FILE)
    record = json.loads(json.dumps({"study": context.study.name, "budget": dataclasses.asdict(context.budget),
                                    "settings": to_dict(context.settings),
                                    "base_config": to_dict(context.base)}))
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            saved = json.load(handle)
        changed = sorted(k for k in ("study", "budget", "settings") if saved.get(k) != record[k])
        if changed:
            raise UsageError(f"{path}: this study folder was run with another {' and '.join(changed)} "
                             f"({json.dumps({k: saved.get(k) for k in changed})[:400]}); every run of a study must "
                             "share one budget: use the same options, or a new --study-dir")
        return
    os.makedirs(context.directory, exist_ok=True)
    write_json_atomic(path, record)


def prepare_data(context: StudyContext, progress: bool) -> None:
    """The embedded default's shards for every task of the study, made once in DIR/data."""
    if not context.embedded:
        return
    from keras_durbm.training.demo import prepare_demo_data

    every = validate(apply_overrides(context.base, assignments=[
        "data.source=demo", f"data.val_split={TEST_SPLIT}", "model.topology=R>B>J>H", "data.pattern=BBBHRJ"]))
    prepare_demo_data(every, context.data_dir, progress=progress)


def load_result(context: StudyContext, run: RunSpec) -> dict | None:
    path = os.path.join(context.run_dir(run), RESULT_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def score_model(context: StudyContext, model, tasks: Sequence[str]) -> dict[str, dict]:
    """`{task: {"psnr", "ssim", "space", "n", "scores": {...}}}` on the test split, the paper's protocol."""
    scores = {}
    for task in tasks_of(tasks):
        pairs, total = split_pairs(context.data_dir, task, TEST_SPLIT, limit=context.settings.eval_images or None)
        result = evaluate_pairs(model, task, pairs, total=total, keep_images=False)
        p, s = protocol_keys(task)
        scores[task.name] = {"psnr": result["restored"][p], "ssim": result["restored"][s], "space": p.split("_")[1],
                             "input_psnr": result["input"][p], "input_ssim": result["input"][s], "n": result["n"],
                             "scores": result["restored"], "protocol": result["protocol"]}
    return scores


def run_all(context: StudyContext, runs: Sequence[RunSpec], say: Callable[[str], None] = print,
            progress: bool = True) -> list[RunSpec]:
    """Trains and scores `runs` (skipping finished ones); returns the runs trained or resumed now."""
    from keras_durbm.models import load_durbm  # heavy: Keras and the training loop, once there is work
    from keras_durbm.training.loop import train

    done_now = []
    for number, run in enumerate(runs, start=1):
        if load_result(context, run) is not None:
            say(f"[{number}/{len(runs)}] {run.label}: finished earlier, skipped")
            continue
        say(f"[{number}/{len(runs)}] {run.label}: training in {context.run_dir(run)}")
        config = context.run_config(run)
        started = time.monotonic()
        outcome = train(config, context.run_dir(run), progress=progress)
        if outcome.interrupted:
            raise KeyboardInterrupt(outcome.exit_code)
        model = load_durbm(context.run_dir(run))
        scores = score_model(context, model, run.scored)
        summary = outcome.summary
        write_json_atomic(os.path.join(context.run_dir(run), RESULT_FILE), {
            "id": run.id, "label": run.label, "topology": run.topology, "trained": list(run.trained),
            "scores": scores, "steps": summary.get("final_step"),
            "wall_seconds": summary.get("wall_seconds", time.monotonic() - started),
            "budget": dataclasses.asdict(context.budget)})
        done_now.append(run)
    return done_now
