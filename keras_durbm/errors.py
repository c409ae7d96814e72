"""The project's error types. Every message names the file, folder or field and says what was expected.

`DataError` and its subclasses are bad input data (an image, a dataset folder, a shard); `UsageError`
is a command-line problem found before any work starts. CLIs print both without a traceback and exit
with status 2 (docs/reliability.md lists each command's exit codes).
"""

from __future__ import annotations

import os
import reprlib

#: At most this many characters of a value, a config or a text from the user are quoted in a message.
EXCERPT_CHARS = 120

_BOUNDED = reprlib.Repr()
_BOUNDED.maxlevel, _BOUNDED.maxlist, _BOUNDED.maxtuple, _BOUNDED.maxdict = 3, 6, 6, 6
_BOUNDED.maxstring, _BOUNDED.maxother, _BOUNDED.maxlong = EXCERPT_CHARS, EXCERPT_CHARS, 40


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A bounded `repr` of `value` for messages: nested containers and long strings are cut (with `...`)
    before they are formatted, so an error never costs memory or time proportional to hostile input."""
    text = _BOUNDED.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def text_excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` cut to `limit` characters (with `... (N characters)`), for quoting messages of other libraries."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


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
