"""The multi-head network: shared encoder, DuRB-M blocks stacked per topology, one decoder per task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from keras_durbm.config.engine import to_dict
from keras_durbm.config.model import SIZE_MULTIPLE, ModelConfig, min_input_size, stored_model_config
from keras_durbm.config.topology import Topology, parse_topology
from keras_durbm.layers.degradation_classifier import DegradationClassifier
from keras_durbm.layers.serialization import serializable
from keras_durbm.models.decoder import apply_decoder
from keras_durbm.models.encoder import apply_encoder, make_block
from keras_durbm.models.input_contract import InputSizeCheck

INPUT_NAME = "image"
#: Output of the degradation classifier (when `config.classifier`): probabilities of `model.classes`.
DEGRADATION = "degradation"


@serializable
class DuRBMNetwork(keras.Model):
    """One input, one residual head per task (paper §4–5, Fig. 8).

    Input `image`: float32 NHWC RGB in [0, 1], any H and W that are multiples
    of 4 (≥ `min_input_size`). Output: a dict `{task_name: restored}` whose
    order follows the topology string and, with `config.classifier`, the
    `degradation` probabilities over `classes` (the tasks, then `clean`).
    The config is part of the saved model, so a `.keras` file describes itself
    (topology, widths, kernels).

    Args:
        config: a `ModelConfig` (or its dict form, as stored in `.keras` files).
        routing_threshold: the do-no-harm threshold of blind restoration (saved with the model; files
            written before it have none: 0).

    Example:
        >>> model = DuRBMNetwork(model_preset("tiny", topology="R>B>H"))
        >>> model(np.zeros((1, 32, 32, 3), "float32"))["haze"].shape
        TensorShape([1, 32, 32, 3])
    """

    def __init__(self, config: ModelConfig | Mapping[str, Any], routing_threshold: float = 0.0, **kwargs):
        if isinstance(config, Mapping):
            config = stored_model_config(config)
        topology = parse_topology(config.topology)

        # === Functional Model ===
        image = keras.Input((None, None, 3), name=INPUT_NAME)
        checked = InputSizeCheck(SIZE_MULTIPLE, min_input_size(config), name="input_size_check")(image)
        x, res, first = apply_encoder(checked, config)
        outputs = {}
        for depth, level in enumerate(topology.levels):
            if depth:
                block = make_block(config, config.kernels_of_extra_block(depth - 1), f"extra_durbm{depth}")
                x, res = block([x, res])
            for task in level:
                outputs[task.name] = apply_decoder(x, image, config.decoder_widths, task.name)
        if config.classifier:
            outputs[DEGRADATION] = DegradationClassifier(
                len(config.classes), config.classifier_hidden, config.classifier_backprop,
                statistics=config.classifier_statistics, name="degradation_classifier")([checked, first])
        kwargs.setdefault("name", "durbm_" + "".join(t.letter for t in topology.tasks).lower())
        super().__init__(inputs=image, outputs=outputs, **kwargs)

        # === Config ===
        self.config = config
        self.topology: Topology = topology
        #: Do no harm: blind restoration leaves an image unchanged when the classifier's top probability is
        #: below this (calibrated at the end of training, `training.routing_threshold`; 0: always route).
        self.routing_threshold = float(routing_threshold)

    @property
    def task_names(self) -> tuple[str, ...]:
        return self.topology.task_names

    @property
    def classes(self) -> tuple[str, ...]:
        """What the degradation classifier tells apart: the heads' tasks, then `clean` (empty without one)."""
        return self.config.classes

    def get_config(self):
        return {"config": to_dict(self.config), "routing_threshold": self.routing_threshold, "name": self.name,
                "trainable": self.trainable}

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


def classifier_model(model: DuRBMNetwork) -> keras.Model:
    """`image` → degradation probabilities, sharing `model`'s weights: the encoder and the classifier only."""
    if not model.config.classifier:
        raise KeyError("this model has no degradation classifier; add one with python -m keras_durbm.train "
                       f"--experiment router --set init.model=<the model> (its heads: {', '.join(model.task_names)})")
    return keras.Model(model.input, model.output[DEGRADATION], name=f"{model.name}_classifier")


def routing_models(model: DuRBMNetwork) -> tuple[keras.Model, dict[str, keras.Model]]:
    """The network cut for blind restoration, sharing `model`'s weights: a `trunk`, `image` → (x, res,
    degradation probabilities), that runs the encoder and the classifier once; and per head a `tail`,
    (image, x, res) → restored, that runs the rest of that head's path only. Trunk then one tail costs
    one head plus the classifier (export's `auto` model branches between the tails)."""
    classifier_model(model)  # the KeyError with the router hint when there is none
    x, res = model.get_layer(f"encoder_durbm{len(model.config.shared_kernels)}").output
    trunk = keras.Model(model.input, [x, res, model.output[DEGRADATION]], name=f"{model.name}_trunk")
    tails = {name: keras.Model([model.input, x, res], model.output[name], name=f"{model.name}_{name}_tail")
             for name in model.task_names}
    return trunk, tails
