"""Exceptions for bad data. Every message names the file (or folder, or field) and says what was expected."""

from __future__ import annotations

import os


class DataError(ValueError):
    """Bad input data at `path`: `problem`, and what was `expected` instead."""

    def __init__(self, path: str | os.PathLike, problem: str, expected: str | None = None):
        self.path = os.fspath(path)
        self.problem = problem
        self.expected = expected
        text = f"{self.path}: {problem}"
        if expected:
            text += f"; expected {expected}"
        super().__init__(text)


class BadImageError(DataError):
    """A source image that cannot be used: unreadable, truncated, wrong mode or depth, too small, mismatched."""


class LayoutError(DataError):
    """A source folder whose tree does not match the layout of the chosen dataset kind."""


class ManifestError(DataError):
    """A missing, unreadable or conflicting `manifest.json` of a converted folder."""


class CorruptShardError(DataError):
    """A TFRecord shard whose framing is broken (truncated file, not a TFRecord, bad length checksum)."""
