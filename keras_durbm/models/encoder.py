"""The shared encoder f: three convs, then five DuRB-M blocks — 68 weight layers (paper §4.3, Fig. 7)."""

from keras_durbm.config.model import ModelConfig
from keras_durbm.layers import DuRBM, ReflectConv2D


def make_block(config: ModelConfig, kernels: tuple[int, int, int], name: str) -> DuRBM:
    """One DuRB-M with the config's widths and the given (k1, k2, dilation)."""
    k1, k2, dilation = kernels
    return DuRBM(
        channels=config.channels,
        res_channels=config.res_channels,
        k1=k1,
        k2=k2,
        dilation=dilation,
        tvse_hidden=config.tvse_hidden,
        se_hidden=config.se_hidden,
        squeeze=config.squeeze,
        fusion=config.fusion,
        beta=config.tv_beta,
        name=name,
    )


def apply_encoder(image, config: ModelConfig):
    """conv → ReLU → conv(s2) → ReLU [= res] → conv(s2) → ReLU → DuRB-M × len(shared_kernels).

    Returns `(x, res, first)`: `x` at 1/4 resolution with C channels, `res` at 1/2, and `first`, the
    first ReLU (full resolution), which the degradation classifier reads (docs/evaluate-restore.md
    "Blind restoration" has the measurements behind that choice).
    """
    w1, w2, w3 = config.stem_widths
    first = ReflectConv2D(w1, 3, activation="relu", name="encoder_stem1")(image)
    res = ReflectConv2D(w2, 3, strides=2, activation="relu", name="encoder_stem2")(first)
    x = ReflectConv2D(w3, 3, strides=2, activation="relu", name="encoder_stem3")(res)
    for i, kernels in enumerate(config.shared_kernels, start=1):
        x, res = make_block(config, kernels, f"encoder_durbm{i}")([x, res])
    return x, res, first
