"""The SE-ResNet module: conv3×3 → ReLU → conv3×3 → attention → + input → ReLU (docs/design.md §1.2)."""

import keras
from keras import ops

from keras_durbm.layers.serialization import serializable
from keras_durbm.layers.tv_squeeze_excitation import TVSqueezeExcitation


@serializable
class ResidualAttentionBlock(keras.layers.Layer):
    """Residual module with channel attention: 4 weight layers (2 convs, 2 dense).

    The convs are bias-free with zero padding, as in the authors' code. With
    `squeeze="gap"` the attention is classic SE (the module inside DuRB-M's
    second branch); with `"both"` it is the TV-SE module at the block's base.

    Args:
        hidden: hidden width of the attention MLP.
        squeeze: `"both"`, `"gap"` or `"tv"` (see `TVSqueezeExcitation`), or
            `"none"`: no attention (2 weight layers; the first row of Table 3).
        beta: TV exponent.

    Reference:
        arXiv 1907.04508, §4.2 and Fig. 5.
    """

    def __init__(self, hidden: int = 64, squeeze: str = "both", beta: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.hidden = int(hidden)
        self.squeeze = squeeze
        self.beta = int(beta)
        self.conv1 = None
        self.conv2 = None
        self.attention = (
            None if squeeze == "none"
            else TVSqueezeExcitation(self.hidden, squeeze, self.beta, name="attention", dtype=self.dtype_policy)
        )

    def build(self, input_shape):
        channels = input_shape[-1]
        conv = dict(kernel_size=3, padding="same", use_bias=False, dtype=self.dtype_policy)
        self.conv1 = keras.layers.Conv2D(channels, name="conv1", **conv)
        self.conv2 = keras.layers.Conv2D(channels, name="conv2", **conv)
        self.conv1.build(input_shape)
        self.conv2.build(input_shape)
        if self.attention is not None:
            self.attention.build(input_shape)

    def call(self, inputs):
        y = self.conv2(ops.relu(self.conv1(inputs)))
        if self.attention is not None:
            y = self.attention(y)
        return ops.relu(y + inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "squeeze": self.squeeze, "beta": self.beta}
