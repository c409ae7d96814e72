"""The registry of restoration tasks: one decoder head per task.

A task has a one-letter code used in topology strings (docs/design.md §1.6), a name
used for heads, TFRecord shards and exports, and the colour space its scores
are reported on (the paper's protocol, docs/design.md §1.8). Users may register more
tasks (for example noise) before building a model.

This module imports nothing heavy so that data tools can use it without
TensorFlow.
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass(frozen=True)
class Task:
    """One degradation the network restores.

    Args:
        letter: one upper-case letter used in topology strings (`R>B>H`).
        name: head name; lower-case identifier (`motion_blur`).
        score_on: colour space of the paper's protocol: `"y"` (ITU-R BT.601
            luma) or `"rgb"`.
        also_score_on: extra colour spaces reported beside the protocol one
            (motion blur is also reported on RGB, as DuRN did).
        description: one line for help texts and model cards.
    """

    letter: str
    name: str
    score_on: str = "y"
    also_score_on: tuple[str, ...] = ()
    description: str = ""


_BY_LETTER: dict[str, Task] = {}
_BY_NAME: dict[str, Task] = {}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
#: `--task auto`: the degradation classifier chooses the head (keras_durbm.restoration.routing).
AUTO = "auto"
#: The degradation classifier's class for an image without degradation (and for every training target).
CLEAN = "clean"
RESERVED_NAMES = (AUTO, CLEAN)


def register_task(task: Task) -> Task:
    """Adds `task` to the registry; letters and names must be unique."""
    if len(task.letter) != 1 or not task.letter.isalpha() or not task.letter.isupper():
        raise ValueError(f"task letter must be one upper-case letter, got {task.letter!r}")
    if not _NAME_RE.match(task.name):
        raise ValueError(f"task name must match {_NAME_RE.pattern}, got {task.name!r}")
    if task.name in RESERVED_NAMES:
        raise ValueError(f"task name {task.name!r} is reserved ({', '.join(RESERVED_NAMES)} are not tasks)")
    for space in (task.score_on, *task.also_score_on):
        if space not in ("y", "rgb"):
            raise ValueError(f"task {task.name!r}: colour space must be 'y' or 'rgb', got {space!r}")
    old = _BY_LETTER.get(task.letter) or _BY_NAME.get(task.name)
    if old is not None and old != task:
        raise ValueError(f"task {task.letter}/{task.name} clashes with registered {old.letter}/{old.name}")
    _BY_LETTER[task.letter] = task
    _BY_NAME[task.name] = task
    return task


def unregister_task(name: str) -> None:
    """Removes a user-registered task (tests use this to stay isolated)."""
    task = _BY_NAME.pop(name)
    _BY_LETTER.pop(task.letter, None)


def get_task(key: str) -> Task:
    """Looks a task up by name (`haze`) or letter (`H`); the error lists the known ones."""
    task = _BY_NAME.get(key) or _BY_LETTER.get(key)
    if task is None:
        raise KeyError(f"unknown task {key!r}; known tasks: {known_tasks_text()}")
    return task


def all_tasks() -> tuple[Task, ...]:
    return tuple(_BY_NAME.values())


def task_names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


def known_tasks_text() -> str:
    return ", ".join(f"{t.letter}={t.name}" for t in _BY_NAME.values())


MOTION_BLUR = register_task(Task("B", "motion_blur", "y", ("rgb",), "camera motion blur (GoPro)"))
HAZE = register_task(Task("H", "haze", "rgb", (), "haze, H = I*t + A(1-t) (RESIDE)"))
RAIN = register_task(Task("R", "rain", "y", (), "rain streaks, O = I + sum S_i (DID-MDN)"))
JPEG = register_task(Task("J", "jpeg", "y", (), "JPEG compression artifacts (DIV2K / LIVE1)"))
