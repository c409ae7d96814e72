"""Checkpoints of a run: model, optimizer (slots, iterations, learning rate), schedule and step.

The data stream is not saved (a shuffle buffer of whole images would dwarf the
weights). A run resumed at step s instead rebuilds its input pipeline with a seed
derived from (`data.seed`, s) and skips `s mod len(pattern)` minibatches so the
task cycle stays aligned: the resumed stream is a deterministic function of the
resume step, though not the continuation of the interrupted one.

Under `MultiWorkerMirroredStrategy` every worker saves (the strategy requires it),
but only the chief writes to `<run_dir>/checkpoints`; the others write to a
scratch folder that is deleted right away. All workers restore from the chief's
folder, so a multi-worker run folder must be on a shared file system.
"""

from __future__ import annotations

import os
import shutil

import tensorflow as tf

CHECKPOINT_DIRNAME = "checkpoints"


class RunCheckpoint:
    """A `tf.train.CheckpointManager` over everything a resumed run needs.

    Args:
        run_dir: the run folder; checkpoints go to `<run_dir>/checkpoints`.
        max_to_keep: newest checkpoints kept.
        rank: this worker's rank (0 = chief, which keeps the files).
        **objects: trackables to save, e.g. `model=…, optimizer=…, schedule=…, step=…`.
    """

    def __init__(self, run_dir: str, max_to_keep: int, rank: int = 0, **objects):
        self.directory = os.path.join(run_dir, CHECKPOINT_DIRNAME)
        self.rank = rank
        self.checkpoint = tf.train.Checkpoint(**objects)
        write_dir = self.directory if rank == 0 else os.path.join(run_dir, f".worker{rank}_checkpoints")
        self._write_dir = write_dir
        self.manager = tf.train.CheckpointManager(self.checkpoint, write_dir, max_to_keep=max_to_keep)

    @property
    def latest(self) -> str | None:
        """Path prefix of the newest complete checkpoint in the chief's folder, or None."""
        return tf.train.latest_checkpoint(self.directory)

    def restore_latest(self) -> str | None:
        """Restores the newest checkpoint if there is one; returns its path.

        Every value in the checkpoint must find its variable and every variable its value
        (`assert_consumed`), so a checkpoint of a differently shaped model is refused.
        """
        path = self.latest
        if path is None:
            return None
        try:
            self.checkpoint.restore(path).assert_consumed()
        except (AssertionError, ValueError, tf.errors.OpError) as error:
            raise RuntimeError(
                f"cannot resume from {path}: it does not match this run's model/optimizer ({error}); "
                "use a new run folder for a different configuration"
            ) from error
        return path

    def save(self, step: int) -> str:
        """Writes a checkpoint for `step` (atomically: the index file is replaced last)."""
        path = self.manager.save(checkpoint_number=step)
        if self.rank != 0:
            shutil.rmtree(self._write_dir, ignore_errors=True)
        return path
