"""The network in Keras: encoder, decoder, multi-head builder, saving, cost and model card.

What needs no Keras lives beside this package, so commands can check a config before TensorFlow starts:
`keras_durbm.config.model` (the config and its presets) and `keras_durbm.config.topology` (where heads sit).
"""

from keras_durbm.config.model_file import MODEL_FILENAME, read_model_config, resolve_model_path
from keras_durbm.models.cost import count_parameters, count_weight_layers, multiply_adds_per_megapixel
from keras_durbm.models.network import (
    DEGRADATION,
    INPUT_NAME,
    DuRBMNetwork,
    build_durbm,
    classifier_model,
    head_model,
    routing_models,
)
from keras_durbm.models.saving import load_durbm, save_durbm

__all__ = [
    "DEGRADATION",
    "INPUT_NAME",
    "MODEL_FILENAME",
    "DuRBMNetwork",
    "build_durbm",
    "classifier_model",
    "count_parameters",
    "count_weight_layers",
    "head_model",
    "load_durbm",
    "multiply_adds_per_megapixel",
    "read_model_config",
    "resolve_model_path",
    "routing_models",
    "save_durbm",
]
