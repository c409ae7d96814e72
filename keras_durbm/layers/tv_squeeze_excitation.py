"""TV-SE channel attention: squeeze-and-excitation whose squeeze adds each channel's total variation."""

import keras
from keras import ops

from keras_durbm.layers.serialization import serializable

SQUEEZE_MODES = ("both", "gap", "tv")


def _power(d, beta: int):
    """|d|**beta with multiplications only, so a full-int8 TFLite model quantizes it (no POW op)."""
    a = ops.abs(d)
    if beta == 1:
        return a
    if beta == 2:
        return ops.square(d)
    if beta == 3:
        return a * ops.square(d)
    return ops.power(a, float(beta))


def total_variation(x, beta: int = 3):
    """Per-channel total variation of NHWC `x` (paper eq. 6), shape (N, C).

    `mean |x[i+1,j]-x[i,j]|^β + mean |x[i,j+1]-x[i,j]|^β`, each mean taken over
    its own derivative map ((H-1)·W and H·(W-1) terms).
    """
    dv = x[:, 1:, :, :] - x[:, :-1, :, :]
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    return ops.mean(_power(dv, beta), axis=(1, 2)) + ops.mean(_power(dh, beta), axis=(1, 2))


@serializable
class TVSqueezeExcitation(keras.layers.Layer):
    """Channel attention with a GAP and/or total-variation squeeze (paper §4.1, eq. 6).

    squeeze → Dense(hidden, ReLU) → Dense(C, sigmoid) → channel-wise scale of the
    input. With `squeeze="gap"` this is classic squeeze-and-excitation; `"tv"`
    and `"both"` are the other rows of the paper's Table 3 ablation.

    Args:
        hidden: width of the hidden Dense layer (64 in the authors' code for
            TV-SE, 96 for plain SE; a width, not a ratio).
        squeeze: `"both"` (concat of mean and TV, 2C), `"gap"` or `"tv"`.
        beta: exponent of the TV statistic (3 in the paper).

    Example:
        >>> y = TVSqueezeExcitation(hidden=8)(np.random.rand(2, 16, 16, 4).astype("float32"))

    Reference:
        Liu, Suganuma, Okatani, "Joint Learning of Multiple Image Restoration
        Tasks", arXiv 1907.04508, §4.1.
    """

    def __init__(self, hidden: int = 64, squeeze: str = "both", beta: int = 3, **kwargs):
        super().__init__(**kwargs)
        if squeeze not in SQUEEZE_MODES:
            raise ValueError(f"squeeze must be one of {SQUEEZE_MODES}, got {squeeze!r}")
        if int(beta) != beta or beta < 1:
            raise ValueError(f"beta must be a positive integer, got {beta!r}")
        self.hidden = int(hidden)
        self.squeeze = squeeze
        self.beta = int(beta)
        self.reduce = keras.layers.Dense(self.hidden, activation="relu", name="reduce", dtype=self.dtype_policy)
        self.expand = None

    def build(self, input_shape):
        channels = input_shape[-1]
        squeezed = 2 * channels if self.squeeze == "both" else channels
        self.reduce.build((input_shape[0], squeezed))
        self.expand = keras.layers.Dense(channels, activation="sigmoid", name="expand", dtype=self.dtype_policy)
        self.expand.build((input_shape[0], self.hidden))

    def squeeze_statistics(self, x):
        """The (N, C) or (N, 2C) descriptor fed to the excitation MLP, in float32 whatever the compute
        dtype (a mean over a whole image, and cubes of small differences, are what half precision loses)."""
        x = ops.cast(x, "float32")
        stats = []
        if self.squeeze in ("both", "gap"):
            stats.append(ops.mean(x, axis=(1, 2)))
        if self.squeeze in ("both", "tv"):
            stats.append(total_variation(x, self.beta))
        return stats[0] if len(stats) == 1 else ops.concatenate(stats, axis=-1)

    def call(self, inputs):
        statistics = ops.cast(self.squeeze_statistics(inputs), self.compute_dtype)
        weights = self.expand(self.reduce(statistics))
        return inputs * ops.cast(weights, inputs.dtype)[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "squeeze": self.squeeze, "beta": self.beta}
