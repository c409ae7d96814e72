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

**7-bit weights (`reduce_range`).** onnxruntime's x86 int8 kernels multiply uint8 activations by int8
weights; without VNNI (AVX2, AVX-512 before Cascade Lake) they sum each pair of products in 16 bits with
saturation (`vpmaddubsw`), and 2 × 255 × 127 = 64,770 overflows 32,767: measured on an AVX2-only CPU,
the 8-bit file lost 0.72 dB against fp32 there (docs/export.md). Weights in [−64, 64] keep every pair within
2 × 255 × 64 = 32,640, so every x86 CPU computes the same integer sums as a VNNI one. The file records
its scheme in its metadata (`SCHEME_KEY`, read with `scheme`), and the export report repeats it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import numpy as np

from export import signature_names as sig

OP_TYPES = ("Conv",)
#: metadata_props key of the file's int8 scheme (`SCHEMES`)
SCHEME_KEY = "keras_durbm.int8_scheme"
SCHEMES = {
    True: "uint8 activations × int8 per-channel weights in [-64, 64] (7-bit, reduce_range): no 16-bit "
          "saturation on x86 CPUs without VNNI",
    False: "uint8 activations × int8 per-channel weights in [-127, 127]: exact with VNNI only (AVX2 kernels "
           "saturate u8×s8 pair sums at 16 bits)",
}


class _Batches:
    """The `CalibrationDataReader` onnxruntime asks for: one `{image: batch}` per call, then None."""

    def __init__(self, batches: Sequence[np.ndarray]):
        self._items = iter([{sig.INPUT_FLOAT: np.ascontiguousarray(b, np.float32)} for b in batches])

    def get_next(self):
        return next(self._items, None)

    def rewind(self):  # onnxruntime's reader protocol; a single pass is all min/max needs
        pass


def quantize(onnx_path: str, out_path: str, calibration: Sequence[np.ndarray], *,
             op_types: Sequence[str] = OP_TYPES, per_channel: bool = True, reduce_range: bool = True) -> str:
    """Writes the static int8 QDQ model of `onnx_path` to `out_path` and returns `out_path`.

    `calibration`: float32 NHWC batches in [0, 1] (e.g. `export.calibration.calibration_batches`); at
    least one. `op_types`: the op types quantized (default: convolutions only, see module doc).
    `reduce_range=False` writes 8-bit weights (saturates on CPUs without VNNI; for comparisons)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ValueError("int8 quantization needs at least one calibration batch")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:  # quantize_static writes its augmented model beside it
        source = os.path.join(scratch, "fp32.onnx")
        onnx.save(onnx.load(onnx_path), source)
        quantize_static(source, out_path, _Batches(calibration), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(op_types), per_channel=per_channel, reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    model = onnx.load(out_path)
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props},
                                        SCHEME_KEY: SCHEMES[reduce_range]})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out_path)
    return out_path


def scheme(path: str) -> str:
    """The int8 scheme `quantize` recorded in the file at `path` ("" for a file without one)."""
    import onnx

    return next((p.value for p in onnx.load(path, load_external_data=False).metadata_props if p.key == SCHEME_KEY), "")
