"""SIGTERM/SIGINT → "stop after this step": the loop then checkpoints and exits cleanly.

A handler only sets a flag; the loop checks it between steps, so a signal never
interrupts a half-applied update or a half-written checkpoint. A second SIGINT
while stopping raises `KeyboardInterrupt` as usual.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    """Context manager that turns SIGTERM and SIGINT into a flag (`requested`, `signal_name`).

    Installs its handlers only in the main thread (Python's rule) and restores the
    previous ones on exit.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.signals = signals
        self.signal_number: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name if self.signal_number else ""

    @property
    def exit_code(self) -> int:
        """The conventional status of a process ended by the signal (128 + number)."""
        return 128 + self.signal_number if self.signal_number else 0

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.signal_number == signal.SIGINT and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_number = number

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for number in self.signals:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
