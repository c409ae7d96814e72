"""DuRB-M: the dual residual block with TV-SE attention and a fused two-branch down path."""

import keras
from keras import ops

from keras_durbm.layers.pixel_shuffle import PixelShuffle
from keras_durbm.layers.reflect_conv import ReflectConv2D
from keras_durbm.layers.residual_attention_block import ResidualAttentionBlock
from keras_durbm.layers.serialization import serializable


@serializable
class DuRBM(keras.layers.Layer):
    """DuRB-M block, `(x, res) → (x', res')`, 13 weight layers (paper §4.2, Fig. 6).

    `x` has `channels` at 1/4 resolution, `res` has `res_channels` at 1/2:

    1. `b = TV-SE ResNet(x)` (4 weight layers);
    2. T1: 1×1 conv to 4·channels, PixelShuffle(2), k1×k1 conv (dilation) to
       `res_channels` → `u` (2);
    3. `u = ReLU(u + res)`; `res' = u`;
    4. T2: (a) ReLU(3×3 conv, stride 2) (1) and (b) classic SE ResNet(u) (4)
       → ReLU(k2×k2 conv, stride 2) (1);
    5. merge: 3×3 conv of concat(a, b) to `channels` (1);
    6. `x' = ReLU(merge + x)`.

    Args:
        channels: width of `x` (96 in the paper preset).
        res_channels: width of `res` (64).
        k1: kernel of the T1 conv; k2: kernel of branch (b)'s stride-2 conv.
        dilation: dilation of the k1 conv.
        tvse_hidden: hidden width of the TV-SE MLP (64); se_hidden: of the
            classic SE MLP in branch (b) (96).
        squeeze: squeeze of the block's base attention, `"both"` (TV-SE),
            `"gap"`, `"tv"` or `"none"` (the Table 3 ablation).
        fusion: `False` drops branch (a), so the merge conv sees branch (b)
            alone (12 weight layers; the "Fusion" ablation).
        beta: TV exponent (3).

    Reference:
        arXiv 1907.04508 §4.2; kernel sizes from the authors' `DuRB_tv`.
    """

    def __init__(
        self,
        channels: int = 96,
        res_channels: int = 64,
        k1: int = 3,
        k2: int = 3,
        dilation: int = 1,
        tvse_hidden: int = 64,
        se_hidden: int = 96,
        squeeze: str = "both",
        fusion: bool = True,
        beta: int = 3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.res_channels = int(res_channels)
        self.k1 = int(k1)
        self.k2 = int(k2)
        self.dilation = int(dilation)
        self.tvse_hidden = int(tvse_hidden)
        self.se_hidden = int(se_hidden)
        self.squeeze = squeeze
        self.fusion = bool(fusion)
        self.beta = int(beta)

        policy = self.dtype_policy
        self.base = ResidualAttentionBlock(self.tvse_hidden, squeeze, self.beta, name="tvse_resnet", dtype=policy)
        self.up_expand = keras.layers.Conv2D(4 * self.channels, 1, name="up_expand", dtype=policy)
        self.up_shuffle = PixelShuffle(2, name="up_shuffle", dtype=policy)
        self.up_conv = ReflectConv2D(self.res_channels, self.k1, dilation_rate=self.dilation, name="up_conv",
                                     dtype=policy)
        self.down_a = (
            ReflectConv2D(self.channels, 3, strides=2, activation="relu", name="down_a", dtype=policy)
            if self.fusion else None
        )
        self.se_resnet = ResidualAttentionBlock(self.se_hidden, "gap", self.beta, name="se_resnet", dtype=policy)
        self.down_b = ReflectConv2D(self.channels, self.k2, strides=2, activation="relu", name="down_b", dtype=policy)
        self.merge = ReflectConv2D(self.channels, 3, name="merge", dtype=policy)

    def build(self, input_shape):
        x_shape, res_shape = input_shape
        if x_shape[-1] is not None and x_shape[-1] != self.channels:
            raise ValueError(f"{self.name}: x must have {self.channels} channels, got {x_shape[-1]}")
        if res_shape[-1] is not None and res_shape[-1] != self.res_channels:
            raise ValueError(f"{self.name}: res must have {self.res_channels} channels, got {res_shape[-1]}")
        n = x_shape[0]
        self.base.build(x_shape)
        self.up_expand.build(x_shape)
        self.up_conv.build((n, None, None, self.channels))
        half = (n, None, None, self.res_channels)
        if self.down_a is not None:
            self.down_a.build(half)
        self.se_resnet.build(half)
        self.down_b.build(half)
        self.merge.build((n, None, None, self.channels * (2 if self.fusion else 1)))

    def call(self, inputs):
        x, res = inputs
        b = self.base(x)
        u = self.up_conv(self.up_shuffle(self.up_expand(b)))
        u = ops.relu(u + res)
        branch_b = self.down_b(self.se_resnet(u))
        fused = ops.concatenate([self.down_a(u), branch_b], axis=-1) if self.fusion else branch_b
        return ops.relu(self.merge(fused) + x), u

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "res_channels": self.res_channels,
            "k1": self.k1,
            "k2": self.k2,
            "dilation": self.dilation,
            "tvse_hidden": self.tvse_hidden,
            "se_hidden": self.se_hidden,
            "squeeze": self.squeeze,
            "fusion": self.fusion,
            "beta": self.beta,
        }
