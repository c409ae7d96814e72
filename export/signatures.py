"""Serving signatures of one head: float32 of any size, uint8, and encoded image bytes in → PNG out.

The network takes H and W that are multiples of 4 and at least `min_input_size` (docs/design.md §1.4). These
functions do what `keras_durbm.inference.pad_to_multiple` does, inside the graph: reflect-pad the bottom
and right (repeating the reflection for images smaller than the pad, as `np.pad(mode="reflect")` does),
run the head, crop back. A served request therefore gives the same pixels as `keras_durbm.restore`.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from export.signature_names import (
    INPUT_BYTES,
    INPUT_FLOAT,
    INPUT_UINT8,
    OUTPUT_BYTES,
    OUTPUT_FLOAT,
    OUTPUT_UINT8,
    SERVE_PNG,
    SERVE_UINT8,
    SERVING_DEFAULT,
)
from keras_durbm.model_config import SIZE_MULTIPLE

FLOAT_SPEC = tf.TensorSpec([None, None, None, 3], tf.float32, name=INPUT_FLOAT)
UINT8_SPEC = tf.TensorSpec([None, None, None, 3], tf.uint8, name=INPUT_UINT8)
BYTES_SPEC = tf.TensorSpec([None], tf.string, name=INPUT_BYTES)

Head = Callable[[tf.Tensor], tf.Tensor]  # float32 NHWC at aligned sizes → restored float32 NHWC


def reflect_indices(size: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Indices `0..target-1` into an axis of `size` pixels that extend it at the end by reflection.

    Equals `np.pad(np.arange(size), (0, target - size), mode="reflect")`: the edge pixel is not
    repeated, the reflection bounces back and forth (period 2·(size−1)) when the pad is longer than
    the axis, and a one-pixel axis is repeated.
    """
    period = tf.maximum(2 * (size - 1), 1)
    index = tf.math.floormod(tf.range(target), period)
    return tf.where(index < size, index, period - index)


def aligned_size(size: tf.Tensor, min_size: int) -> tf.Tensor:
    """Smallest multiple of 4 that is ≥ `size` and ≥ `min_size` (the network's input contract)."""
    size = tf.maximum(size, min_size)
    return (size + SIZE_MULTIPLE - 1) // SIZE_MULTIPLE * SIZE_MULTIPLE


def restore_any_size(head: Head, images: tf.Tensor, min_size: int) -> tf.Tensor:
    """Runs `head` on float32 NHWC images of any H and W: reflect-pad bottom/right, run, crop back.

    The result is the head's raw output (residual + input, not clipped), like the Keras model's; a
    head returning a dict of images (the whole network) has each of them cropped.
    """
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    padded = tf.gather(images, reflect_indices(height, aligned_size(height, min_size)), axis=1)
    padded = tf.gather(padded, reflect_indices(width, aligned_size(width, min_size)), axis=2)
    return tf.nest.map_structure(lambda y: y[:, :height, :width, :], head(padded))


def graph_to_uint8(images: tf.Tensor) -> tf.Tensor:
    """Float [0, 1] → uint8 in the graph, as `keras_durbm.pixels.to_uint8` does: clip, ×255, round half to even.

    Done in float64 so the rounding agrees with NumPy's on every value.
    """
    scaled = tf.clip_by_value(tf.cast(images, tf.float64), 0.0, 1.0) * 255.0
    return tf.cast(tf.round(scaled), tf.uint8)


def graph_to_float(images: tf.Tensor) -> tf.Tensor:
    """uint8 → float32 in [0, 1] in the graph, the division of `keras_durbm.pixels.to_float`."""
    return tf.cast(images, tf.float32) / 255.0


def signature_functions(head: Head, min_size: int) -> dict[str, tuple[Callable, list[tf.TensorSpec]]]:
    """`{name: (fn, input_signature)}` of the three serving signatures of one head.

    * `serving_default`: `image` float32 NHWC in [0, 1], any H and W → `restored` float32 (unclipped).
    * `serve_uint8`: `image_u8` uint8 NHWC → `restored_u8` uint8 (clipped and rounded).
    * `serve_png`: `image_bytes` [N] encoded PNG/JPEG/BMP/GIF (any sizes, grey or RGB(A); alpha dropped)
      → `restored_bytes` [N] 8-bit RGB PNGs.
    """

    def serve_float(image):
        return {OUTPUT_FLOAT: restore_any_size(head, image, min_size)}

    def serve_uint8(image_u8):
        return {OUTPUT_UINT8: graph_to_uint8(restore_any_size(head, graph_to_float(image_u8), min_size))}

    def restore_one_png(data):
        pixels = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        restored = restore_any_size(head, graph_to_float(pixels)[None], min_size)[0]
        return tf.io.encode_png(graph_to_uint8(restored))

    def serve_png(image_bytes):
        encoded = tf.map_fn(restore_one_png, image_bytes, fn_output_signature=tf.TensorSpec([], tf.string))
        return {OUTPUT_BYTES: encoded}

    return {
        SERVING_DEFAULT: (serve_float, [FLOAT_SPEC]),
        SERVE_UINT8: (serve_uint8, [UINT8_SPEC]),
        SERVE_PNG: (serve_png, [BYTES_SPEC]),
    }
