"""PixelShuffle: rearranges channels into space (depth-to-space), the up-sampling of T1 and the decoder."""

import keras
from keras import ops

from keras_durbm.layers.serialization import serializable


@serializable
class PixelShuffle(keras.layers.Layer):
    """Depth-to-space up-sampling, NHWC (paper §4.2, T1; docs/design.md §1.3).

    Output channel c at offset (i, j) of each `scale`×`scale` block reads input
    channel `(i*scale + j)*C_out + c`, the TensorFlow/TFLite `DepthToSpace`
    order, which converts to one native op in TFLite and ONNX.

    Args:
        scale: up-sampling factor; input channels must be divisible by scale².

    Example:
        >>> PixelShuffle(2)(np.zeros((1, 4, 4, 12), "float32")).shape
        (1, 8, 8, 3)
    """

    def __init__(self, scale: int = 2, **kwargs):
        super().__init__(**kwargs)
        if scale < 1:
            raise ValueError(f"PixelShuffle scale must be >= 1, got {scale}")
        self.scale = scale

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is not None and channels % (self.scale**2):
            raise ValueError(
                f"{self.name}: input channels ({channels}) must be divisible by scale² ({self.scale**2})"
            )

    def call(self, inputs):
        return ops.depth_to_space(inputs, self.scale, data_format="channels_last")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        s = self.scale
        return (n, None if h is None else h * s, None if w is None else w * s, c // (s * s))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
