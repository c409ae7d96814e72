"""The network: encoder, decoder, multi-head builder and topology parsing."""

from keras_durbm.models.cost import count_parameters, count_weight_layers, multiply_adds_per_megapixel
from keras_durbm.models.input_contract import SIZE_MULTIPLE, min_input_size
from keras_durbm.models.network import INPUT_NAME, DuRBMNetwork, build_durbm, head_model
from keras_durbm.models.saving import MODEL_FILENAME, load_durbm, resolve_model_path, save_durbm
from keras_durbm.models.topology import TABLE2_DESIGNS, Topology, parse_topology

__all__ = [
    "INPUT_NAME",
    "MODEL_FILENAME",
    "SIZE_MULTIPLE",
    "TABLE2_DESIGNS",
    "DuRBMNetwork",
    "Topology",
    "build_durbm",
    "count_parameters",
    "count_weight_layers",
    "head_model",
    "load_durbm",
    "min_input_size",
    "multiply_adds_per_megapixel",
    "parse_topology",
    "resolve_model_path",
    "save_durbm",
]
