"""One worker thread and a queue: images are restored one at a time, the others wait their turn.

A `Job` is `queued` (with its position: 1 is next), `running` (with the tiles done so far, from the
inference progress callback), `done` or `failed` (with the message). The model runs only in the worker
thread; `close` asks a running job to stop at its next tile and waits for the worker.

The queue is bounded in images and in pixels: room for an image is reserved from its header (`reserve`)
before it is decoded, held while it waits and runs, and given back when it ends. Finished jobs are kept
for `keep_seconds` and at most `keep_finished` of them (the newest); older ones are forgotten and
`forget(job)` removes their files.
"""

from __future__ import annotations

import collections
import secrets
import sys
import threading
import time
from collections.abc import Callable

from keras_durbm.cli import console_text
from keras_durbm.images.io import DEFAULT_MAX_PIXELS

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: Finished jobs (and their files) kept: the newest this many, none older than `KEEP_SECONDS`.
KEEP_FINISHED = 32
KEEP_SECONDS = 3600.0
#: Pixels the queue holds by default (images being read, waiting and running): two images at the default
#: pixel limit, about 0.8 GB as decoded float32 RGB.
DEFAULT_QUEUE_PIXELS = 2 * DEFAULT_MAX_PIXELS


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
        self.upload: str | None = None  # the uploaded file (kept while the job is kept)
        self.pixels = 0  # what the job holds of the queue's pixel limit (from the header)
        self.state = QUEUED
        self.created = time.monotonic()
        self.ended: float | None = None
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
    what the finished job reports (merged into its JSON) or raises (the job fails with `describe(job, error)`).

    `max_waiting` images may wait; `max_pixels` bounds the pixels of the images reserved, waiting and
    running together (None: no bound; an image alone is always admitted). Log lines escape control
    characters (a file name is the client's text)."""

    def __init__(self, work: Work, describe: Callable[[Job, BaseException], str], *, max_waiting: int = 16,
                 max_pixels: int | None = None, keep_finished: int = KEEP_FINISHED, keep_seconds: float = KEEP_SECONDS,
                 forget: Callable[[Job], None] | None = None, log: Callable[[str], None] | None = None):
        self._work = work
        self._describe = describe
        self._max_waiting = max_waiting
        self._max_pixels = max_pixels
        self._keep_finished, self._keep_seconds = keep_finished, keep_seconds
        self._forget = forget or (lambda job: None)
        self._log = log or (lambda text: print(text, flush=True))
        self._jobs: dict[str, Job] = {}
        self._waiting: collections.deque[Job] = collections.deque()
        self._finished: collections.deque[Job] = collections.deque()
        self._held = self._reserved = 0  # pixels held (reserved, waiting, running); images reserved, not submitted
        self._ready = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="restore-worker", daemon=True)
        self._thread.start()

    def reserve(self, pixels: int) -> None:
        """Holds room for an image of `pixels` (read from its header) before it is decoded; `QueueFull` when
        `max_waiting` images wait or are being read, or the pixels held would pass `max_pixels`."""
        with self._ready:
            if self._stopping.is_set():
                raise QueueFull("the server is stopping")
            if len(self._waiting) + self._reserved >= self._max_waiting:
                raise QueueFull(f"{len(self._waiting) + self._reserved} images are already waiting; try again when "
                                "some have finished")
            if self._max_pixels and self._held and self._held + pixels > self._max_pixels:
                raise QueueFull(f"the images waiting or being restored hold {self._held:,} pixels, and this one's "
                                f"{pixels:,} would pass the queue's limit of {self._max_pixels:,} (--max-queue-pixels); "
                                "try again when some have finished")
            self._held += pixels
            self._reserved += 1

    def cancel(self, pixels: int) -> None:
        """Gives back a reservation whose image was not submitted (it could not be read)."""
        with self._ready:
            self._held -= pixels
            self._reserved -= 1

    def submit(self, job: Job) -> int:
        """Queues `job`, whose `job.pixels` were reserved; returns its position (1: next to run)."""
        self._evict()
        with self._ready:
            self._reserved -= 1
            if self._stopping.is_set():
                self._held -= job.pixels
                raise QueueFull("the server is stopping")
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
                job.ended = time.monotonic()
                job.seconds = job.ended - job.created
                with self._ready:
                    self._held -= job.pixels
                    self._finished.append(job)
            if job.state == DONE:
                self._log(console_text(f"{job.name}: {job.result.get('summary', 'done')} in {job.seconds:.2f} s"))
            else:
                print(f"error: {console_text(job.error)}", file=sys.stderr, flush=True)
            self._evict()

    def _evict(self) -> None:
        """Forgets the finished jobs past `keep_finished` (oldest first) or older than `keep_seconds`."""
        gone, now = [], time.monotonic()
        with self._ready:
            while self._finished and (len(self._finished) > self._keep_finished
                                      or now - self._finished[0].ended > self._keep_seconds):
                job = self._finished.popleft()
                self._jobs.pop(job.id, None)
                gone.append(job)
        for job in gone:
            self._forget(job)

    def close(self, timeout: float = 30.0) -> bool:
        """Stops the worker (a running job ends at its next tile); True when it ended within `timeout`."""
        with self._ready:
            self._stopping.set()
            for job in self._waiting:
                job.state, job.error, job.payload = FAILED, f"{job.name}: not restored (the server stopped)", None
                self._held -= job.pixels
            self._waiting.clear()
            self._ready.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()
