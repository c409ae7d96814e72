"""Errors of converted data: folder layouts, manifests and shards (subclasses of `keras_durbm.errors.DataError`,
so every message names the file and says what was expected)."""

from __future__ import annotations

from keras_durbm.errors import DataError


class LayoutError(DataError):
    """A source folder whose tree does not match the layout of the chosen dataset kind."""


class ManifestError(DataError):
    """A missing, unreadable or conflicting `manifest.json` of a converted folder."""


class CorruptShardError(DataError):
    """A TFRecord shard whose framing is broken (truncated file, not a TFRecord, bad length checksum)."""
