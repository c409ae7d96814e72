"""A task's decoder g: two PixelShuffle up-stages and an output conv — 5 weight layers (docs/design.md §1.5)."""

import keras

from keras_durbm.layers import PixelShuffle, ReflectConv2D


def apply_decoder(x, image, widths: tuple[int, int], task_name: str):
    """Predicts the compensating image and adds it to the input: `I = g(f(x)) + x` (paper eq. 5).

    Each up-stage is conv3×3 to 4·w → PixelShuffle(2) → conv3×3 to w → ReLU;
    then conv3×3 to 3 channels → tanh. The sum is not clipped (clip to [0, 1]
    only when writing or scoring images).
    """
    prefix = f"{task_name}_decoder"
    for stage, width in enumerate(widths, start=1):
        x = ReflectConv2D(4 * width, 3, name=f"{prefix}_up{stage}_expand")(x)
        x = PixelShuffle(2, name=f"{prefix}_up{stage}_shuffle")(x)
        x = ReflectConv2D(width, 3, activation="relu", name=f"{prefix}_up{stage}_conv")(x)
    residual = ReflectConv2D(3, 3, activation="tanh", name=f"{prefix}_out")(x)
    return keras.layers.Add(name=task_name)([residual, image])
