"""The graph TFLite converts: one head (or the classifier) at aligned sizes, traced so that XNNPACK can run all of it.

Two rewrites are active while the head is traced; both give the same numbers as the Keras graph:

* Keras' TensorFlow backend runs a dilated convolution through `tf.nn.convolution`, which builds
  SpaceToBatchND → Conv2D → BatchToSpaceND. The TFLite converter folds that back into one dilated
  CONV_2D only when H and W are static; with dynamic H and W it keeps SHAPE, FLOOR_MOD, PACK and
  SPACE_TO_BATCH_ND ops that XNNPACK does not run (~5 delegate partitions). Dilated 2-D convolutions
  are sent to `tf.nn.conv2d` instead (one op with a `dilations` attribute).
* XNNPACK (ai-edge-litert 2.3) delegates CONCATENATION of at most 5 inputs. The slice-based reflect
  padding concatenates 2·pad + 1 pieces, so a pad of 3 or more (k1 = 7 or dilation 2 in the `small`
  and `paper` presets) is left outside. Wider concatenations are built as a tree of ≤ 5-input ones.

The TFLite models take H and W that are multiples of 4 and at least `min_input_size`; the caller
pads (`keras_durbm.restoration.tiling.pad_to_multiple`) and crops back. Padding inside the graph would need
data-dependent gathers or slices, which XNNPACK does not run either.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from export import signatures as sig
from export.signature_names import OUTPUT_PROBABILITIES
from keras_durbm.models.network import DuRBMNetwork, classifier_model, head_model

MAX_CONCAT_INPUTS = 5  # XNNPACK's CONCATENATION limit in ai-edge-litert 2.3


@contextlib.contextmanager
def xnnpack_friendly_tracing() -> Iterator[None]:
    """While active, dilated 2-D `tf.nn.convolution` calls become one `tf.nn.conv2d` op and `tf.concat`
    of more than 5 tensors becomes nested concatenations (see module doc)."""
    convolution, concat = tf.nn.convolution, tf.concat

    def direct_convolution(input, filters, strides=None, padding="VALID", data_format=None, dilations=None,
                           name=None):
        rate = np.ravel(dilations if dilations is not None else 1)
        if filters.shape.rank == 4 and (rate != 1).any():
            return tf.nn.conv2d(input, filters, strides if strides is not None else 1, padding,
                                data_format=data_format or "NHWC", dilations=dilations, name=name)
        return convolution(input, filters, strides, padding, data_format=data_format, dilations=dilations, name=name)

    def narrow_concat(values, axis, name="concat"):
        values = list(values) if isinstance(values, (list, tuple)) else values
        while isinstance(values, list) and len(values) > MAX_CONCAT_INPUTS:
            values = [concat(values[i:i + MAX_CONCAT_INPUTS], axis) if len(values[i:i + MAX_CONCAT_INPUTS]) > 1
                      else values[i] for i in range(0, len(values), MAX_CONCAT_INPUTS)]
        return concat(values, axis, name=name)

    tf.nn.convolution, tf.concat = direct_convolution, narrow_concat
    try:
        yield
    finally:
        tf.nn.convolution, tf.concat = convolution, concat


def write_aligned_head(model: DuRBMNetwork, head: str, path: str) -> str:
    """A SavedModel whose `serving_default` maps `image` (aligned H, W) to `restored`, for the converter."""
    return write_aligned(head_model(model, head), sig.OUTPUT_FLOAT, path)


def write_aligned_classifier(model: DuRBMNetwork, path: str) -> str:
    """The degradation classifier's converter input: `image` (aligned H, W) → `probabilities`."""
    return write_aligned(classifier_model(model), OUTPUT_PROBABILITIES, path)


def write_aligned(sub: keras.Model, output: str, path: str) -> str:
    """A SavedModel whose `serving_default` maps `image` (aligned H, W) to `{output: sub(image)}`."""
    archive = keras.export.ExportArchive()
    archive.track(sub)
    with xnnpack_friendly_tracing():
        archive.add_endpoint(sig.SERVING_DEFAULT, lambda image: {output: sub(image, training=False)},
                             input_signature=[sig.FLOAT_SPEC])
        archive.write_out(path, verbose=False)
    return path
