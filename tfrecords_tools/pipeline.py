"""The tf.data input pipeline of training and evaluation (docs/design.md §1.7, §4).

* `task_dataset`: one task's shards -> interleaved, shuffled, decoded, the *same* random crop and flip for
  input and target (they are stacked on the channel axis, cropped once and split), batched.
* `multitask_dataset`: one single-task batch per element, in cycles given by a pattern of task letters
  (default `BBBHR`: 3 motion blur, 1 haze, 1 rain); the order inside every cycle is shuffled
  deterministically from the seed, like the paper's "cycles of randomly ordered minibatches".
* `eval_dataset`: whole images, no crop, in file order.

Every element is `{"input": float32 [0, 1], "target": float32 [0, 1], "task": ...}`. Randomness comes from
stateless ops seeded by `(seed, element counter)` and from seeded shuffles, so a pipeline is repeatable
for a seed (the shuffles also mix in TensorFlow's global seed when one is set).

Distribution (`strategy.distribute_datasets_from_function`): pass the `InputContext`; each task's shard
files are split by input pipeline (FILE auto-sharding cannot handle this pipeline, docs/design.md §4), batch sizes
become per-replica, and the cycle schedule is identical in every pipeline so that all replicas train the
same head at each step. When one pipeline feeds several replicas (MirroredStrategy), each scheduled batch
is repeated once per replica (with different crops), because the distributed iterator hands consecutive
elements to the replicas.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping, Sequence

import tensorflow as tf

from keras_durbm.config.tasks import Task, get_task, known_tasks_text
from keras_durbm.images.pairs import Pair
from keras_durbm.seeding import derive_seed
from tfrecords_tools.decoder import decode_record
from tfrecords_tools.manifest import group_key, load_manifest, shard_files
from tfrecords_tools.reader import record_dataset

AUTOTUNE = tf.data.AUTOTUNE
# Dataset functions here have no Python control flow on tensors; skipping AutoGraph speeds up building.
_plain = tf.autograph.experimental.do_not_convert


def _options(input_context: tf.distribute.InputContext | None) -> tf.data.Options:
    opts = tf.data.Options()
    opts.deterministic = True
    if input_context is not None:
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return opts


def _shard_for(files: Sequence[str], input_context: tf.distribute.InputContext | None, what: str) -> list[str]:
    files = [str(f) for f in files]
    if not files:
        raise ValueError(f"{what}: no shard files given")
    if input_context is None:
        return files
    n, i = input_context.num_input_pipelines, input_context.input_pipeline_id
    if len(files) < n:
        raise ValueError(f"{what}: {len(files)} shard file(s) for {n} input pipelines; every pipeline needs at "
                         f"least one file: reconvert with --min-shards {n} (or more)")
    return files[i::n]


def _crop_pairs(item: dict[str, tf.Tensor], seed: tf.Tensor, *, crop: int, crops: int, flip: bool,
                training: bool, align: int = 1) -> tf.Tensor:
    """`crops` aligned crops of the input/target pair as uint8 [crops, crop, crop, 6] (input channels
    first). One offset and one flip decision per crop are drawn and applied to both images; offsets
    are multiples of `align` (8 keeps JPEG's 8×8 block grid where it is in a whole image)."""
    h, w = item["height"], item["width"]
    big_enough = tf.logical_and(h >= crop, w >= crop)
    check = tf.debugging.Assert(big_enough, ["record", item["source"], "is smaller than the crop: height, width =",
                                             h, w, "; expected at least", crop, "(convert with --min-size)"])
    with tf.control_dependencies([check]):
        x, y = tf.identity(item["input"]), tf.identity(item["target"])
    if not training:
        top, left = (h - crop) // 2, (w - crop) // 2
        c = tf.concat([x[top:top + crop, left:left + crop], y[top:top + crop, left:left + crop]], -1)[None]
        return tf.ensure_shape(c, [1, crop, crop, 6])
    seeds = tf.random.experimental.stateless_split(seed, num=crops)
    out = []
    for k in range(crops):
        u = tf.random.stateless_uniform([3], seed=seeds[k])
        rows, cols = (h - crop) // align + 1, (w - crop) // align + 1
        top = tf.minimum(tf.cast(u[0] * tf.cast(rows, tf.float32), tf.int32), rows - 1) * align
        left = tf.minimum(tf.cast(u[1] * tf.cast(cols, tf.float32), tf.int32), cols - 1) * align
        c = tf.concat([x[top:top + crop, left:left + crop], y[top:top + crop, left:left + crop]], -1)
        if flip:
            c = tf.cond(u[2] < 0.5, lambda c=c: tf.reverse(c, axis=[1]), lambda c=c: c)
        out.append(c)
    return tf.ensure_shape(tf.stack(out), [crops, crop, crop, 6])


def _to_element(batch: tf.Tensor, task_index: int) -> dict[str, tf.Tensor]:
    x = tf.cast(batch, tf.float32) / 255.0
    return {"input": x[..., :3], "target": x[..., 3:], "task": tf.constant(task_index, tf.int32)}


def task_dataset(files: Sequence[str], *, crop: int, batch_size: int, seed: int, training: bool = True,
                 input_context: tf.distribute.InputContext | None = None, task_index: int = 0,
                 crops_per_image: int = 1, flip: bool = True, shuffle_buffer: int = 64,
                 cycle_length: int = 4, name: str | None = None, prefetch: int | None = None,
                 align: int = 1) -> tf.data.Dataset:
    """Batches of aligned random crops of one task's shards.

    Args:
        files: the task's shard files (e.g. `manifest.shard_files(out, "haze", "train")`).
        crop: crop size; batch_size: global batch size (per replica when `input_context` is given it is
            `input_context.get_per_replica_batch_size(batch_size)`).
        seed: seeds file order, record shuffle, crops and flips.
        training: True: repeat forever, shuffle, random crop + horizontal flip, full batches only.
            False: one pass in file order, centre crops, last partial batch kept.
        input_context: shards the files by input pipeline (see the module docstring).
        task_index: value of the `task` entry (index of the task in the model's task order).
        crops_per_image: aligned crops taken from every decoded image (raises throughput when PNG decoding
            is the bottleneck, at the price of correlated crops; see bench/pipeline.py).
        shuffle_buffer: records held for shuffling (memory ~ buffer x record size).
        name: task name used in error messages (default: the task index).
        prefetch: batches prepared ahead (None: autotuned; `multitask_dataset` uses 1 per task so that
            idle tasks hold one ready batch, not an autotuned pile of them).
        align: training crop offsets are multiples of this (8 for JPEG: the crops keep the 8×8 block grid
            at the network's stride-4 lattice, as in a whole image); `crop` must be a multiple of it so that
            flips keep the grid too.

    Elements: `{"input", "target"}` float32 (B, crop, crop, 3) in [0, 1] and `"task"` int32 scalar.
    """
    if crop < 1 or batch_size < 1 or crops_per_image < 1:
        raise ValueError(f"crop, batch_size and crops_per_image must be >= 1, got {crop}, {batch_size}, "
                         f"{crops_per_image}")
    if align < 1 or crop % align:
        raise ValueError(f"task {name or task_index}: crop alignment must be >= 1 and divide the crop {crop}, "
                         f"got {align}")
    pipeline_id = 0
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
        pipeline_id = input_context.input_pipeline_id
    files = _shard_for(files, input_context, f"task {name or task_index}")
    s_files = derive_seed(seed, "files", task_index, pipeline_id) % (2**31)
    s_shuffle = derive_seed(seed, "records", task_index, pipeline_id) % (2**31)
    s_crops = derive_seed(seed, "crops", task_index, pipeline_id)

    ds = record_dataset(files, shuffle_files=training, seed=s_files, repeat=training,
                        cycle_length=cycle_length if training else 1)
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=s_shuffle, reshuffle_each_iteration=True)
    counter = tf.data.Dataset.counter()
    ds = tf.data.Dataset.zip(ds, counter)

    @_plain
    def parse_and_crop(serialized: tf.Tensor, i: tf.Tensor) -> tf.Tensor:
        item = decode_record(serialized)
        seed_pair = tf.stack([tf.constant(s_crops, tf.int64), i])
        return _crop_pairs(item, seed_pair, crop=crop, crops=crops_per_image if training else 1, flip=flip,
                           training=training, align=align)

    ds = ds.map(parse_and_crop, num_parallel_calls=AUTOTUNE, deterministic=True).unbatch()
    if training and crops_per_image > 1:
        ds = ds.shuffle(max(2 * batch_size, 2 * crops_per_image), seed=s_shuffle + 1)
    ds = ds.batch(batch_size, drop_remainder=training, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.map(_plain(lambda b: _to_element(b, task_index)), num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.with_options(_options(input_context)).prefetch(AUTOTUNE if prefetch is None else prefetch)


def _task_name(key: str) -> str:
    return get_task(key).name


def pattern_indices(pattern: str, tasks: Sequence[str]) -> list[int]:
    """Task indices of a cycle pattern of task letters (`"BBBHR"`), given the task order `tasks`."""
    names = [_task_name(t) for t in tasks]
    if not pattern:
        raise ValueError("cycle pattern is empty; expected task letters such as 'BBBHR'")
    out = []
    for letter in pattern:
        try:
            name = get_task(letter).name
        except KeyError:
            raise ValueError(f"cycle pattern {pattern!r}: unknown task letter {letter!r}; known: "
                             f"{known_tasks_text()}") from None
        if name not in names:
            raise ValueError(f"cycle pattern {pattern!r}: task {letter}={name} has no files; given tasks: "
                             f"{', '.join(names)}")
        out.append(names.index(name))
    unused = [n for i, n in enumerate(names) if i not in out]
    if unused:
        raise ValueError(f"cycle pattern {pattern!r} never schedules {', '.join(unused)}; expected every given "
                         "task in the pattern")
    return out


def schedule_dataset(pattern: str, tasks: Sequence[str], *, seed: int, repeat_each: int = 1) -> tf.data.Dataset:
    """Endless int64 task indices: the pattern's entries in a fresh seeded order for every cycle, each
    repeated `repeat_each` times (one per replica of an input pipeline)."""
    idx = tf.constant(pattern_indices(pattern, tasks), tf.int64)
    n = len(pattern)
    s = derive_seed(seed, "cycles")

    @_plain
    def cycle(c: tf.Tensor) -> tf.Tensor:
        keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(s, tf.int64), c]))
        return tf.repeat(tf.gather(idx, tf.argsort(keys)), repeat_each)

    return tf.data.Dataset.counter().map(cycle).unbatch()


