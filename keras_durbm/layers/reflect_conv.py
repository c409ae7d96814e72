"""A convolution preceded by slice-based reflect padding (the authors' `ConvLayer`)."""

import keras

from keras_durbm.layers.reflect_pad import ReflectPad2D
from keras_durbm.layers.serialization import serializable


@serializable
class ReflectConv2D(keras.layers.Layer):
    """Conv2D whose "same" padding reflects the border instead of adding zeros.

    Pads by `dilation·(kernel−1)/2` with `ReflectPad2D`, then runs a valid
    convolution, so for even H and W a stride-2 conv halves the size exactly.
    One weight layer.

    Args:
        filters, kernel_size, strides, dilation_rate, activation, use_bias:
            as in `keras.layers.Conv2D` (kernel size must be odd).
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int = 3,
        strides: int = 1,
        dilation_rate: int = 1,
        activation=None,
        use_bias: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kernel_size % 2 == 0:
            raise ValueError(f"{self.name}: kernel_size must be odd, got {kernel_size}")
        if strides > 1 and dilation_rate > 1:
            raise ValueError(f"{self.name}: strides and dilation_rate cannot both exceed 1")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.dilation_rate = int(dilation_rate)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.pad = ReflectPad2D(self.dilation_rate * (self.kernel_size - 1) // 2, name="pad", dtype=self.dtype_policy)
        self.conv = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            dilation_rate=self.dilation_rate,
            padding="valid",
            activation=activation,
            use_bias=self.use_bias,
            name="conv",
            dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        self.conv.build(self.pad.compute_output_shape(input_shape))

    def call(self, inputs):
        return self.conv(self.pad(inputs))

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(self.pad.compute_output_shape(input_shape))

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "dilation_rate": self.dilation_rate,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
        }
