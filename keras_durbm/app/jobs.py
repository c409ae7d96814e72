"""One worker thread and a queue: images are restored one at a time, the others wait their turn.

A `Job` is `queued` (with its position: 1 is next), `running` (with the tiles done so far, from the
inference progress callback), `done` or `failed` (with the message). The model runs only in the worker
thread; `close` asks a running job to stop at its next tile and waits for the worker.
"""

from __future__ import annotations

import collections
import secrets
import sys
import threading
import time
from collections.abc import Callable

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class QueueFull(Exception):
    """The queue already holds its maximum of waiting jobs."""


class Stopped(Exception):
    """Raised from the progress callback when the server stops: the running job ends at its next tile."""


class Job:
    """One uploaded image and what became of it. `payload` is what the work function needs (dropped once
    the job ends, so a finished job holds no pixels); `result` is merged into its JSON (`work` adds to it)."""

    def __init__(self, name: str, task: str, payload=None, result: dict | None = None):
        self.id = secrets.token_hex(8)
        self.name = name
        self.task = task
        self.payload = payload
        self.upload: str | None = None  # the uploaded file (kept until the server stops)
        self.state = QUEUED
        self.created = time.monotonic()
        self.seconds: float | None = None
        self.done = self.total = self.passes = 0
        self.error: str | None = None
        self.result: dict = dict(result or {})

    def report(self, done: int, total: int) -> None:
        """The inference progress callback's (done, total); a count that starts again is a new pass
        (the next head of a chain)."""
        if done <= self.done or total != self.total:
            self.passes += 1
        self.done, self.total = done, total

    def to_dict(self, position: int | None = None) -> dict:
        return {"id": self.id, "name": self.name, "task": self.task, "state": self.state, "position": position,
                "progress": {"done": self.done, "total": self.total, "pass": self.passes},
                "seconds": self.seconds, "error": self.error, **self.result}


Work = Callable[[Job, Callable[[int, int], None]], dict]


class JobQueue:
    """Runs `work(job, progress)` for each submitted job in one worker thread, in order; `work` returns
    what the finished job reports (merged into its JSON) or raises (the job fails with `describe(job, error)`)."""

    def __init__(self, work: Work, describe: Callable[[Job, BaseException], str], *, max_waiting: int = 16,
                 log: Callable[[str], None] | None = None):
        self._work = work
        self._describe = describe
        self._max_waiting = max_waiting
        self._log = log or (lambda text: print(text, flush=True))
        self._jobs: dict[str, Job] = {}
        self._waiting: collections.deque[Job] = collections.deque()
        self._ready = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="restore-worker", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> int:
        """Queues `job`; returns its position (1: next to run). `QueueFull` when `max_waiting` already wait."""
        with self._ready:
            if self._stopping.is_set():
                raise QueueFull("the server is stopping")
            if len(self._waiting) >= self._max_waiting:
                raise QueueFull(f"{len(self._waiting)} images are already waiting; try again when some have finished")
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._ready.notify()
            return len(self._waiting)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def describe(self, job: Job) -> dict:
        """The job's JSON, with its queue position while it waits."""
        with self._ready:
            position = self._waiting.index(job) + 1 if job.state == QUEUED and job in self._waiting else None
        return job.to_dict(position)

    def _progress(self, job: Job) -> Callable[[int, int], None]:
        def progress(done: int, total: int) -> None:
            job.report(done, total)
            if self._stopping.is_set():
                raise Stopped()
        return progress

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._stopping.is_set():
                    self._ready.wait()
                if self._stopping.is_set():
                    return
                job = self._waiting.popleft()
                job.state = RUNNING
            try:
                job.result = {**job.result, **(self._work(job, self._progress(job)) or {})}
                job.state = DONE
            except Stopped:
                job.error, job.state = f"{job.name}: stopped (the server is shutting down)", FAILED
            except Exception as error:  # any failure fails this job only; the server keeps serving
                job.error, job.state = self._describe(job, error), FAILED
            finally:
                job.payload = None
                job.seconds = time.monotonic() - job.created
            if job.state == DONE:
                self._log(f"{job.name}: {job.result.get('summary', 'done')} in {job.seconds:.2f} s")
            else:
                print(f"error: {job.error}", file=sys.stderr, flush=True)

    def close(self, timeout: float = 30.0) -> bool:
        """Stops the worker (a running job ends at its next tile); True when it ended within `timeout`."""
        with self._ready:
            self._stopping.set()
            for job in self._waiting:
                job.state, job.error, job.payload = FAILED, f"{job.name}: not restored (the server stopped)", None
            self._waiting.clear()
            self._ready.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()
