"""The ONNX graph rewrites (export/onnx_graph.py) on small hand-built graphs: what they fold, what they leave."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from export import onnx_graph

BIG = 2**63 - 1


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _model(nodes, initializers, output="y") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, [1, 3, None, None])], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _slice_pad(source: str, pad: int, axis: int, out: str, rows=None) -> tuple[list, list]:
    """The pattern `ReflectPad2D` converts to: one-row slices of `source` around it, one concat."""
    rows = rows if rows is not None else [*range(pad, 0, -1), *range(-2, -2 - pad, -1)]
    nodes, inits, inputs = [], [], []
    for k, row in enumerate(rows):
        starts, ends = [0] * 4, [BIG] * 4
        starts[axis], ends[axis] = row, row + 1
        names = [f"{out}_{k}_{part}" for part in ("s", "e", "a")]
        inits += [numpy_helper.from_array(np.array(v, np.int64), n)
                  for v, n in zip((starts, ends, [0, 1, 2, 3]), names, strict=True)]
        nodes.append(helper.make_node("Slice", [source, *names], [f"{out}_{k}"]))
        inputs.append(f"{out}_{k}")
    inputs.insert(pad, source)
    nodes.append(helper.make_node("Concat", inputs, [out], axis=axis))
    return nodes, inits


@pytest.mark.parametrize("pad", [1, 2, 3])
def test_slice_reflect_pads_become_one_reflect_pad_with_the_same_values(pad, rng):
    h_nodes, h_inits = _slice_pad("x", pad, 2, "h")
    w_nodes, w_inits = _slice_pad("h", pad, 3, "y")
    model = _model(h_nodes + w_nodes, h_inits + w_inits)
    x = rng.random((1, 3, 9, 11)).astype(np.float32)
    expected = _run(model, x)
    np.testing.assert_array_equal(expected, np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], mode="reflect"))

    assert onnx_graph.fold_reflect_pads(model) == 1  # the H and the W pad merged into one node
    onnx.checker.check_model(model, full_check=True)
    assert dict(onnx_graph.op_counts(model)) == {"Pad": 1}
    (node,) = model.graph.node
    assert helper.get_attribute_value(node.attribute[0]) == b"reflect"
    np.testing.assert_array_equal(_run(model, x), expected)


def test_slices_that_are_not_a_reflection_are_left_alone(rng):
    nodes, inits = _slice_pad("x", 2, 2, "y", rows=[1, 2, -2, -3])  # mirrored the wrong way round
    model = _model(nodes, inits)
    before = onnx_graph.op_counts(model)
    assert onnx_graph.fold_reflect_pads(model) == 0
    assert onnx_graph.op_counts(model) == before


def test_transposes_around_a_channel_scale_are_removed_with_the_same_values(rng):
    scale = rng.random((1, 1, 1, 3)).astype(np.float32)
    nodes = [helper.make_node("Transpose", ["x"], ["nhwc"], perm=[0, 2, 3, 1]),
             helper.make_node("Mul", ["nhwc", "s"], ["scaled"]),
             helper.make_node("Transpose", ["scaled"], ["y"], perm=[0, 3, 1, 2])]
    model = _model(nodes, [numpy_helper.from_array(scale, "s")])
    x = rng.random((1, 3, 5, 7)).astype(np.float32)
    expected = _run(model, x)
    assert onnx_graph.sink_transposes_through_scale(model) == 1
    onnx.checker.check_model(model, full_check=True)
    assert dict(onnx_graph.op_counts(model)) == {"Mul": 1}
    np.testing.assert_allclose(_run(model, x), expected, rtol=0, atol=0)


def _conv_to_space(rng, channels_in: int, channels: int, kernel: int, mode: str, bias) -> onnx.ModelProto:
    weights = rng.normal(size=(4 * channels, channels_in, kernel, kernel)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y4"], kernel_shape=[kernel, kernel]),
             helper.make_node("DepthToSpace", ["y4"], ["y"], blocksize=2, mode=mode)]
    return _model(nodes, [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias.astype(np.float32), "b")])


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize("per_position_bias", [True, False])
def test_conv_and_depth_to_space_become_one_conv_transpose_with_the_same_values(mode, kernel, per_position_bias, rng):
    channels = 3  # the test graph's output is N×3×H×W
    per_channel = rng.normal(size=channels)  # laid out as DCR or CRD order the channels
    uniform = np.tile(per_channel, 4) if mode == "DCR" else np.repeat(per_channel, 4)
    bias = rng.normal(size=4 * channels) if per_position_bias else uniform
    model = _conv_to_space(rng, 3, channels, kernel, mode, bias)
    x = rng.random((1, 3, 7, 9)).astype(np.float32)
    expected = _run(model, x)
    assert onnx_graph.depth_to_space_as_conv_transpose(model, kernel_sizes=(kernel,)) == 1
    onnx.checker.check_model(model, full_check=True)
    ops = onnx_graph.op_counts(model)
    assert ops["ConvTranspose"] == 1 and "DepthToSpace" not in ops and "Conv" not in ops
    assert ("ConstantOfShape" in ops) == per_position_bias  # the ones channel only where the bias needs it
    np.testing.assert_allclose(_run(model, x), expected, rtol=0, atol=1e-5)


def test_conv_to_space_pairs_that_do_not_match_are_left_alone(rng):
    model = _conv_to_space(rng, 3, 3, 3, "DCR", rng.normal(size=12))
    assert onnx_graph.depth_to_space_as_conv_transpose(model, kernel_sizes=(1,)) == 0  # a 3×3 kernel not asked for
    model.graph.node[0].attribute.append(helper.make_attribute("strides", [2, 2]))
    assert onnx_graph.depth_to_space_as_conv_transpose(model, kernel_sizes=(3,)) == 0  # strided
    assert dict(onnx_graph.op_counts(model)) == {"Conv": 1, "DepthToSpace": 1}


def test_the_paper_presets_up_sampling_becomes_a_conv_transpose_with_the_same_values(rng):
    """The `paper` preset's DuRB-M T1 widths (96 → 4·96, PixelShuffle(2)), trained-like per-position biases."""
    weights = rng.normal(0, 0.1, size=(384, 96, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y4"], kernel_shape=[1, 1]),
             helper.make_node("DepthToSpace", ["y4"], ["y"], blocksize=2)]
    graph = helper.make_graph(nodes, "t1", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 96, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 96, None, None])],
                              [numpy_helper.from_array(weights, "w"),
                               numpy_helper.from_array(rng.normal(size=384).astype(np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = rng.random((1, 96, 16, 16)).astype(np.float32)  # a 64² image's 1/4-resolution map
    expected = _run(model, x)
    assert onnx_graph.depth_to_space_as_conv_transpose(model) == 1
    np.testing.assert_allclose(_run(model, x), expected, rtol=0, atol=1e-5)
