"""Console progress of a run: a tqdm bar (rate, ETA, per-task loss, learning rate) and periodic lines."""

from __future__ import annotations

import sys
import time
from collections import defaultdict

from tqdm import tqdm

_SHORT = {"motion_blur": "B", "haze": "H", "rain": "R", "jpeg": "J", "classifier": "C", "accuracy": "acc"}


class LossTracker:
    """Per-task loss bookkeeping: means since the last log, a smoothed value for the bar, counts."""

    def __init__(self, tasks: tuple[str, ...], smoothing: float = 0.9):
        self.tasks = tasks
        self.smoothing = smoothing
        self.smoothed: dict[str, float] = {}
        self.batches: dict[str, int] = defaultdict(int)
        self.last_mean: dict[str, float] = {}
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)

    def add(self, task: str, loss: float) -> None:
        self.batches[task] += 1
        self._sum[task] += loss
        self._count[task] += 1
        old = self.smoothed.get(task)
        self.smoothed[task] = loss if old is None else self.smoothing * old + (1 - self.smoothing) * loss

    def window_means(self) -> dict[str, float]:
        """Mean loss per task since the previous call (tasks without batches are left out)."""
        means = {t: self._sum[t] / self._count[t] for t in self.tasks if self._count[t]}
        self.last_mean.update(means)
        self._sum.clear()
        self._count.clear()
        return means


class ProgressBar:
    """tqdm over the steps of a run, starting at the resume step; silent when `enabled` is False."""

    def __init__(self, start: int, total: int, enabled: bool = True):
        self.enabled = enabled
        self._bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, file=sys.stderr,
                         disable=not enabled, desc="train", smoothing=0.05)
        self._last_postfix = 0.0

    def update(self, tracker: LossTracker, learning_rate: float) -> None:
        self._bar.update(1)
        now = time.monotonic()
        if self.enabled and now - self._last_postfix > 0.5:
            losses = " ".join(f"{_SHORT.get(t, t)}={v:.3f}" for t, v in tracker.smoothed.items())
            self._bar.set_postfix_str(f"{losses} lr={learning_rate:.2g}", refresh=False)
            self._last_postfix = now

    def write(self, text: str) -> None:
        """Prints a line above the bar (or plainly when the bar is off)."""
        if self.enabled:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        self._bar.close()
