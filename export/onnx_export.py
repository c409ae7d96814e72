"""ONNX export of one head (or of the degradation classifier) with tf2onnx (opset 17), from a SavedModel's
`serving_default`.

The ONNX graph therefore keeps the in-graph padding: `image` float32 NHWC of any H and W in [0, 1]
→ `restored` (unclipped), with the dims named N, H, W. Checked with onnx's checker and run with
onnxruntime.
"""

from __future__ import annotations

import os

import numpy as np

from export import signature_names as sig

OPSET = 17
DIMS = ["N", "H", "W", 3]


def convert(saved_model_dir: str, path: str, opset: int = OPSET, outputs: dict[str, list] | None = None) -> str:
    """Converts `serving_default` of `saved_model_dir` to `path`, names its dims, runs the checker.

    `outputs` names the output dims (default: a head's `restored`, N×H×W×3)."""
    import onnx
    import tf2onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims
    from tf2onnx import tf_loader

    graph_def, input_names, output_names, renames = tf_loader.from_saved_model(
        saved_model_dir, None, None, "serve", [sig.SERVING_DEFAULT], return_tensors_to_rename=True)
    model, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=input_names, output_names=output_names,
                                              opset=opset, tensors_to_rename=renames)
    model = update_inputs_outputs_dims(model, {sig.INPUT_FLOAT: DIMS}, outputs or {sig.OUTPUT_FLOAT: DIMS})
    onnx.checker.check_model(model, full_check=True)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    onnx.save(model, path)
    return path


class OnnxRunner:
    """An onnxruntime CPU session of an exported head: float32 NHWC of any size → restored."""

    def __init__(self, path: str, num_threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads or os.cpu_count() or 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The model's (only) output for a float32 NHWC batch: the restored images, or the probabilities."""
        return self.session.run(None, {sig.INPUT_FLOAT: np.asarray(batch, np.float32)})[0]
