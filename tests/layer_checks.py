"""One shared check for every layer: config and serialization round-trips, symbolic vs eager, `.keras` reload."""

import keras
import numpy as np


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def run_layer_test(layer, inputs, tmp_path, expected_weight_layers=None):
    """Checks `layer` the way every project layer must behave; returns its eager output."""
    from keras_durbm.models.cost import count_weight_layers

    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config

    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is type(layer) and revived.get_config() == config

    eager = layer(inputs)
    symbolic_inputs = [keras.Input(np.shape(x)[1:], batch_size=np.shape(x)[0]) for x in _as_list(inputs)]
    if not isinstance(inputs, (list, tuple)):
        symbolic_inputs = symbolic_inputs[0]
    symbolic = layer(symbolic_inputs)
    for e, s in zip(_as_list(eager), _as_list(symbolic)):
        assert tuple(e.shape) == tuple(s.shape)

    model = keras.Model(symbolic_inputs, symbolic)
    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    for a, b in zip(_as_list(model(inputs)), _as_list(reloaded(inputs))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    if expected_weight_layers is not None:
        assert count_weight_layers(layer) == expected_weight_layers
    return eager
