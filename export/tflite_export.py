"""TFLite conversion of one head: float32, float16 weights, dynamic-range int8, full int8.

Converted with `TFLiteConverter.from_saved_model` from the aligned-size SavedModel of
`export.tflite_graph` (`from_concrete_functions` with a Keras model silently yields a model that outputs
NaN on this stack). H and W stay dynamic; inputs and outputs stay float32 in every variant, so one
runner serves all four. Full int8 is calibrated on real images (`export.calibration`).

Full int8 is converted in the converter's own two steps, calibration then quantization, with one fix in
between (`widen_degenerate_ranges`): a tensor that is constant on every calibration image (the ReLU of an
attention MLP whose hidden units are all off) would get a quantization scale of ~1e-8, and XNNPACK cannot
create the int8 runtime of a model with such a scale ("failed to prepare"), so the whole model fell back
to the built-in kernels. Untouched models come out of the two steps with the same numbers and ops as
out of `convert()` in one.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from export import signature_names as sig
from keras_durbm.cli import stderr_captured

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
        converter._experimental_calibrate_only = True  # float model with min/max statistics: fixed, then quantized
    # the quantizer prints its settings ("fully_quantize: 0, inference_type: 6, ...") on the C++ stderr:
    # kept out of the export's output, replayed if the conversion fails
    with warnings.catch_warnings(), stderr_captured():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")  # int8 calibration
        model = converter.convert()
        if variant != "int8":
            return model
        from tensorflow.lite.python import convert as lite_convert

        return lite_convert.mlir_quantize(widen_degenerate_ranges(model), input_data_type=tf.float32,
                                          output_data_type=tf.float32)


#: Calibrated ranges narrower than this are constants (a ReLU that is 0 on every calibration image) ...
DEGENERATE_RANGE = 1e-6
#: ... and get this width instead: what a small activation has, so every int8 rescale stays in XNNPACK's range.
WIDENED_RANGE = 1e-2


def widen_degenerate_ranges(calibrated: bytes) -> bytes:
    """A calibrated (not yet quantized) `.tflite` whose per-tensor min/max statistics narrower than
    `DEGENERATE_RANGE` are widened to `WIDENED_RANGE` (see module doc); others are left alone."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    widened = 0
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            q = tensor.quantization
            if q is None or q.min is None or q.max is None or len(q.min) != 1 or len(q.max) != 1:
                continue
            low, high = float(q.min[0]), float(q.max[0])
            if high - low < DEGENERATE_RANGE:
                q.max = np.asarray([max(high, low + WIDENED_RANGE)], np.float32)
                widened += 1
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)) if widened else calibrated


def op_names(model: bytes) -> set[str]:
    """Builtin op names in a `.tflite` flatbuffer (to prove MIRROR_PAD and POW are absent)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return {op["op_name"] for op in interpreter._get_ops_details()}
