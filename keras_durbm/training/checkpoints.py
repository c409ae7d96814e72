"""Checkpoints of a run: model, optimizer (slots, iterations), learning-rate schedule and step.

The data stream is not saved (a shuffle buffer of whole images would dwarf the
weights). A run resumed at step s instead rebuilds its input pipeline with a seed
derived from (`data.seed`, s) and skips `s mod len(pattern)` minibatches so the
task cycle stays aligned: the resumed stream is a deterministic function of the
resume step, though not the continuation of the interrupted one.

Under `MultiWorkerMirroredStrategy` every worker saves (the strategy requires it),
but only the chief writes to `<run_dir>/checkpoints`; the others write to a
scratch folder that is deleted right away. All workers restore from the chief's
folder, so a multi-worker run folder must be on a shared file system.

A checkpoint is verified before it is restored: every tensor is read back with its checksum. A damaged
one (a truncated data file or index, a flipped byte) is reported, moved aside into
`<run_dir>/checkpoints/damaged/` (kept, not deleted), and the run resumes from the newest intact one:
at most one more checkpoint interval is lost.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from collections.abc import Callable

import tensorflow as tf

CHECKPOINT_DIRNAME = "checkpoints"
DAMAGED_DIRNAME = "damaged"
_STEP = re.compile(r"ckpt-(\d+)$")


def checkpoint_problem(path: str) -> str | None:
    """None when every tensor of the checkpoint at `path` reads back with its checksum, else what is wrong."""
    try:
        reader = tf.train.load_checkpoint(path)
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
    except Exception as error:  # a damaged bundle raises OpError, IndexError, ValueError, ... depending on where
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200]}"
    return None


def checkpoint_paths(directory: str) -> list[str]:
    """Path prefixes of the checkpoints in `directory`, newest first (from the files, not only the state file,
    which may itself be damaged)."""
    found = {p[: -len(".index")] for p in glob.glob(os.path.join(glob.escape(directory), "ckpt-*.index"))}
    try:
        state = tf.train.get_checkpoint_state(directory)
    except Exception:  # a damaged `checkpoint` text file: the .index files still tell
        state = None
    if state is not None:
        found.update(os.path.join(directory, os.path.basename(p)) for p in state.all_model_checkpoint_paths)
    numbered = [(int(m.group(1)), p) for p in found if (m := _STEP.search(p))]
    return [p for _, p in sorted(numbered, reverse=True)]


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
        self.max_to_keep = max_to_keep
        self.manager = tf.train.CheckpointManager(self.checkpoint, write_dir, max_to_keep=max_to_keep)

    @property
    def latest(self) -> str | None:
        """Path prefix of the newest complete checkpoint in the chief's folder, or None."""
        return tf.train.latest_checkpoint(self.directory)

    def restore_latest(self, say: Callable[[str], None] = print) -> str | None:
        """Restores the newest intact checkpoint if there is one; returns its path.

        Damaged checkpoints are reported with `say`, moved aside (on the chief) and skipped. Every value
        in the restored checkpoint must find its variable and every variable its value
        (`assert_consumed`), so a checkpoint of a differently shaped model is refused.
        """
        candidates = checkpoint_paths(self.directory)
        damaged = []
        for path in candidates:
            problem = checkpoint_problem(path)
            if problem is not None:
                damaged.append(path)
                say(f"warning: checkpoint {path} is damaged ({problem})")
                continue
            if damaged:
                self._set_aside(damaged, say)
                say(f"resuming from the newest intact checkpoint {path} instead")
            try:
                self.checkpoint.restore(path).assert_consumed()
            except (AssertionError, ValueError, tf.errors.OpError) as error:
                raise RuntimeError(
                    f"cannot resume from {path}: it does not match this run's model/optimizer ({error}); "
                    "use a new run folder for a different configuration"
                ) from error
            return path
        if damaged:
            self._set_aside(damaged, say)
            say("warning: no intact checkpoint is left; the run starts again from step 0")
        return None

    def _set_aside(self, damaged: list[str], say: Callable[[str], None]) -> None:
        """Moves damaged checkpoints' files into checkpoints/damaged/ and rewrites the state file without them."""
        if self.rank != 0:
            return
        aside = os.path.join(self.directory, DAMAGED_DIRNAME)
        os.makedirs(aside, exist_ok=True)
        for path in damaged:
            for file in glob.glob(glob.escape(path) + ".*"):
                os.replace(file, os.path.join(aside, os.path.basename(file)))
        say(f"moved the damaged checkpoint files into {aside} (kept for inspection; delete them when done)")
        intact = [p for p in checkpoint_paths(self.directory) if p not in damaged]
        if intact:
            tf.compat.v1.train.update_checkpoint_state(self.directory, intact[0], list(reversed(intact)))
        else:
            state_file = os.path.join(self.directory, "checkpoint")
            if os.path.exists(state_file):
                os.replace(state_file, os.path.join(aside, "checkpoint"))
        self.manager = tf.train.CheckpointManager(self.checkpoint, self._write_dir, max_to_keep=self.max_to_keep)

    def save(self, step: int) -> str:
        """Writes a checkpoint for `step` (atomically: the index file is replaced last)."""
        path = self.manager.save(checkpoint_number=step)
        if self.rank != 0:
            shutil.rmtree(self._write_dir, ignore_errors=True)
        return path
