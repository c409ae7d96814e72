"""The network's configuration: `ModelConfig`, its named presets, and the input sizes it accepts.

A frozen dataclass (docs/design.md §1 says where each default comes from); presets are values of
`MODEL_PRESETS` and `config_tree.apply_overrides` changes their fields. Imports no Keras, so commands
can parse and check a config before TensorFlow starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from keras_durbm.config.engine import from_dict, replace_fields
from keras_durbm.config.tasks import CLEAN
from keras_durbm.config.topology import parse_topology

BlockKernels = tuple[int, int, int]  # (k1, k2, dilation of k1) of one DuRB-M

# The authors' public test code (DuRB_tv), docs/design.md §1.3.
PAPER_SHARED_KERNELS: tuple[BlockKernels, ...] = ((3, 3, 2), (5, 3, 1), (3, 5, 2), (5, 5, 1), (7, 5, 1))
PAPER_EXTRA_KERNELS: tuple[BlockKernels, ...] = ((7, 5, 2), (11, 5, 1), (11, 5, 1))


#: Version of the degradation classifier's image statistics (`keras_durbm.layers.degradation_classifier`):
#: 1 = absolute logs of means (until 2026-12), 2 = ratios between scales, soft minimum, streaks. A model
#: whose classifier reads another version keeps its heads; `--task auto` asks for a new classifier.
CLASSIFIER_STATISTICS = 2


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Every choice that shapes the network (docs/design.md §1).

    Args:
        topology: where each head sits, e.g. `"R>B>J>H"` (docs/design.md §1.6).
        stem_widths: widths of the encoder's three convs; the second is the
            width of `res`, the third the width C of `x`.
        shared_kernels: (k1, k2, dilation) of the encoder's DuRB-M blocks (5).
        extra_kernels: (k1, k2, dilation) of the blocks stacked by `>`; the
            last entry repeats if the topology stacks more.
        tvse_hidden / se_hidden: hidden widths of the TV-SE and classic SE MLPs.
        squeeze: squeeze of the blocks' base attention: `"both"`, `"gap"`,
            `"tv"`, `"none"` (Table 3 ablation).
        fusion: keep DuRB-M's branch (a) (Table 3 "Fusion").
        tv_beta: exponent β of the TV statistic (eq. 6).
        decoder_widths: widths after the decoder's two PixelShuffle stages.
        classifier: add the degradation classifier (softmax over the tasks and `clean`, read from
            the encoder's activations; docs/evaluate-restore.md "Blind restoration").
        classifier_hidden: width of its hidden layer.
        classifier_backprop: let its gradient flow into the encoder (off: restoration unchanged).
        classifier_statistics: version of the image statistics the classifier reads
            (`CLASSIFIER_STATISTICS`; files saved before versions were recorded read as 1).
    """

    topology: str = "R>B>J>H"
    stem_widths: tuple[int, int, int] = (32, 64, 96)
    shared_kernels: tuple[BlockKernels, ...] = PAPER_SHARED_KERNELS
    extra_kernels: tuple[BlockKernels, ...] = PAPER_EXTRA_KERNELS
    tvse_hidden: int = 64
    se_hidden: int = 96
    squeeze: str = "both"
    fusion: bool = True
    tv_beta: int = 3
    decoder_widths: tuple[int, int] = (64, 32)
    classifier: bool = False
    classifier_hidden: int = 64
    classifier_backprop: bool = False
    classifier_statistics: int = CLASSIFIER_STATISTICS

    @property
    def classes(self) -> tuple[str, ...]:
        """What the degradation classifier tells apart: the heads' tasks in topology order, then `clean`
        (empty without a classifier)."""
        return (*parse_topology(self.topology).task_names, CLEAN) if self.classifier else ()

    @property
    def channels(self) -> int:
        return self.stem_widths[2]

    @property
    def res_channels(self) -> int:
        return self.stem_widths[1]

    def kernels_of_extra_block(self, index: int) -> BlockKernels:
        """Kernels of the `index`-th stacked block (0-based); the list's last entry repeats."""
        return self.extra_kernels[min(index, len(self.extra_kernels) - 1)]

    def __post_init__(self):
        if self.squeeze not in ("both", "gap", "tv", "none"):
            raise ValueError(f"model.squeeze must be both, gap, tv or none, got {self.squeeze!r}")
        if len(self.shared_kernels) < 1 or len(self.extra_kernels) < 1:
            raise ValueError("model.shared_kernels and model.extra_kernels need at least one (k1, k2, dilation)")
        for field in ("shared_kernels", "extra_kernels"):
            for kernels in getattr(self, field):
                k1, k2, dilation = kernels
                if k1 % 2 == 0 or k2 % 2 == 0 or dilation < 1:
                    raise ValueError(f"model.{field}: kernels must be odd and dilation >= 1, got {kernels}")
        if not 1 <= self.classifier_statistics <= CLASSIFIER_STATISTICS:
            raise ValueError(f"model.classifier_statistics must be 1 … {CLASSIFIER_STATISTICS}, "
                             f"got {self.classifier_statistics}")


def stored_model_config(data, prefix: str = "model") -> ModelConfig:
    """The `ModelConfig` of a saved model's config dict; files written before the classifier's statistics
    had versions read as version 1."""
    if data.get("classifier") and "classifier_statistics" not in data:
        data = {**data, "classifier_statistics": 1}
    return from_dict(ModelConfig, data, prefix)


MODEL_PRESETS: dict[str, ModelConfig] = {
    # The paper's widths (C=96, res=64) and the authors' kernel list.
    "paper": ModelConfig(),
    # Fast enough to train usefully on 2 CPU cores (the embedded default).
    "small": ModelConfig(
        stem_widths=(16, 32, 32),
        shared_kernels=((3, 3, 2), (5, 3, 1), (3, 5, 2), (5, 5, 1), (7, 5, 1)),
        extra_kernels=((7, 5, 2), (7, 5, 1), (7, 5, 1)),
        tvse_hidden=16,
        se_hidden=16,
        decoder_widths=(24, 16),
    ),
    # The embedded default's network: `small` made lighter (1.33x faster per training step on two CPU
    # cores, docs/training.md), so that the demo's steps fit in a few minutes.
    "demo": ModelConfig(
        stem_widths=(12, 16, 24),
        shared_kernels=((3, 3, 2), (5, 3, 1), (3, 5, 2), (5, 5, 1), (7, 5, 1)),
        extra_kernels=((5, 3, 1),),
        tvse_hidden=16,
        se_hidden=16,
        decoder_widths=(16, 8),
    ),
    # For tests: tiny widths, same structure (68 encoder weight layers).
    "tiny": ModelConfig(
        stem_widths=(4, 8, 8),
        shared_kernels=((3, 3, 2), (5, 3, 1), (3, 5, 1), (3, 3, 1), (3, 3, 1)),
        extra_kernels=((3, 3, 2), (5, 3, 1)),
        tvse_hidden=4,
        se_hidden=4,
        decoder_widths=(8, 4),
    ),
}


def model_preset(name: str, **overrides: Any) -> ModelConfig:
    """Returns the named preset with `overrides` applied (field names of `ModelConfig`)."""
    if name not in MODEL_PRESETS:
        raise KeyError(f"unknown model preset {name!r}; known presets: {', '.join(MODEL_PRESETS)}")
    return replace_fields(MODEL_PRESETS[name], overrides, prefix="model")


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
