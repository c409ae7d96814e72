"""ONNX export of one head (or of the degradation classifier) with tf2onnx (opset 17), from a SavedModel's
`serving_default`.

The ONNX graph therefore keeps the in-graph padding: `image` float32 NHWC of any H and W in [0, 1]
→ `restored` (unclipped), with the dims named N, H, W. After conversion `export.onnx_graph` folds each
slice-built reflect pad into one `Pad(mode="reflect")`, removes the transposes that tf2onnx leaves
around the attention's channel scale, and writes each DuRB-M's up-sampling (1×1 convolution and
PixelShuffle) as one transposed convolution (same numbers, fewer and cheaper nodes; docs/export.md "ONNX").
The file is plain ONNX: any runtime loads it, and onnxruntime applies its own graph optimizations
(`ORT_ENABLE_ALL`, its default, which `OnnxRunner` keeps) when the session is created. Checked with
onnx's checker and run with onnxruntime.
"""

from __future__ import annotations

import os

import numpy as np

from export import onnx_graph
from export import signature_names as sig

OPSET = 17
DIMS = ["N", "H", "W", 3]


def convert(saved_model_dir: str, path: str, opset: int = OPSET, outputs: dict[str, list] | None = None,
            *, rewrite: bool = True) -> str:
    """Converts `serving_default` of `saved_model_dir` to `path`, names its dims, runs the checker.

    `outputs` names the output dims (default: a head's `restored`, N×H×W×3). `rewrite=False` keeps
    tf2onnx's graph as it is (no reflect-pad folding, no transpose removal, DepthToSpace kept; for
    comparisons)."""
    import onnx
    import tf2onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims
    from tf2onnx import tf_loader

    graph_def, input_names, output_names, renames = tf_loader.from_saved_model(
        saved_model_dir, None, None, "serve", [sig.SERVING_DEFAULT], return_tensors_to_rename=True)
    model, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=input_names, output_names=output_names,
                                              opset=opset, tensors_to_rename=renames)
    if rewrite:
        onnx_graph.fold_reflect_pads(model)
        onnx_graph.sink_transposes_through_scale(model)
        onnx_graph.depth_to_space_as_conv_transpose(model, kernel_sizes=(1,))
    model = update_inputs_outputs_dims(model, {sig.INPUT_FLOAT: DIMS}, outputs or {sig.OUTPUT_FLOAT: DIMS})
    onnx.checker.check_model(model, full_check=True)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    onnx.save(model, path)
    return path


class OnnxRunner:
    """An onnxruntime CPU session of an exported head: float32 NHWC of any size → restored.

    The session uses onnxruntime's full graph optimization (`ORT_ENABLE_ALL`: fusions and the NCHWc
    layout for convolutions), which is its default and measured fastest for these graphs. `spin=False`
    stops the worker threads busy-waiting between ops: on a machine whose cores are shared with other
    work that is much faster (docs/export.md "ONNX"); on a quiet machine spinning is a little faster.
    Works for the fp32 and the int8 (QDQ) files alike."""

    def __init__(self, path: str, num_threads: int | None = None, *, spin: bool = True,
                 profile_prefix: str | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The model's (only) output for a float32 NHWC batch: the restored images, or the probabilities."""
        return self.session.run(None, {sig.INPUT_FLOAT: np.asarray(batch, np.float32)})[0]


def optimized_graph_ops(path: str, level: str = "ORT_ENABLE_ALL") -> dict[str, int]:
    """Op types (and counts) of the graph onnxruntime runs for `path` after its optimizations at `level`
    (`ORT_ENABLE_BASIC`, `_EXTENDED` or `_ALL`): what the tests and docs/export.md inspect."""
    import tempfile

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        options.optimized_model_filepath = os.path.join(folder, "optimized.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        model = onnx.load(options.optimized_model_filepath)
    return dict(onnx_graph.op_counts(model))


def profile_op_times(path: str, batch: np.ndarray, num_threads: int | None = None, runs: int = 3) -> dict[str, float]:
    """Share of onnxruntime's kernel time per op type (fractions summing to 1) over `runs` runs of
    `batch` after one warm-up run: where the time goes."""
    import collections
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        runner = OnnxRunner(path, num_threads, profile_prefix=os.path.join(folder, "profile"))
        for _ in range(runs + 1):
            runner(batch)
        with open(runner.session.end_profiling(), encoding="utf-8") as handle:
            events = json.load(handle)
    totals: collections.Counter = collections.Counter()
    first_run_ends = None
    for event in events:
        if event.get("name") == "model_run" and first_run_ends is None:
            first_run_ends = event["ts"] + event["dur"]
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") \
                and (first_run_ends is None or event["ts"] > first_run_ends):
            totals[event["args"]["op_name"]] += event["dur"]
    total = sum(totals.values()) or 1
    return {op: t / total for op, t in totals.most_common()}
