"""ONNX Runtime static int8 (QDQ) of an exported head, calibrated on the images the TFLite int8 model uses.

`quantize(onnx_path, out_path, calibration)` runs `onnxruntime.quantization.quantize_static` on the fp32
file that `export.onnx_export.convert` wrote: QuantizeLinear/DequantizeLinear pairs around the
convolutions (per-channel int8 weights, uint8 activations — the U8S8 layout onnxruntime's x86 int8
kernels take), activation ranges from the min/max over the calibration batches (`export.calibration`:
the same crops as the full-int8 TFLite model). Only the convolutions are quantized: the attention's
statistics (means and cubed differences), its small MLP, the residual additions and the in-graph
padding stay float, as they cost little time and lose the most precision. onnxruntime fuses each
`DQ → Conv → Q` into one int8 convolution when the session is created; `export.onnx_export.OnnxRunner`
runs the file like the fp32 one (same `image` → `restored` interface, any H and W).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import numpy as np

from export import signature_names as sig

OP_TYPES = ("Conv",)


class _Batches:
    """The `CalibrationDataReader` onnxruntime asks for: one `{image: batch}` per call, then None."""

    def __init__(self, batches: Sequence[np.ndarray]):
        self._items = iter([{sig.INPUT_FLOAT: np.ascontiguousarray(b, np.float32)} for b in batches])

    def get_next(self):
        return next(self._items, None)

    def rewind(self):  # onnxruntime's reader protocol; a single pass is all min/max needs
        pass


def quantize(onnx_path: str, out_path: str, calibration: Sequence[np.ndarray], *,
             op_types: Sequence[str] = OP_TYPES, per_channel: bool = True) -> str:
    """Writes the static int8 QDQ model of `onnx_path` to `out_path` and returns `out_path`.

    `calibration`: float32 NHWC batches in [0, 1] (e.g. `export.calibration.calibration_batches`); at
    least one. `op_types`: the op types quantized (default: convolutions only, see module doc)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ValueError("int8 quantization needs at least one calibration batch")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:  # quantize_static writes its augmented model beside it
        source = os.path.join(scratch, "fp32.onnx")
        onnx.save(onnx.load(onnx_path), source)
        quantize_static(source, out_path, _Batches(calibration), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(op_types), per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    model = onnx.load(out_path)
    onnx.checker.check_model(model, full_check=True)
    return out_path
