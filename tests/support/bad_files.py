"""Files that break readers on purpose: decompression bombs (a header declaring a huge image, a few bytes of
data), byte flips, and a process id that no longer runs."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(path, width: int = 20_000, height: int = 20_000) -> None:
    """An 8-bit RGB PNG whose header declares width x height pixels, with one tiny compressed row."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * min(width, 64)))
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))


def tiff16_bomb(path, width: int = 14_000, height: int = 14_000) -> None:
    """A little-endian 16-bit grayscale TIFF whose one strip is declared as a whole width x height image
    but holds a few bytes (tifffile reads the header; decoding would need width·height·2 bytes)."""
    entries = [  # (tag, type, count, value): SHORT = 3, LONG = 4
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 16), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, 0), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, width * height * 2),
    ]
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * len(entries) + 4
    body = bytearray(b"II*\x00" + struct.pack("<I", ifd_offset) + struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        value = data_offset if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        body += struct.pack("<HHI", tag, kind, count) + packed
    body += struct.pack("<I", 0) + b"\x00" * 64
    with open(path, "wb") as handle:
        handle.write(bytes(body))


def flip_byte(path, offset: int | None = None) -> int:
    """Inverts one byte of a file (the middle one by default); returns its offset."""
    with open(path, "rb") as handle:
        data = bytearray(handle.read())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0xFF
    with open(path, "wb") as handle:
        handle.write(bytes(data))
    return offset


def truncate(path, keep: float = 0.5) -> None:
    with open(path, "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(data[: int(len(data) * keep)])


def dead_pid() -> int:
    """The process id of a child that has already exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
