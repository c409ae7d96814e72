"""The checks every public layer of the project passes, beside its NumPy reference test.

* `run_layer_test`: config and serialization round trips, symbolic vs eager shapes, a `.keras` round
  trip loaded with `safe_mode=True`, and the weight-layer count;
* `run_keras_layer_test`: Keras's own harness (`keras.src.testing.TestCase.run_layer_test`, the one
  keras-hub builds on): config/serialization, a compiled training step, mixed precision;
* `check_dtype_policies`: under each per-layer dtype policy the layer runs, computes in the policy's
  compute dtype and keeps float32 variables.
"""

from __future__ import annotations

import keras
import numpy as np
from keras.src.testing import TestCase

from keras_durbm.models.cost import count_weight_layers

DTYPE_POLICIES = ("mixed_float16", "mixed_bfloat16", "float16", "bfloat16")


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def run_layer_test(layer, inputs, tmp_path, expected_weight_layers=None):
    """Checks `layer` the way every project layer must behave; returns its eager output."""
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
    for e, s in zip(_as_list(eager), _as_list(symbolic), strict=True):
        assert tuple(e.shape) == tuple(s.shape)

    model = keras.Model(symbolic_inputs, symbolic)
    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    for a, b in zip(_as_list(model(inputs)), _as_list(reloaded(inputs)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    if expected_weight_layers is not None:
        assert count_weight_layers(layer) == expected_weight_layers
    return eager


def run_keras_layer_test(layer_cls, init_kwargs: dict, input_data, expected_output_shape,
                         expected_num_trainable_weights: int, expected_num_non_trainable_weights: int = 0) -> None:
    """Keras's layer harness: round trips, eager call, a training step and a mixed_float16 run."""
    TestCase().run_layer_test(
        layer_cls, init_kwargs=init_kwargs, input_data=input_data, expected_output_shape=expected_output_shape,
        expected_num_trainable_weights=expected_num_trainable_weights,
        expected_num_non_trainable_weights=expected_num_non_trainable_weights,
        run_training_check=True, run_mixed_precision_check=True)


def check_dtype_policies(layer_cls, init_kwargs: dict, inputs) -> None:
    """Under every per-layer policy of `DTYPE_POLICIES` the layer's outputs have the compute dtype, its
    variables stay float32 (or the policy's variable dtype), and the values stay close to float32's."""
    reference = layer_cls(**init_kwargs)
    expected = [np.asarray(o, np.float64) for o in _as_list(reference(inputs))]
    for policy in DTYPE_POLICIES:
        layer = layer_cls(**init_kwargs, dtype=policy)
        layer.build([np.shape(x) for x in inputs] if isinstance(inputs, list) else np.shape(inputs))
        layer.set_weights(reference.get_weights())
        outputs = _as_list(layer(inputs))
        for out, ref in zip(outputs, expected, strict=True):
            assert keras.backend.standardize_dtype(out.dtype) == layer.compute_dtype, (policy, out.dtype)
            got = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")), np.float64)
            scale = max(1.0, float(np.abs(ref).max()))
            tolerance = 0.1 if "bfloat16" in policy else 0.02
            assert np.abs(got - ref).max() <= tolerance * scale, (policy, np.abs(got - ref).max())
        for weight in layer.weights:
            assert keras.backend.standardize_dtype(weight.dtype) == layer.variable_dtype, (policy, weight.path)
