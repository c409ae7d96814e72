"""What a study is: a named set of ordinary training runs with one budget, how they are split into shards,
and the study's own settings (`--set study.<field>=...`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

from keras_durbm.config.engine import option
from keras_durbm.config.tasks import Task, get_task
from keras_durbm.config.topology import parse_topology


@dataclasses.dataclass(frozen=True)
class StudySettings:
    """The `study` section of `--set` (the other keys override every run's training config)."""

    base: str = option("R>B>H", "the three-task design the four-task study adds J to")
    design: str = option("R>B>H", "the three-task design of the ablation, multitask and features studies")
    eval_images: int = option(0, "test images scored per task and run (0: all of the test split)")
    feature_crop: int = option(48, "side of the test crops whose activations the features study compares")
    feature_samples: int = option(60, "test crops per task in the features study")
    probe_neighbours: int = option(5, "k of the features study's k-nearest-neighbour probe")
    probe_folds: int = option(5, "folds of the probe's stratified cross-validation")

    def __post_init__(self):
        for field in ("base", "design"):
            parse_topology(getattr(self, field))
        if self.eval_images < 0 or self.feature_crop < 8 or self.feature_crop % 4 or self.feature_samples < 4:
            raise ValueError("study.eval_images must be >= 0, study.feature_crop a multiple of 4 (>= 8), "
                             "study.feature_samples >= 4")
        if self.probe_neighbours < 1 or self.probe_folds < 2:
            raise ValueError("study.probe_neighbours must be >= 1 and study.probe_folds >= 2")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of a study.

    Args:
        id: its folder under `DIR/runs/` (letters, digits, `-` and `_`).
        label: how the report names it (a topology, an ablation row, "joint" ...).
        topology: where its heads sit.
        trained: the tasks it trains (the others' heads are left untrained: `data.skip_heads`).
        scored: the tasks it is scored on.
        overrides: extra `key=value` assignments of this run (e.g. `model.squeeze=tv`).
    """

    id: str
    label: str
    topology: str
    trained: tuple[str, ...]
    scored: tuple[str, ...]
    overrides: tuple[str, ...] = ()

    def assignments(self, cycle: dict[str, int]) -> list[str]:
        """`key=value` assignments that make the study's base config into this run's config."""
        heads = [t.name for t in parse_topology(self.topology).tasks]
        pattern = "".join(get_task(name).letter * cycle.get(name, 1) for name in heads if name in self.trained)
        skipped = [name for name in heads if name not in self.trained]
        return [f"model.topology={self.topology}", f"data.pattern={pattern}",
                f"data.skip_heads=[{', '.join(skipped)}]", *self.overrides]


def run_id(prefix: str, topology: str) -> str:
    """A folder name for a topology: `R>B>H` -> `prefix-R_B_H`, `BH>R` -> `prefix-BH_R`."""
    return f"{prefix}-{topology.replace('>', '_')}"


@dataclasses.dataclass(frozen=True)
class Study:
    """A study of the paper, run as ordinary training runs.

    Args:
        name: the command's NAME.
        title: one line for reports and `--help`.
        tasks: tasks whose train and test data the study needs.
        runs: the runs, given the study settings (may be empty when `--model` is given: `features`).
        batch: the global batch of its runs when `--batch` is not given (None: the base experiment's).
        uses_model: takes `--model` instead of training its own model (`features`).
    """

    name: str
    title: str
    tasks: tuple[str, ...]
    runs: Callable[[StudySettings, bool], list[RunSpec]]
    batch: int | None = None
    uses_model: bool = False


_SHARD = re.compile(r"^(\d+)/(\d+)$")


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` (1 <= I <= N) -> (I, N); the error says what a shard looks like."""
    match = _SHARD.match(text.strip())
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ValueError(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 1/4 for the first of four "
                         "slices (SLURM: --shard $((SLURM_ARRAY_TASK_ID + 1))/$SLURM_ARRAY_TASK_COUNT)")
    return int(match.group(1)), int(match.group(2))


def shard_of(runs: Sequence[RunSpec], shard: tuple[int, int]) -> list[RunSpec]:
    """The I-th of N disjoint slices of `runs` (round robin, so slices differ by one run at most)."""
    index, count = shard
    return list(runs[index - 1::count])


def tasks_of(names: Sequence[str]) -> tuple[Task, ...]:
    return tuple(get_task(name) for name in names)
