"""Reflect padding written as slices + concat so TFLite's XNNPACK runs it (docs/design.md §4)."""

import keras
from keras import ops

from keras_durbm.layers.serialization import serializable


def reflect_pad_axis(x, pad: int, axis: int):
    """Pads `x` by `pad` on both sides of `axis`, reflecting without repeating the edge.

    Equals `np.pad(mode="reflect")`. Built from strided slices and one concat
    (no MIRROR_PAD op), with the mirrored rows taken one at a time so the graph
    only uses ops that XNNPACK delegates.
    """
    if pad == 0:
        return x
    size = x.shape[axis]
    if size is not None and pad >= size:
        raise ValueError(
            f"reflect padding of {pad} needs more than {pad} pixels along axis {axis}, got {size}; "
            "the image is too small for this model's kernels"
        )

    def take(i):
        index = [slice(None)] * len(x.shape)
        index[axis] = slice(i, i + 1)  # i is never -1, so i + 1 is never 0
        return x[tuple(index)]

    before = [take(i) for i in range(pad, 0, -1)]
    after = [take(-1 - i) for i in range(1, pad + 1)]
    return ops.concatenate([*before, x, *after], axis=axis)


@serializable
class ReflectPad2D(keras.layers.Layer):
    """Symmetric reflect padding of H and W of an NHWC tensor (`np.pad(mode="reflect")`).

    `tf.pad(mode="REFLECT")` becomes TFLite MIRROR_PAD, which XNNPACK does not
    run: the graph splits into several partitions and runs about 2× slower.
    This layer produces the same values from slices and a concat.

    Args:
        padding: pixels added on each side of H and W (int, or (pad_h, pad_w)).
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = (padding, padding)
        self.padding = tuple(int(p) for p in padding)
        if len(self.padding) != 2 or min(self.padding) < 0:
            raise ValueError(f"padding must be one or two non-negative ints, got {padding}")

    def call(self, inputs):
        x = reflect_pad_axis(inputs, self.padding[0], axis=1)
        return reflect_pad_axis(x, self.padding[1], axis=2)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        ph, pw = self.padding
        return (n, None if h is None else h + 2 * ph, None if w is None else w + 2 * pw, c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
