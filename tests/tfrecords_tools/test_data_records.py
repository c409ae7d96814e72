"""TFRecord framing read without TensorFlow, checked against files TensorFlow writes."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

from tfrecords_tools.errors import CorruptShardError
from tfrecords_tools.records import crc32c, read_record, scan_shard


def write_records(path, payloads):
    with tf.io.TFRecordWriter(str(path)) as w:
        for p in payloads:
            w.write(p)


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value
    assert crc32c(b"") == 0


def test_scan_finds_every_record_of_a_tensorflow_file(tmp_path):
    payloads = [os.urandom(n) for n in (0, 1, 100, 5000)]
    write_records(tmp_path / "a.tfrecord", payloads)
    located = scan_shard(tmp_path / "a.tfrecord")
    assert [n for _, n in located] == [len(p) for p in payloads]
    assert [read_record(tmp_path / "a.tfrecord", o, n) for o, n in located] == payloads


def test_truncated_garbage_and_missing_shards_are_named(tmp_path):
    write_records(tmp_path / "a.tfrecord", [b"x" * 1000, b"y" * 1000])
    data = (tmp_path / "a.tfrecord").read_bytes()
    (tmp_path / "cut.tfrecord").write_bytes(data[:-10])
    with pytest.raises(CorruptShardError, match=r"cut\.tfrecord: truncated: record 1 .* file ends at byte"):
        scan_shard(tmp_path / "cut.tfrecord")
    (tmp_path / "stray.tfrecord").write_bytes(data + b"\x00" * 5)
    with pytest.raises(CorruptShardError, match="5 stray bytes"):
        scan_shard(tmp_path / "stray.tfrecord")
    (tmp_path / "junk.tfrecord").write_bytes(b"PNG junk that is not a TFRecord file at all")
    with pytest.raises(CorruptShardError, match=r"junk\.tfrecord: bad record header at byte 0"):
        scan_shard(tmp_path / "junk.tfrecord")
    with pytest.raises(CorruptShardError, match="does not exist"):
        scan_shard(tmp_path / "nope.tfrecord")
