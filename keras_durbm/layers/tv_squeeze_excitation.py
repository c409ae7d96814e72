"""TV-SE channel attention: squeeze-and-excitation whose squeeze adds each channel's total variation."""

import keras
from keras import ops

from keras_durbm.layers.serialization import serializable

SQUEEZE_MODES = ("both", "gap", "tv")
#: The squeeze hands the excitation MLP `TV_SCALE`·TV, and its first Dense multiplies the TV rows of its
#: kernel by 1 / `TV_SCALE` (a power of two: exact), so the saved weights are those of eq. 6's TV.
#: Trained features' TV is ~1e-4–1e-2 against channel means of ~0.05–0.4 (the demo model), so unscaled
#: it would share the descriptor's int8 scale with values ~100× larger; scaled, the parts of the
#: descriptor are of one size for full-int8 TFLite (docs/export.md).
TV_SCALE = 64.0


def _abs_power(after, before, beta: int):
    """|after − before|**beta from two ReLUs, an addition and multiplications: |d| = relu(d) + relu(−d).

    Every op of it has an int8 kernel in XNNPACK (ABS, SQUARED_DIFFERENCE and POW have none, so a
    full-int8 TFLite model runs in one delegate partition), and the numbers are those of |d|·d² bit
    for bit: one of the ReLUs is exactly 0, and |d|·|d| = d·d.
    """
    a = ops.relu(after - before) + ops.relu(before - after)
    result = a
    for _ in range(beta - 1):
        result = result * a
    return result


def total_variation(x, beta: int = 3):
    """Per-channel total variation of NHWC `x` (paper eq. 6), shape (N, C).

    `mean |x[i+1,j]-x[i,j]|^β + mean |x[i,j+1]-x[i,j]|^β`, each mean taken over
    its own derivative map ((H-1)·W and H·(W-1) terms).
    """
    vertical, horizontal = total_variation_parts(x, beta)
    return vertical + horizontal


def total_variation_parts(x, beta: int = 3):
    """The vertical and the horizontal term of `total_variation`, each (N, C)."""
    vertical = _abs_power(x[:, 1:, :, :], x[:, :-1, :, :], beta)
    horizontal = _abs_power(x[:, :, 1:, :], x[:, :, :-1, :], beta)
    return ops.mean(vertical, axis=(1, 2)), ops.mean(horizontal, axis=(1, 2))


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
        """What the excitation MLP reads, float32 whatever the compute dtype (a mean over a whole image, and
        cubes of small differences, are what half precision loses): (N, C) channel means for `"gap"`;
        otherwise (the means, then) `TV_SCALE`× the vertical and `TV_SCALE`× the horizontal TV term,
        (N, 3C) for `"both"`, (N, 2C) for `"tv"`. `reduce_descriptor` turns that into the paper's
        Dense(concat(mean, TV)): summing the two TV terms is left to the Dense's matrix product, so a
        full-int8 model has no ADD of two tiny, differently scaled int8 tensors (which XNNPACK refuses)."""
        x = ops.cast(x, "float32")
        stats = []
        if self.squeeze in ("both", "gap"):
            stats.append(ops.mean(x, axis=(1, 2)))
        if self.squeeze in ("both", "tv"):
            stats += [part * TV_SCALE for part in total_variation_parts(x, self.beta)]
        return stats[0] if len(stats) == 1 else ops.concatenate(stats, axis=-1)

    def reduce_descriptor(self, statistics):
        """`reduce` (Dense + ReLU) of eq. 6's (mean, TV) from `squeeze_statistics`: the kernel's TV rows,
        divided by `TV_SCALE`, read the vertical and again the horizontal term. The saved kernel is that
        of the paper's descriptor, (2C or C, hidden)."""
        if self.squeeze == "gap":
            return self.reduce(statistics)
        kernel = ops.cast(self.reduce.kernel, self.compute_dtype)
        tv_rows = kernel[int(kernel.shape[0]) // 2:] if self.squeeze == "both" else kernel
        tv_rows = tv_rows * ops.cast(1.0 / TV_SCALE, self.compute_dtype)
        mean_rows = [kernel[:int(kernel.shape[0]) // 2]] if self.squeeze == "both" else []
        outputs = ops.matmul(statistics, ops.concatenate([*mean_rows, tv_rows, tv_rows], axis=0))
        if self.reduce.use_bias:
            outputs = outputs + ops.cast(self.reduce.bias, self.compute_dtype)
        return self.reduce.activation(outputs)

    def call(self, inputs):
        statistics = ops.cast(self.squeeze_statistics(inputs), self.compute_dtype)
        weights = self.expand(self.reduce_descriptor(statistics))
        return inputs * ops.cast(weights, inputs.dtype)[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "squeeze": self.squeeze, "beta": self.beta}
