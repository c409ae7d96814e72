"""The layer that enforces the input sizes of `model_config.min_input_size` inside the network."""

import keras

from keras_durbm.config.model import SIZE_MULTIPLE
from keras_durbm.layers.serialization import serializable


@serializable
class InputSizeCheck(keras.layers.Layer):
    """Identity that rejects images whose H or W the network cannot process, with a clear message.

    Checked whenever the spatial size is known when the graph is built (eager
    calls, `predict`, and each traced shape). Padding arbitrary sizes belongs to
    the inference wrapper, which reflect-pads and crops back.
    """

    def __init__(self, multiple: int = SIZE_MULTIPLE, min_size: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)
        self.min_size = int(min_size)

    def call(self, inputs):
        for axis, label in ((1, "height"), (2, "width")):
            size = inputs.shape[axis]
            if size is None:
                continue
            if size % self.multiple or size < self.min_size:
                raise ValueError(
                    f"image {label} is {size}, but the network needs a multiple of {self.multiple} "
                    f"that is at least {self.min_size} (input shape {tuple(inputs.shape)}); "
                    "pad the image first (keras_durbm.restoration.tiling pads and crops back for you)"
                )
        if inputs.shape[-1] is not None and inputs.shape[-1] != 3:
            raise ValueError(f"the network expects RGB images with 3 channels, got shape {tuple(inputs.shape)}")
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple, "min_size": self.min_size}
