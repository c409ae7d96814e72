"""The spatial sizes the network accepts: H and W multiples of 4, at least a minimum size."""

import keras

from keras_durbm.config import ModelConfig
from keras_durbm.layers.serialization import serializable

SIZE_MULTIPLE = 4  # two stride-2 convs down, PixelShuffle(2) up


def min_input_size(config: ModelConfig) -> int:
    """Smallest H or W the reflect paddings allow (each pad must be smaller than its feature map).

    The up-path conv of each DuRB-M pads by `dilation·(k1−1)/2` at 1/2
    resolution; the 3×3 convs at 1/4 resolution pad by 1.
    """
    kernels = [*config.shared_kernels, *config.extra_kernels]
    largest_half_res_pad = max(dilation * (k1 - 1) // 2 for k1, _, dilation in kernels)
    largest_half_res_pad = max(largest_half_res_pad, max(k2 // 2 for _, k2, _ in kernels))
    need = max(2 * (largest_half_res_pad + 1), 4 * 2)
    return -(-need // SIZE_MULTIPLE) * SIZE_MULTIPLE


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
                    "pad the image first (keras_durbm.inference pads and crops back for you)"
                )
        if inputs.shape[-1] is not None and inputs.shape[-1] != 3:
            raise ValueError(f"the network expects RGB images with 3 channels, got shape {tuple(inputs.shape)}")
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple, "min_size": self.min_size}
