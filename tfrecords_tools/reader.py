"""Reading shards into a stream of serialized records, failing loudly and by name on broken shards.

TensorFlow's own error for a damaged TFRecord file ("DataLossError: truncated record at 4064") does not
say which file. Here every shard is (1) scanned when the dataset is built (`records.scan_shard`: headers
only) and compared with `manifest.json` when one sits beside it, raising `tf.errors.DataLossError` naming
the shard; and (2) counted while it is read: a read error (bad payload checksum, a file truncated after
the dataset was built) ends that file early, and the count check then fails with an
`InvalidArgumentError` whose message names the shard and how many records were read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import tensorflow as tf

from tfrecords_tools.errors import CorruptShardError, ManifestError
from tfrecords_tools.manifest import Shard, load_manifest, manifest_path
from tfrecords_tools.records import scan_shard


def _manifest_entries(folder: str) -> dict[str, Shard]:
    """The shards `manifest.json` beside them lists ({} when there is none or it cannot be read)."""
    if "://" in folder or not os.path.isfile(manifest_path(folder)):
        return {}
    try:
        return load_manifest(folder).shard_entries()
    except ManifestError:
        return {}


def check_shards(files: Sequence[str]) -> list[int]:
    """Record counts of `files`; raises `tf.errors.DataLossError` naming the first broken shard (missing,
    truncated, not a TFRecord file, or disagreeing with the count/size in its `manifest.json`)."""
    if not files:
        raise ValueError("no shard files given; expected at least one TFRecord shard")
    counts = []
    cache: dict[str, dict[str, Shard]] = {}
    for path in files:
        path = os.fspath(path)
        try:
            n = len(scan_shard(path))
        except CorruptShardError as e:
            raise tf.errors.DataLossError(None, None, f"DataLossError: {e}") from e
        folder, name = os.path.split(path)
        entry = cache.setdefault(folder, _manifest_entries(folder)).get(name)
        if entry is not None:
            size = os.path.getsize(path)
            if n != entry.num_examples or size != entry.num_bytes:
                raise tf.errors.DataLossError(None, None, f"DataLossError: {path}: holds {n} records in {size} "
                                              f"bytes but manifest.json lists {entry.num_examples} records "
                                              f"in {entry.num_bytes} bytes; expected the shard as written "
                                              "(reconvert: the convert command rebuilds damaged shards)")
        counts.append(n)
    return counts


# The dataset functions below have no Python control flow on tensors: skipping AutoGraph conversion makes
# building a pipeline several times faster.
_plain = tf.autograph.experimental.do_not_convert


@_plain
def _checked_records(path: tf.Tensor, expected: tf.Tensor) -> tf.data.Dataset:
    records = tf.data.TFRecordDataset(path).ignore_errors()
    flagged = tf.data.Dataset.zip(records, tf.data.Dataset.from_tensors(False).repeat()).concatenate(
        tf.data.Dataset.from_tensors((tf.constant(b""), True)))

    @_plain
    def count(n, item):
        rec, end = item
        ok = tf.logical_or(tf.logical_not(end), tf.equal(n, expected))
        check = tf.debugging.Assert(ok, ["DataLossError: TFRecord shard", path, "is truncated or corrupt: read",
                                         n, "records of", expected, "before a read error"])
        with tf.control_dependencies([check]):
            return n + tf.cast(tf.logical_not(end), tf.int64), (tf.identity(rec), end)

    return (flagged.scan(tf.constant(0, tf.int64), count)
            .filter(_plain(lambda rec, end: tf.logical_not(end)))
            .map(_plain(lambda rec, end: rec)))


def record_dataset(files: Sequence[str], *, shuffle_files: bool = False, seed: int = 0, repeat: bool = False,
                   cycle_length: int = 4) -> tf.data.Dataset:
    """Serialized records of `files`, interleaved `cycle_length` files at a time (deterministically),
    optionally shuffling the file order each epoch and repeating forever."""
    files = [os.fspath(f) for f in files]
    counts = check_shards(files)
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(files), tf.constant(counts, tf.int64)))
    if shuffle_files and len(files) > 1:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    cycle = max(1, min(cycle_length, len(files)))
    if cycle == 1:
        return ds.flat_map(_checked_records)
    return ds.interleave(_checked_records, cycle_length=cycle, block_length=1,
                         num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
