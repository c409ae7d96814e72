"""The multi-head network: shared encoder, DuRB-M blocks stacked per topology, one decoder per task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from keras_durbm.config_tree import from_dict, to_dict
from keras_durbm.layers.serialization import serializable
from keras_durbm.model_config import SIZE_MULTIPLE, ModelConfig, min_input_size
from keras_durbm.models.decoder import apply_decoder
from keras_durbm.models.encoder import apply_encoder, make_block
from keras_durbm.models.input_contract import InputSizeCheck
from keras_durbm.topology import Topology, parse_topology

INPUT_NAME = "image"


@serializable
class DuRBMNetwork(keras.Model):
    """One input, one residual head per task (paper §4–5, Fig. 8).

    Input `image`: float32 NHWC RGB in [0, 1], any H and W that are multiples
    of 4 (≥ `min_input_size`). Output: a dict `{task_name: restored}` whose
    order follows the topology string. The config is part of the saved model,
    so a `.keras` file describes itself (topology, widths, kernels).

    Args:
        config: a `ModelConfig` (or its dict form, as stored in `.keras` files).

    Example:
        >>> model = DuRBMNetwork(model_preset("tiny", topology="R>B>H"))
        >>> model(np.zeros((1, 32, 32, 3), "float32"))["haze"].shape
        TensorShape([1, 32, 32, 3])
    """

    def __init__(self, config: ModelConfig | Mapping[str, Any], **kwargs):
        if isinstance(config, Mapping):
            config = from_dict(ModelConfig, config, prefix="model")
        topology = parse_topology(config.topology)

        # === Functional Model ===
        image = keras.Input((None, None, 3), name=INPUT_NAME)
        checked = InputSizeCheck(SIZE_MULTIPLE, min_input_size(config), name="input_size_check")(image)
        x, res = apply_encoder(checked, config)
        outputs = {}
        for depth, level in enumerate(topology.levels):
            if depth:
                block = make_block(config, config.kernels_of_extra_block(depth - 1), f"extra_durbm{depth}")
                x, res = block([x, res])
            for task in level:
                outputs[task.name] = apply_decoder(x, image, config.decoder_widths, task.name)
        kwargs.setdefault("name", "durbm_" + "".join(t.letter for t in topology.tasks).lower())
        super().__init__(inputs=image, outputs=outputs, **kwargs)

        # === Config ===
        self.config = config
        self.topology: Topology = topology

    @property
    def task_names(self) -> tuple[str, ...]:
        return self.topology.task_names

    def get_config(self):
        return {"config": to_dict(self.config), "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def build_durbm(config: ModelConfig) -> DuRBMNetwork:
    """Builds the network of `config` (weights freshly initialised)."""
    return DuRBMNetwork(config)


def head_model(model: DuRBMNetwork, task_name: str) -> keras.Model:
    """A single-output model of one head sharing `model`'s weights; only that head's path is in it.

    Training a batch of task T through `head_model(model, T)` runs and updates
    only the encoder, the blocks below T and T's decoder.
    """
    if task_name not in model.task_names:
        raise KeyError(f"unknown head {task_name!r}; this model has heads: {', '.join(model.task_names)}")
    return keras.Model(model.input, model.output[task_name], name=f"{model.name}_{task_name}")
