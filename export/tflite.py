"""TFLite conversion of one head: float32, float16 weights, dynamic-range int8, full int8.

Converted with `TFLiteConverter.from_saved_model` from the aligned-size SavedModel of
`export.lite_graph` (`from_concrete_functions` with a Keras model silently yields a model that outputs
NaN on this stack). H and W stay dynamic; inputs and outputs stay float32 in every variant, so one
runner serves all four. Full int8 is calibrated on real images (`export.calibration`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from export import signature_names as sig

VARIANTS = ("fp32", "fp16", "dynamic_int8", "int8")
DESCRIPTIONS = {
    "fp32": "float32",
    "fp16": "float16 weights, float32 compute",
    "dynamic_int8": "int8 weights, activations quantized on the fly (dynamic range)",
    "int8": "int8 weights and activations, calibrated; float32 input and output",
}


def convert(saved_model_dir: str, variant: str, calibration: Sequence[np.ndarray] = ()) -> bytes:
    """The `.tflite` bytes of `variant`; `calibration` (float32 NHWC arrays, aligned sizes) is needed for int8."""
    import tensorflow as tf

    if variant not in VARIANTS:
        raise ValueError(f"unknown TFLite variant {variant!r}; choose from {', '.join(VARIANTS)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[sig.SERVING_DEFAULT])
    if variant != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if variant == "int8":
        if not len(calibration):
            raise ValueError("full int8 conversion needs calibration images")
        converter.representative_dataset = lambda: ({sig.INPUT_FLOAT: batch} for batch in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with warnings.catch_warnings():  # int8 calibration runs TF's own (deprecated) interpreter internally
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        return converter.convert()


def op_names(model: bytes) -> set[str]:
    """Builtin op names in a `.tflite` flatbuffer (to prove MIRROR_PAD and POW are absent)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return {op["op_name"] for op in interpreter._get_ops_details()}
