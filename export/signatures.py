"""Serving signatures of one head (or of the `auto` model): float32 of any size, uint8, and encoded image
bytes in → PNG out.

The network takes H and W that are multiples of 4 and at least `min_input_size` (docs/design.md §1.4). These
functions do what `keras_durbm.restoration.tiling.pad_to_multiple` does, inside the graph: reflect-pad the bottom
and right (repeating the reflection for images smaller than the pad, as `np.pad(mode="reflect")` does),
run the head, crop back. A served request therefore gives the same pixels as `keras_durbm.restore`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from export.signature_names import (
    INPUT_BYTES,
    INPUT_FLOAT,
    INPUT_UINT8,
    OUTPUT_BYTES,
    OUTPUT_CLASSES,
    OUTPUT_FLOAT,
    OUTPUT_PROBABILITIES,
    OUTPUT_TASK,
    OUTPUT_UINT8,
    SERVE_PNG,
    SERVE_UINT8,
    SERVING_DEFAULT,
)
from keras_durbm.config.model import SIZE_MULTIPLE

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


def pad_aligned(images: tf.Tensor, min_size: int) -> tf.Tensor:
    """Reflect-pads NHWC images at the bottom and right to the network's aligned size (`aligned_size`)."""
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    padded = tf.gather(images, reflect_indices(height, aligned_size(height, min_size)), axis=1)
    return tf.gather(padded, reflect_indices(width, aligned_size(width, min_size)), axis=2)


def restore_any_size(head: Head, images: tf.Tensor, min_size: int) -> tf.Tensor:
    """Runs `head` on float32 NHWC images of any H and W: reflect-pad bottom/right, run, crop back.

    The result is the head's raw output (residual + input, not clipped), like the Keras model's; a
    head returning a dict of images (the whole network) has each of them cropped.
    """
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    return tf.nest.map_structure(lambda y: y[:, :height, :width, :], head(pad_aligned(images, min_size)))


def graph_to_uint8(images: tf.Tensor) -> tf.Tensor:
    """Float [0, 1] → uint8 in the graph, as `keras_durbm.images.pixels.to_uint8` does: clip, ×255, round half to even.

    Done in float64 so the rounding agrees with NumPy's on every value.
    """
    scaled = tf.clip_by_value(tf.cast(images, tf.float64), 0.0, 1.0) * 255.0
    return tf.cast(tf.round(scaled), tf.uint8)


def graph_to_float(images: tf.Tensor) -> tf.Tensor:
    """uint8 → float32 in [0, 1] in the graph, the division of `keras_durbm.images.pixels.to_float`."""
    return tf.cast(images, tf.float32) / 255.0


def signature_functions(head: Head, min_size: int, extra_outputs: dict[str, tf.TensorSpec] | None = None,
                        ) -> dict[str, tuple[Callable, list[tf.TensorSpec]]]:
    """`{name: (fn, input_signature)}` of the three serving signatures of one head.

    * `serving_default`: `image` float32 NHWC in [0, 1], any H and W → `restored` float32 (unclipped).
    * `serve_uint8`: `image_u8` uint8 NHWC → `restored_u8` uint8 (clipped and rounded).
    * `serve_png`: `image_bytes` [N] encoded PNG/JPEG/BMP/GIF (any sizes, grey or RGB(A); alpha dropped)
      → `restored_bytes` [N] 8-bit RGB PNGs.

    With `extra_outputs` (name → per-image spec), `head` returns a dict: `restored` and those outputs
    (batched), which every signature passes through beside the image (the `auto` model's chosen task and
    probabilities).
    """
    extra_outputs = dict(extra_outputs or {})

    def run(images):
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        out = head(pad_aligned(images, min_size))
        extras = {k: v for k, v in out.items() if k != OUTPUT_FLOAT} if extra_outputs else {}
        restored = out[OUTPUT_FLOAT] if extra_outputs else out
        return restored[:, :height, :width, :], extras

    def serve_float(image):
        restored, extras = run(image)
        return {OUTPUT_FLOAT: restored, **extras}

    def serve_uint8(image_u8):
        restored, extras = run(graph_to_float(image_u8))
        return {OUTPUT_UINT8: graph_to_uint8(restored), **extras}

    def restore_one_png(data):
        pixels = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        restored, extras = run(graph_to_float(pixels)[None])
        return {OUTPUT_BYTES: tf.io.encode_png(graph_to_uint8(restored[0])), **{k: v[0] for k, v in extras.items()}}

    def serve_png(image_bytes):
        return tf.map_fn(restore_one_png, image_bytes,
                         fn_output_signature={OUTPUT_BYTES: tf.TensorSpec([], tf.string), **extra_outputs})

    return {
        SERVING_DEFAULT: (serve_float, [FLOAT_SPEC]),
        SERVE_UINT8: (serve_uint8, [UINT8_SPEC]),
        SERVE_PNG: (serve_png, [BYTES_SPEC]),
    }


def routed_head(trunk, tails: Sequence, classes: Sequence[str], threshold: float = 0.0) -> Head:
    """The `auto` model's head: per image, the trunk classifies, and `tf.switch_case` runs only the chosen
    tail (or returns the image itself for `clean`, the last class). Returns `restored` and the outputs of
    `routed_outputs(len(classes))`.

    Do no harm, as `keras_durbm.restoration.routing.route`: with `threshold` > 0 (the model's
    `routing_threshold`, baked in as a constant), an image whose top probability is below it takes the
    `clean` branch (comes back unchanged) and its `task` is `clean`; 0 leaves the graph as without it.
    """
    if len(classes) != len(tails) + 1:
        raise ValueError(f"{len(tails)} tails need {len(tails) + 1} classes (the heads, then clean), "
                         f"got {list(classes)}")
    names = tf.constant(list(classes))
    clean = len(tails)  # the identity branch

    def branch(tail, batch, x, res):
        return lambda: tail([batch, x, res], training=False)

    def choose(probabilities):
        index = tf.argmax(probabilities, output_type=tf.int32)
        if threshold <= 0:
            return index
        # compared in float64, as `route` compares the probability (a float32 value) with the Python float
        uncertain = tf.reduce_max(tf.cast(probabilities, tf.float64)) < tf.constant(float(threshold), tf.float64)
        return tf.where(uncertain, tf.constant(clean, tf.int32), index)

    def route_one(image):
        batch = image[None]
        x, res, probabilities = trunk(batch, training=False)
        index = choose(probabilities[0])
        branches = [branch(tail, batch, x, res) for tail in tails] + [lambda: batch]
        return tf.switch_case(index, branches)[0], probabilities[0], index

    def route(padded):
        restored, probabilities, index = tf.map_fn(route_one, padded, fn_output_signature=(
            tf.TensorSpec([None, None, 3], tf.float32), tf.TensorSpec([len(classes)], tf.float32),
            tf.TensorSpec([], tf.int32)))
        count = tf.shape(padded)[0]
        return {OUTPUT_FLOAT: restored, OUTPUT_TASK: tf.gather(names, index), OUTPUT_PROBABILITIES: probabilities,
                OUTPUT_CLASSES: tf.tile(names[None], [count, 1])}

    return route


def routed_outputs(classes: int) -> dict[str, tf.TensorSpec]:
    """Per-image specs of the `auto` model's extra outputs: chosen task, probabilities, their class names."""
    return {OUTPUT_TASK: tf.TensorSpec([], tf.string), OUTPUT_PROBABILITIES: tf.TensorSpec([classes], tf.float32),
            OUTPUT_CLASSES: tf.TensorSpec([classes], tf.string)}
