"""The network in Keras: encoder, decoder, multi-head builder, saving, cost and model card.

What needs no Keras lives beside this package, so commands can check a config before TensorFlow starts:
`keras_durbm.model_config` (the config and its presets) and `keras_durbm.topology` (where heads sit).
"""

from keras_durbm.models.cost import count_parameters, count_weight_layers, multiply_adds_per_megapixel
from keras_durbm.models.network import INPUT_NAME, DuRBMNetwork, build_durbm, head_model
from keras_durbm.models.saving import MODEL_FILENAME, load_durbm, resolve_model_path, save_durbm

__all__ = [
    "INPUT_NAME",
    "MODEL_FILENAME",
    "DuRBMNetwork",
    "build_durbm",
    "count_parameters",
    "count_weight_layers",
    "head_model",
    "load_durbm",
    "multiply_adds_per_megapixel",
    "resolve_model_path",
    "save_durbm",
]
