"""ONNX models of the shared export: opset, named dims, checker, onnxruntime parity with Keras, and the graph
the rewrites of export/onnx_graph.py leave (reflect pads in one node, no feature-map transposes)."""

import os

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from export import onnx_export, onnx_graph
from export import signature_names as sig
from keras_durbm.config.model import min_input_size
from keras_durbm.config.tasks import get_task
from keras_durbm.restoration.tiling import head_runner, restore_with


@pytest.fixture(scope="module")
def onnx_paths(export_dir, report):
    return {head: os.path.join(export_dir, "onnx", f"{head}.onnx") for head in report["heads"]}


def test_onnx_models_pass_the_checker_with_opset_17_and_named_dims(onnx_paths):
    for path in onnx_paths.values():
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {onnx_export.OPSET}
        for values, name in ((model.graph.input, sig.INPUT_FLOAT), (model.graph.output, sig.OUTPUT_FLOAT)):
            assert [v.name for v in values] == [name]
            dims = values[0].type.tensor_type.shape.dim
            assert [d.dim_param or d.dim_value for d in dims] == ["N", "H", "W", 3]


@pytest.mark.parametrize("shape", [(1, 37, 53, 3), (2, 3, 5, 3), (1, 1, 1, 3), (1, 32, 48, 3)])
def test_onnxruntime_matches_keras_at_any_size(onnx_paths, trained_model, shape, rng):
    images = rng.random(shape).astype(np.float32)
    min_size = min_input_size(trained_model.config)
    for head, path in onnx_paths.items():
        got = onnx_export.OnnxRunner(path)(images)
        expected = np.stack([restore_with(head_runner(trained_model, get_task(head)), x, min_size=min_size) for x in images])
        assert got.shape == images.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)  # measured 1.2e-7


def test_every_spatial_convolution_reads_one_reflect_pad_and_no_slice_pad_is_left(onnx_paths):
    for path in onnx_paths.values():
        model = onnx.load(path)
        weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        producer = {o: n for n in model.graph.node for o in n.output}
        # the ReflectConv2D layers: k×k convolutions without padding of their own (those of the attention
        # blocks' ResNets pad with zeros, inside the Conv node)
        spatial = [n for n in model.graph.node if n.op_type == "Conv" and weights[n.input[1]].shape[2] > 1
                   and not any(a.name == "auto_pad" and a.s not in (b"", b"NOTSET", b"VALID") for a in n.attribute)
                   and not any(a.name == "pads" and any(a.ints) for a in n.attribute)]
        assert spatial
        reached = set()
        for conv in spatial:
            source = producer[conv.input[0]]
            while source.op_type == "Transpose":  # the first convolution's input is transposed to NCHW
                source = producer[source.input[0]]
            assert source.op_type == "Pad", conv.name
            assert {a.name: helper.get_attribute_value(a) for a in source.attribute}["mode"] == b"reflect"
            reached.add(source.name)
        assert sum(n.op_type == "Pad" for n in model.graph.node) == len(reached)  # one per padded input
        assert onnx_graph.fold_reflect_pads(model) == 0  # nothing left to fold: no slice-and-concat pad


def test_onnxruntime_runs_the_graph_with_transposes_only_at_the_nhwc_interface(onnx_paths):
    for path in onnx_paths.values():
        ops = onnx_export.optimized_graph_ops(path)
        # the input to NCHW for the first convolution and for the residual addition, the output back to NHWC;
        # tf2onnx alone leaves two more around every attention block's channel scale
        assert ops.get("Transpose", 0) <= 3, ops
        assert ops.get("Pad", 0) > 0 and "Conv" in ops, ops


def test_only_the_decoders_pixel_shuffles_are_left_the_up_paths_are_transposed_convolutions(onnx_paths):
    for path in onnx_paths.values():
        ops = onnx_graph.op_counts(onnx.load(path))
        assert ops["DepthToSpace"] == 2 and ops["ConvTranspose"] >= 1, ops  # the decoder's two up-stages
