"""Training data for the loop: multi-task minibatch streams spread over replicas, and validation pairs.

A source (`TFRecordData` over `tfrecords_tools` shards, or `ArrayData` over
in-memory arrays) yields per-replica minibatches, each from one task, in cycles
of the config's pattern (paper §5.1.2). `distribute_training_data` builds one
stream per worker with `distribute_datasets_from_function` (each task's shards
are split between workers: docs/design.md §4). The distributed iterator hands
consecutive elements of a worker's stream to its local replicas, so a source
emits `local replicas` consecutive pieces of the same task per step.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import tensorflow as tf

from keras_durbm.config.experiment import ExperimentConfig
from keras_durbm.config.tasks import Task, get_task
from keras_durbm.errors import DataError
from keras_durbm.images.pairs import Pair
from keras_durbm.seeding import derive_seed
from keras_durbm.training.demo import prepare_demo_data
from tfrecords_tools.manifest import files_by_task
from tfrecords_tools.pipeline import multitask_dataset, split_pairs


class TrainingData(Protocol):
    """What the loop needs from a data source."""

    def train_dataset(self, input_context: tf.distribute.InputContext, seed: int) -> tf.data.Dataset:
        """Endless per-replica minibatches `{"input", "target": (b, crop, crop, 3), "task": int32 index}`."""

    def validation_pairs(self, task: Task, limit: int = 0) -> list[Pair]:
        """Up to `limit` (0: all) whole validation pairs of a task, in a fixed order."""


def distribute_training_data(strategy: tf.distribute.Strategy, data: TrainingData, config: ExperimentConfig,
                             start_step: int = 0):
    """The distributed stream of a run resumed at `start_step` (see `checkpoints` for the seeding rule)."""
    cycle = len(config.data.pattern)
    seed = derive_seed(config.data.seed, "train", start_step)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        local = context.num_replicas_in_sync // context.num_input_pipelines
        return data.train_dataset(context, seed).skip((start_step % cycle) * local)

    return strategy.distribute_datasets_from_function(dataset_fn)


@dataclasses.dataclass
class TFRecordData:
    """Shards written by `tfrecords_tools` (`convert`, or the demo's synthesis) in `folder`."""

    config: ExperimentConfig
    folder: str

    def train_dataset(self, input_context: tf.distribute.InputContext, seed: int) -> tf.data.Dataset:
        data = self.config.data
        files = files_by_task(self.folder, split=data.train_split, tasks=self.config.tasks)
        sizes = {task.name: data.batch_size_of(task) for task in self.config.tasks}
        for name, size in sizes.items():
            if size % input_context.num_replicas_in_sync:
                raise ValueError(f"data.batch_size(s): the global batch of {name} ({size}) must be a multiple of "
                                 f"the number of replicas ({input_context.num_replicas_in_sync})")
        aligns = {key: align for key, align in data.crop_align.items() if get_task(key).name in sizes}
        return multitask_dataset(files, pattern=data.pattern, batch_sizes=sizes, crop=data.crop, seed=seed,
                                 input_context=input_context, crop_align=aligns)

    def validation_pairs(self, task: Task, limit: int = 0) -> list[Pair]:
        split = self.config.data.val_split
        if not split:
            return []
        try:
            pairs, _ = split_pairs(self.folder, task, split, limit=limit or None)
            return list(pairs)
        except DataError as error:
            print(f"warning: no {split} images for {task.name}, skipping its validation ({error})", file=sys.stderr)
            return []


def make_training_data(config: ExperimentConfig, run_dir: str, *, rank: int = 0, num_workers: int = 1,
                       progress: bool = True) -> TFRecordData:
    """The data source of `config.data.source` (synthesising the demo data on the first run)."""
    if config.data.source == "demo":
        folder = prepare_demo_data(config, os.path.join(run_dir, "data"), rank=rank, num_workers=num_workers,
                                   progress=progress)
        return TFRecordData(config, folder)
    if not os.path.isdir(config.data.tfrecord_dir):
        raise FileNotFoundError(f"data.tfrecord_dir {config.data.tfrecord_dir!r} is not a folder "
                                "(expected the output folder of python -m tfrecords_tools.convert)")
    return TFRecordData(config, config.data.tfrecord_dir)


def split_for_local_replicas(dataset: tf.data.Dataset, local_replicas: int) -> tf.data.Dataset:
    """Cuts each per-worker minibatch into `local_replicas` consecutive equal pieces of the same task."""
    if local_replicas == 1:
        return dataset

    def split(element):
        pieces = {}
        for key in ("input", "target"):
            x = element[key]
            shape = tf.shape(x)
            pieces[key] = tf.reshape(x, tf.concat([[local_replicas, shape[0] // local_replicas], shape[1:]], 0))
        pieces["task"] = tf.fill([local_replicas], element["task"])
        return tf.data.Dataset.from_tensor_slices(pieces)

    return dataset.flat_map(split)


@dataclasses.dataclass
class ArrayData:
    """Training data from in-memory image pairs (tests, benchmarks, small experiments).

    Global minibatch k is a pure function of (seed, k): its task (the pattern shuffled per
    cycle), images, crop offsets and flips are drawn from seeds derived from both. Worker w
    keeps rows [w·b, (w+1)·b) of it and cuts them into one piece per local replica, so the
    union over replicas is exactly the global batch a single device would see.

    Args:
        config: the experiment (pattern, batch sizes, crop, task order).
        train: `{task name: (inputs, targets)}`, arrays (N, H, W, 3) float32 in [0, 1], H, W >= crop.
        validation: `{task name: [Pair, ...]}`.
    """

    config: ExperimentConfig
    train: Mapping[str, tuple[np.ndarray, np.ndarray]]
    validation: Mapping[str, Sequence[Pair]] = dataclasses.field(default_factory=dict)

    def task_of(self, seed: int, index: int) -> int:
        """Task index of global minibatch `index`."""
        pattern = self.config.data.pattern
        rng = np.random.default_rng(derive_seed(seed, "cycle", index // len(pattern)))
        order = [pattern[i] for i in rng.permutation(len(pattern))]
        return self.config.task_names.index(get_task(order[index % len(pattern)]).name)

    def global_batch(self, seed: int, index: int) -> dict[str, np.ndarray]:
        """Global minibatch `index` as NumPy arrays."""
        task = self.task_of(seed, index)
        inputs, targets = self.train[self.config.task_names[task]]
        crop = self.config.data.crop
        rng = np.random.default_rng(derive_seed(seed, "batch", index))
        xs, ys = [], []
        for i in rng.integers(0, len(inputs), self.config.data.batch_size_of(self.config.tasks[task])):
            h, w = inputs[i].shape[:2]
            top, left = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
            x = inputs[i][top:top + crop, left:left + crop]
            y = targets[i][top:top + crop, left:left + crop]
            if rng.random() < 0.5:
                x, y = x[:, ::-1], y[:, ::-1]
            xs.append(x)
            ys.append(y)
        return {"input": np.stack(xs).astype(np.float32), "target": np.stack(ys).astype(np.float32),
                "task": np.int32(task)}

    def train_dataset(self, input_context: tf.distribute.InputContext, seed: int) -> tf.data.Dataset:
        workers = input_context.num_input_pipelines
        worker = input_context.input_pipeline_id
        replicas = input_context.num_replicas_in_sync
        crop = self.config.data.crop

        def make(index):
            batch = self.global_batch(seed, int(index))
            size = len(batch["input"])
            if size % replicas:
                name = self.config.task_names[int(batch["task"])]
                raise ValueError(f"data.batch_size(s): the global batch of {name} ({size}) must be a multiple "
                                 f"of the number of replicas ({replicas})")
            rows = slice(worker * size // workers, (worker + 1) * size // workers)
            return batch["input"][rows], batch["target"][rows], batch["task"]

        def to_tensors(index):
            x, y, task = tf.numpy_function(make, [index], (tf.float32, tf.float32, tf.int32), stateful=False)
            x.set_shape([None, crop, crop, 3])
            y.set_shape([None, crop, crop, 3])
            task.set_shape([])
            return {"input": x, "target": y, "task": task}

        dataset = tf.data.Dataset.counter().map(to_tensors)
        return split_for_local_replicas(dataset, replicas // workers).prefetch(2)

    def validation_pairs(self, task: Task, limit: int = 0) -> list[Pair]:
        pairs = list(self.validation.get(task.name, ()))
        return pairs[:limit] if limit else pairs

