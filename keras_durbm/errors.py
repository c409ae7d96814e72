"""The project's error types. Every message names the file, folder or field and says what was expected.

`DataError` and its subclasses are bad input data (an image, a dataset folder, a shard); `UsageError`
is a command-line problem found before any work starts. CLIs print both without a traceback and exit
with status 2 (docs/reliability.md lists each command's exit codes).
"""

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
    """An image that cannot be used: unreadable, truncated, wrong mode or depth, too small, mismatched."""


class ImageTooLargeError(BadImageError):
    """An image whose header declares more pixels than the reader's limit (a decompression bomb, or an
    image too large to decode safely); refused before its pixels are decoded."""


class UsageError(Exception):
    """A problem with a command's arguments found before any work is done (exit status 2)."""
