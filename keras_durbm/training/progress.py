"""Console progress of a run: a tqdm bar (rate, ETA, per-task loss, learning rate), periodic lines, and an
early estimate of the time left (printed even without the bar)."""

from __future__ import annotations

import sys
import time
from collections import defaultdict

from tqdm import tqdm

_SHORT = {"motion_blur": "B", "haze": "H", "rain": "R", "jpeg": "J", "classifier": "C", "accuracy": "acc"}


def format_duration(seconds: float) -> str:
    """`4m07s`, or `1h02m03s` from an hour on."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class RemainingTime:
    """The time a run has left, from its rate over early steps of this process.

    The first `SKIP` steps are left out because they trace each head's step (seconds each); the estimate is
    made once, `WINDOW` steps later, and assumes every remaining step costs the same.
    """

    SKIP, WINDOW = 10, 40

    def __init__(self, start: int, total: int):
        self.total = total
        self.first, self.last = start + self.SKIP, start + self.SKIP + self.WINDOW
        self._began: float | None = None

    def line(self, step: int, seconds: float) -> str | None:
        """Called after each step with the loop's clock (evaluations excluded); the line to print, once."""
        if step == self.first:
            self._began = seconds
        if step != self.last or self._began is None or seconds <= self._began or step >= self.total:
            return None
        rate = self.WINDOW / (seconds - self._began)
        return (f"step {step}: {rate:.1f} steps/s, {self.total - step} steps left: about "
                f"{format_duration((self.total - step) / rate)} more")


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
