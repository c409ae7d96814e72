"""Holding the restoration page's worker on its first job, so a test can fill the queue behind it."""

from __future__ import annotations

import threading


def hold_the_first_job(monkeypatch, restorer) -> tuple[threading.Event, threading.Event]:
    """Patches `restorer.run` so that its first call waits until `release` is set (at most 30 s); returns
    `(started, release)`: `started` is set once that first job has begun."""
    real_run, release, started = restorer.run, threading.Event(), threading.Event()

    def held_run(*args, **kwargs):
        if not started.is_set():
            started.set()
            assert release.wait(30)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(restorer, "run", held_run)
    return started, release
