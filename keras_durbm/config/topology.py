"""Parses topology strings that say where each task's head sits (paper §5.2, docs/design.md §1.6).

Letters are tasks; letters written together share a level; each `>` stacks one
more DuRB-M above the encoder. `R>B>H`: head R on the encoder output, one
DuRB-M, head B, another DuRB-M, head H.
"""

from __future__ import annotations

import dataclasses

from keras_durbm.config.tasks import Task, get_task, known_tasks_text


@dataclasses.dataclass(frozen=True)
class Topology:
    """Heads per level: `levels[0]` sits on the encoder, `levels[k]` above k extra DuRB-M blocks."""

    text: str
    levels: tuple[tuple[Task, ...], ...]

    @property
    def num_extra_blocks(self) -> int:
        return len(self.levels) - 1

    @property
    def tasks(self) -> tuple[Task, ...]:
        return tuple(task for level in self.levels for task in level)

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(task.name for task in self.tasks)

    def depth_of(self, task_name: str) -> int:
        """Number of extra DuRB-M blocks between the encoder and the head of `task_name`."""
        for depth, level in enumerate(self.levels):
            if any(task.name == task_name for task in level):
                return depth
        raise KeyError(f"task {task_name!r} has no head in topology {self.text!r}; heads: {self.task_names}")


def parse_topology(text: str) -> Topology:
    """Parses and validates a topology string; errors say what is wrong and where."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("topology is empty: write task letters, e.g. 'R>B>H' or 'RBH'")
    compact = "".join(text.split())
    levels = []
    seen: dict[str, int] = {}
    for depth, group in enumerate(compact.split(">")):
        if not group:
            raise ValueError(
                f"topology {text!r}: level {depth} is empty (a '>' at the start or end, or '>>'); "
                "each '>' must have task letters on both sides"
            )
        tasks = []
        for letter in group:
            if not letter.isalpha() or not letter.isupper():
                raise ValueError(f"topology {text!r}: {letter!r} is not a task letter; known: {known_tasks_text()}")
            try:
                task = get_task(letter)
            except KeyError:
                raise ValueError(
                    f"topology {text!r}: unknown task letter {letter!r}; known: {known_tasks_text()}"
                ) from None
            if letter in seen:
                raise ValueError(
                    f"topology {text!r}: task {letter} ({task.name}) appears twice (levels {seen[letter]} and {depth})"
                )
            seen[letter] = depth
            tasks.append(task)
        levels.append(tuple(tasks))
    return Topology(compact, tuple(levels))


# The 13 three-task designs of the paper's Table 2 with their averaged PSNR/SSIM after 1e5 iterations.
TABLE2_DESIGNS: dict[str, tuple[float, float]] = {
    "B>H>R": (30.61, 0.9244),
    "B>R>H": (30.42, 0.9227),
    "H>B>R": (30.57, 0.9244),
    "H>R>B": (30.34, 0.9219),
    "R>B>H": (30.79, 0.9246),
    "R>H>B": (30.29, 0.9201),
    "BH>R": (30.24, 0.9217),
    "B>HR": (30.36, 0.9216),
    "HR>B": (30.02, 0.9189),
    "H>RB": (30.41, 0.9236),
    "RB>H": (30.47, 0.9219),
    "R>BH": (30.38, 0.9228),
    "RBH": (30.32, 0.9206),
}