def cycle_schedule(pattern: str, tasks: Sequence[str], *, seed: int, num_cycles: int) -> list[int]:
    """The first `num_cycles` cycles of `schedule_dataset` as a Python list (for logs and tests)."""
    ds = schedule_dataset(pattern, tasks, seed=seed).take(num_cycles * len(pattern))
    return [int(v) for v in ds.as_numpy_iterator()]


def multitask_dataset(files_by_task: Mapping[str, Sequence[str]], *, pattern: str = "BBBHR",
                      batch_sizes: Mapping[str, int], crop: int, seed: int,
                      input_context: tf.distribute.InputContext | None = None, crops_per_image: int = 1,
                      flip: bool = True, shuffle_buffer: int = 64, cycle_length: int = 4,
                      crop_align: Mapping[str, int] | None = None) -> tf.data.Dataset:
    """One single-task batch per element, tasks scheduled in shuffled cycles of `pattern`.

    Args:
        files_by_task: `{task name or letter: shard files}`; the key order defines the task indices
            (element `"task"` = index in `list(files_by_task)`); see `manifest.files_by_task`.
        pattern: task letters of one cycle, e.g. "BBBHR" (3 blur, 1 haze, 1 rain) or "BBBHRJ".
        batch_sizes: `{task name or letter: global batch size}`; per replica with `input_context`.
        crop, seed, crops_per_image, flip, shuffle_buffer, cycle_length: as in `task_dataset`.
        input_context: from `strategy.distribute_datasets_from_function`.
        crop_align: `{task name or letter: alignment}` of the crop offsets (default 1), see `task_dataset`.
    """
    names = [_task_name(k) for k in files_by_task]
    if len(set(names)) != len(names):
        raise ValueError(f"files_by_task names a task twice: {list(files_by_task)}")
    sizes = {_task_name(k): int(v) for k, v in batch_sizes.items()}
    missing = [n for n in names if n not in sizes]
    if missing:
        raise ValueError(f"batch_sizes has no entry for {', '.join(missing)}; expected one per task")
    pattern_indices(pattern, names)
    aligns = {_task_name(k): int(v) for k, v in (crop_align or {}).items()}
    if set(aligns) - set(names):
        raise ValueError(f"crop_align names {', '.join(sorted(set(aligns) - set(names)))}, which has no shards here")
    repeat_each = 1
    if input_context is not None:
        repeat_each = max(1, input_context.num_replicas_in_sync // input_context.num_input_pipelines)
    datasets = []
    for i, files in enumerate(files_by_task.values()):
        datasets.append(task_dataset(files, crop=crop, batch_size=sizes[names[i]], seed=derive_seed(seed, names[i]),
                                     training=True, input_context=input_context, task_index=i,
                                     crops_per_image=crops_per_image, flip=flip, shuffle_buffer=shuffle_buffer,
                                     cycle_length=cycle_length, name=names[i], prefetch=1,
                                     align=aligns.get(names[i], 1)))
    choice = schedule_dataset(pattern, names, seed=seed, repeat_each=repeat_each)
    ds = tf.data.Dataset.choose_from_datasets(datasets, choice)
    return ds.with_options(_options(input_context)).prefetch(AUTOTUNE)


def eval_dataset(files: Sequence[str]) -> tf.data.Dataset:
    """Whole images in file order, unbatched: `{"input", "target"}` float32 (H, W, 3) in [0, 1],
    `"task"` (task name) and `"source"` tf.string."""
    ds = record_dataset([str(f) for f in files], cycle_length=1)

    @_plain
    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        item = decode_record(serialized)
        return {"input": tf.cast(item["input"], tf.float32) / 255.0,
                "target": tf.cast(item["target"], tf.float32) / 255.0,
                "task": item["task"], "source": item["source"]}

    return ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)


def split_pairs(folder: str | os.PathLike, task: Task, split: str, *,
                limit: int | None = None) -> tuple[Iterator[Pair], int]:
    """Whole float pairs of `task`'s records of `split` in a converted folder (file order), and their count.

    Reading stops after `limit` pairs. A shard that turns out damaged while it is read raises a
    `ValueError` naming the folder and TensorFlow's description of the damage.
    """
    folder = os.fspath(folder)
    files = shard_files(folder, task, split)
    group = load_manifest(folder).groups.get(group_key(task.name, split))
    total = group.num_examples if group else 0
    if limit is not None:
        total = min(total, limit)

    def generate() -> Iterator[Pair]:
        try:
            examples = (e for e in eval_dataset(files) if e["task"].numpy().decode() == task.name)
            for index, example in enumerate(itertools.islice(examples, limit)):
                name = example["source"].numpy().decode() or f"{task.name}-{index}"
                yield Pair(example["input"].numpy(), example["target"].numpy(), name)
        except tf.errors.OpError as error:
            raise ValueError(f"{folder}: cannot read the {task.name} shards ({error.message.strip()})") from None

    return generate(), total
