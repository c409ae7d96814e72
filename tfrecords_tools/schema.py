"""The TFRecord schema: feature keys declared once, the schema version, and building/parsing records.

One record = one `tf.train.Example` holding an input/target pair:

| key | type | content |
|---|---|---|
| `input`, `target` | bytes | PNG of the uint8 RGB image (`encoding` "png"), or its raw (H, W, 3) bytes ("raw") |
| `task` | bytes | task name from `keras_durbm.config.tasks` (`motion_blur`, `haze`, `rain`, `jpeg`) |
| `source` | bytes | source file (relative to the converted folder) or identifier, e.g. `0001.png#q=10` |
| `height`, `width` | int64 | image size; input and target always have the same size |
| `encoding` | bytes | "png" or "raw" (missing: "png") |
| `meta` | bytes | JSON object with per-example facts (sampled synthesis parameters, JPEG quality...) |

TensorFlow is imported lazily so that `import tfrecords_tools.schema` stays light.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from keras_durbm.images.pixels import decode_png, encode_png

SCHEMA_VERSION = 1

INPUT = "input"
TARGET = "target"
TASK = "task"
SOURCE = "source"
HEIGHT = "height"
WIDTH = "width"
ENCODING = "encoding"
META = "meta"

PNG = "png"
RAW = "raw"
ENCODINGS = (PNG, RAW)


def feature_spec() -> dict:
    """`tf.io.parse_single_example` spec of a record."""
    import tensorflow as tf

    return {
        INPUT: tf.io.FixedLenFeature([], tf.string),
        TARGET: tf.io.FixedLenFeature([], tf.string),
        TASK: tf.io.FixedLenFeature([], tf.string),
        SOURCE: tf.io.FixedLenFeature([], tf.string),
        HEIGHT: tf.io.FixedLenFeature([], tf.int64),
        WIDTH: tf.io.FixedLenFeature([], tf.int64),
        ENCODING: tf.io.FixedLenFeature([], tf.string, default_value=PNG),
        META: tf.io.FixedLenFeature([], tf.string, default_value="{}"),
    }


def encode_image(image: np.ndarray, encoding: str, *, png_level: int = 1) -> bytes:
    """Bytes stored in `input`/`target` for a uint8 (H, W, 3) image."""
    if encoding == PNG:
        return encode_png(image, compress_level=png_level)
    if encoding == RAW:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 (H, W, 3) array, got {image.dtype} {image.shape}")
        return np.ascontiguousarray(image).tobytes()
    raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")


def make_example(input_image: np.ndarray, target_image: np.ndarray, *, task: str, source: str,
                 encoding: str = PNG, meta: dict[str, Any] | None = None, png_level: int = 1) -> bytes:
    """Serialises one input/target pair (uint8 (H, W, 3), same size) into a record."""
    import tensorflow as tf

    if input_image.shape != target_image.shape:
        raise ValueError(f"{source}: input {input_image.shape} and target {target_image.shape} differ in size")
    h, w = input_image.shape[:2]

    def _bytes(v: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def _int(v: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))

    features = {
        INPUT: _bytes(encode_image(input_image, encoding, png_level=png_level)),
        TARGET: _bytes(encode_image(target_image, encoding, png_level=png_level)),
        TASK: _bytes(task.encode("utf-8")),
        SOURCE: _bytes(source.encode("utf-8")),
        HEIGHT: _int(h),
        WIDTH: _int(w),
        ENCODING: _bytes(encoding.encode("ascii")),
        META: _bytes(json.dumps(meta or {}, sort_keys=True).encode("utf-8")),
    }
    # deterministic: protobuf map order otherwise varies between processes, and so would the shard bytes
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString(deterministic=True)


def decode_example(serialized: bytes) -> dict[str, Any]:
    """Python-side parse of a record into uint8 arrays and plain values (for `inspect` and tests)."""
    import tensorflow as tf

    ex = tf.train.Example.FromString(serialized)
    f = ex.features.feature

    def _b(key: str, default: bytes = b"") -> bytes:
        return f[key].bytes_list.value[0] if key in f and f[key].bytes_list.value else default

    h, w = int(f[HEIGHT].int64_list.value[0]), int(f[WIDTH].int64_list.value[0])
    encoding = _b(ENCODING, PNG.encode()).decode()

    def _img(data: bytes) -> np.ndarray:
        if encoding == RAW:
            return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)
        return decode_png(data)

    return {
        INPUT: _img(_b(INPUT)),
        TARGET: _img(_b(TARGET)),
        TASK: _b(TASK).decode(),
        SOURCE: _b(SOURCE).decode(),
        HEIGHT: h,
        WIDTH: w,
        ENCODING: encoding,
        META: json.loads(_b(META, b"{}").decode() or "{}"),
    }
