"""TFRecord framing without TensorFlow: count and locate the records of a shard, and catch broken files.

A TFRecord file is a sequence of `uint64 length | uint32 masked_crc32c(length) | data | uint32
masked_crc32c(data)` (little endian). `scan_shard` walks the headers only (one small read and one seek per
record), checks each length checksum and that every record fits in the file, so a truncated or foreign
file is caught before training starts, naming the shard. Payload checksums are left to TensorFlow's
reader, which checks them while reading.
"""

from __future__ import annotations

import os
import struct

from tfrecords_tools.errors import CorruptShardError


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _make_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), pure Python: meant for the 8-byte record headers."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _open(path: str):
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile.GFile(path, "rb"), tf.io.gfile.stat(path).length
    return open(path, "rb"), os.path.getsize(path)


def scan_shard(path: str | os.PathLike) -> list[tuple[int, int]]:
    """`(data_offset, data_length)` of every record in `path`; raises `CorruptShardError` naming the shard
    when it is missing, truncated, or not a TFRecord file."""
    path = os.fspath(path)
    if "://" not in path and not os.path.isfile(path):
        raise CorruptShardError(path, "shard file does not exist", "a TFRecord shard listed in manifest.json")
    f, size = _open(path)
    out: list[tuple[int, int]] = []
    pos = 0
    with f:
        while pos < size:
            if size - pos < 12:
                raise CorruptShardError(path, f"truncated: {size - pos} stray bytes after record {len(out)} "
                                        f"at byte {pos}", "a complete TFRecord file")
            f.seek(pos)
            header = f.read(12)
            (length,) = struct.unpack("<Q", header[:8])
            (crc,) = struct.unpack("<I", header[8:])
            if masked_crc32c(header[:8]) != crc:
                raise CorruptShardError(path, f"bad record header at byte {pos} (record {len(out)}): length "
                                        "checksum mismatch", "a TFRecord file")
            end = pos + 12 + length + 4
            if end > size:
                raise CorruptShardError(path, f"truncated: record {len(out)} at byte {pos} needs {length + 16} "
                                        f"bytes but the file ends at byte {size}", "a complete TFRecord file")
            out.append((pos + 12, length))
            pos = end
    return out


def read_record(path: str | os.PathLike, offset: int, length: int) -> bytes:
    """The payload of one record located by `scan_shard`."""
    f, _ = _open(os.fspath(path))
    with f:
        f.seek(offset)
        return f.read(length)
