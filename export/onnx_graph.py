"""Rewrites of the tf2onnx graph of a head that keep its numbers and make onnxruntime run it faster.

tf2onnx converts the network op by op. Three of its patterns cost onnxruntime time that the ops' meaning
does not need (docs/export.md "ONNX" has the profiles):

* **Reflect padding as slices.** `ReflectPad2D` builds each pad from 2·pad one-row slices and a concat
  (so that TFLite's XNNPACK runs it); in ONNX that is 2·pad + 1 copies per axis. `fold_reflect_pads`
  recognises exactly that pattern (every slice checked to be the row a reflection takes) and replaces it
  with one `Pad(mode="reflect")`, then merges the H and the W pad of a convolution into one.
* **Transposes around the attention's channel scale.** The TV-SE/SE scale `x · w[:, None, None, :]` is
  NHWC in TensorFlow; the transpose optimizer of tf2onnx leaves `Transpose → Mul → Transpose` around it
  (a full feature-map copy each way). `sink_transposes_through_scale` scales the NCHW map by the
  (tiny) weights reshaped to N×C×1×1 instead.
* **DepthToSpace after a convolution.** Each DuRB-M up-samples with a 1×1 convolution to 4·C channels and
  PixelShuffle(2); onnxruntime runs DepthToSpace on one thread and reorders the NCHWc map around it.
  `depth_to_space_as_conv_transpose` writes the pair as the one transposed convolution it equals (same
  multiply-adds). The decoder's 3×3 + PixelShuffle has the same exact form (kernel 6, stride 2), which
  onnxruntime runs slower, so `export.onnx_export` applies the rewrite to 1×1 kernels only.

Every rewrite matches a pattern completely or leaves the nodes alone, so a graph that was not built
by this project passes through unchanged.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

import numpy as np
import onnx
from onnx import helper, numpy_helper

BIG = 2**31 - 1  # what a "to the end" Slice bound is at least


class _Graph:
    """Producers, consumers and constant values of an ONNX graph, kept up to date by the rewrites."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.graph = model.graph
        self.constants = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        for node in self.graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.outputs = {o.name for o in self.graph.output}
        self._names = collections.Counter()
        self.shapes: dict[str, list] | None = None
        self.refresh()

    def refresh(self) -> None:
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.consumers: dict[str, list] = collections.defaultdict(list)
        for node in self.graph.node:
            for name in node.input:
                self.consumers[name].append(node)

    def name(self, stem: str) -> str:
        self._names[stem] += 1
        return f"{stem}__onnx_graph_{self._names[stem]}"

    def constant(self, stem: str, value: np.ndarray) -> str:
        name = self.name(stem)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        self.constants[name] = np.asarray(value)
        return name

    def attribute(self, node, name: str, default=None):
        for a in node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def only_consumer(self, name: str):
        found = self.consumers.get(name, [])
        return found[0] if len(found) == 1 and name not in self.outputs else None

    def replace_nodes(self, removed: Iterable, added_before: dict) -> None:
        """Removes `removed` and inserts each node list of `added_before[key]` before the node whose first
        output is `key` (outputs are unique, so they name nodes whatever protobuf wrapper holds them)."""
        removed = {n.output[0] for n in removed}
        kept = []
        for node in self.graph.node:
            kept.extend(added_before.get(node.output[0], []))
            if node.output[0] not in removed:
                kept.append(node)
        del self.graph.node[:]
        self.graph.node.extend(kept)
        self.refresh()

    def prune(self) -> None:
        """Drops nodes and initializers nothing reads (the slices a folded pad no longer needs)."""
        needed = set(self.outputs)
        kept = []
        for node in reversed(self.graph.node):
            if any(o in needed for o in node.output):
                kept.append(node)
                needed.update(i for i in node.input if i)
        del self.graph.node[:]
        self.graph.node.extend(reversed(kept))
        initializers = [i for i in self.graph.initializer if i.name in needed]
        del self.graph.initializer[:]
        self.graph.initializer.extend(initializers)
        self.refresh()


def _row_of_slice(g: _Graph, node, axis: int) -> tuple[str, int] | None:
    """`(data, index)` when `node` is a Slice taking one row `index` (maybe negative) along `axis` and
    everything along the other axes; else None."""
    if node is None or node.op_type != "Slice" or len(node.input) < 4:
        return None
    try:
        starts, ends, axes = (g.constants[node.input[i]].astype(np.int64).tolist() for i in (1, 2, 3))
        steps = g.constants[node.input[4]].astype(np.int64).tolist() if len(node.input) > 4 and node.input[4] \
            else [1] * len(axes)
    except KeyError:
        return None
    row = None
    for start, end, ax, step in zip(starts, ends, axes, steps, strict=True):
        if step != 1:
            return None
        if ax == axis:
            if end != start + 1 or start == -1:  # [-1, 0) would be empty
                return None
            row = start
        elif not (start == 0 and end >= BIG):
            return None
    return None if row is None else (node.input[0], row)


def _normalise_axis(axis: int, rank: int = 4) -> int:
    return axis + rank if axis < 0 else axis


def fold_reflect_pads(model: onnx.ModelProto) -> int:
    """Replaces every slice-and-concat reflect pad (see module doc) with `Pad(mode="reflect")` and merges
    a Pad of H feeding only a Pad of W into one. Returns the number of Pad nodes written."""
    g = _Graph(model)
    removed, added, pads = [], {}, 0
    for node in list(g.graph.node):
        if node.op_type != "Concat" or len(node.input) < 3 or len(node.input) % 2 == 0:
            continue
        axis = _normalise_axis(g.attribute(node, "axis"))
        pad = len(node.input) // 2
        middle = node.input[pad]
        rows = [_row_of_slice(g, g.producer.get(name), axis) for i, name in enumerate(node.input) if i != pad]
        expected = [*range(pad, 0, -1), *range(-2, -2 - pad, -1)]
        if any(r is None or r[0] != middle for r in rows) or [r[1] for r in rows] != expected:
            continue
        widths = [0] * 8
        widths[axis] = widths[axis + 4] = pad
        name = g.constant("reflect_pads", np.asarray(widths, np.int64))
        added[node.output[0]] = [helper.make_node("Pad", [middle, name], list(node.output), mode="reflect",
                                            name=g.name(node.name or "reflect_pad"))]
        removed.append(node)
        pads += 1
    g.replace_nodes(removed, added)
    g.prune()  # the slices, which still read the H pad that the W pad's slices took their rows from
    pads -= _merge_pads(g)
    return pads


def _merge_pads(g: _Graph) -> int:
    """Merges `Pad(reflect) → Pad(reflect)` when the first feeds only the second, along different axes."""
    merged = 0
    while _merge_one_pad(g):
        merged += 1
    return merged


def _merge_one_pad(g: _Graph) -> bool:
    for node in g.graph.node:
        if node.op_type != "Pad" or g.attribute(node, "mode") != b"reflect":
            continue
        first = g.producer.get(node.input[0])
        if first is None or first.op_type != "Pad" or g.attribute(first, "mode") != b"reflect" \
                or g.only_consumer(first.output[0]) != node or len(first.input) > 2 or len(node.input) > 2:
            continue
        a, b = g.constants.get(first.input[1]), g.constants.get(node.input[1])
        if a is None or b is None or a.shape != b.shape or np.any((a != 0) & (b != 0)):
            continue
        node.input[0] = first.input[0]  # `node` is the graph's own message: edited in place
        node.input[1] = g.constant("reflect_pads", a + b)
        g.replace_nodes([first], {})
        return True
    return False


def sink_transposes_through_scale(model: onnx.ModelProto) -> int:
    """`Transpose(P) → Mul(·, s) → Transpose(P⁻¹)` (s rank-4, broadcast) becomes `Mul(·, Transpose(s, P⁻¹))`.
    Returns the number of pairs removed."""
    g = _Graph(model)
    done = 0
    while _sink_one_transpose(g):
        done += 1
    g.prune()
    return done


def _sink_one_transpose(g: _Graph) -> bool:
    for first in g.graph.node:
        if first.op_type != "Transpose":
            continue
        perm = list(g.attribute(first, "perm") or [])
        mul = g.only_consumer(first.output[0])
        if len(perm) != 4 or mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        back = g.only_consumer(mul.output[0])
        inverse = [int(i) for i in np.argsort(perm)]
        if back is None or back.op_type != "Transpose" or list(g.attribute(back, "perm") or []) != inverse:
            continue
        other_index = 1 if mul.input[0] == first.output[0] else 0
        other = mul.input[other_index]
        if other == first.output[0] or _rank(g, other) != 4:
            continue
        if other in g.constants:
            scale = g.constant("scale", np.transpose(g.constants[other], inverse))
            extra = []
        elif perm == [0, 2, 3, 1] and _dims(g, other)[1:3] == [1, 1]:  # N×1×1×C → N×C×1×1: the same bytes
            scale = g.name("scale_nchw")
            extra = [helper.make_node("Reshape", [other, g.constant("nc11", np.array([0, -1, 1, 1], np.int64))],
                                      [scale], name=g.name("scale_reshape"))]
        else:
            scale = g.name("scale_nchw")
            extra = [helper.make_node("Transpose", [other], [scale], perm=inverse, name=g.name("scale_transpose"))]
        new_mul = helper.make_node("Mul", [first.input[0], scale] if other_index else [scale, first.input[0]],
                                   list(back.output), name=mul.name)
        g.replace_nodes([first, mul, back], {mul.output[0]: [*extra, new_mul]})
        return True
    return False


def _dims(g: _Graph, name: str) -> list:
    """The dims of `name` from onnx's shape inference (an int where known, else None), [] if unknown."""
    if name in g.constants:
        return list(g.constants[name].shape)
    if g.shapes is None:  # once per graph: the rewrites do not change the shapes of the tensors they read
        inferred = onnx.shape_inference.infer_shapes(g.model)
        g.shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
                    for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
                    if v.type.tensor_type.HasField("shape")}
    return g.shapes.get(name, [])


def _rank(g: _Graph, name: str) -> int | None:
    return len(_dims(g, name)) or None


def op_counts(model: onnx.ModelProto) -> collections.Counter:
    """Op types of the graph's nodes and how many of each."""
    return collections.Counter(n.op_type for n in model.graph.node)



def depth_to_space_as_conv_transpose(model: onnx.ModelProto, kernel_sizes: Iterable[int] = (1,)) -> int:
    """`Conv(k×k, stride 1, no padding) → DepthToSpace(b)` becomes one `ConvTranspose(kernel b·k, stride b,
    pads b·(k−1))` with the same multiply-adds, for k in `kernel_sizes`. Returns the pairs replaced.

    Conv output channel `(i·b + j)·C + o` (DCR, what tf2onnx writes; `o·b² + i·b + j` for CRD) at pixel
    (h, w) is output pixel (b·h + i, b·w + j) of channel o, and its tap (dy, dx) reads input pixel
    (h + dy, w + dx): in the transposed convolution that is tap (i + b·(k−1−dy), j + b·(k−1−dx)). A bias
    that is the same at the b² positions (i, j) stays the node's bias; one that differs (a trained T1) is
    carried by an extra input channel of ones whose weights are the bias (only taps dy = dx = k−1, so
    each output pixel gets it once)."""
    g = _Graph(model)
    kernel_sizes = set(kernel_sizes)
    done = 0
    while _one_conv_transpose(g, kernel_sizes):
        done += 1
    g.prune()
    return done


def _plain_conv(g: _Graph, conv) -> bool:
    """A Conv with constant weights (and bias), stride 1, no dilation, one group and no padding of its own."""
    return (conv is not None and conv.op_type == "Conv" and conv.input[1] in g.constants
            and (len(conv.input) < 3 or not conv.input[2] or conv.input[2] in g.constants)
            and g.attribute(conv, "group", 1) == 1
            and all(v == 1 for v in g.attribute(conv, "strides", None) or [])
            and all(v == 1 for v in g.attribute(conv, "dilations", None) or [])
            and not any(g.attribute(conv, "pads", None) or [])
            and g.attribute(conv, "auto_pad", b"NOTSET") in (b"NOTSET", b"VALID"))


def _one_conv_transpose(g: _Graph, kernel_sizes: set[int]) -> bool:
    for node in g.graph.node:
        conv = g.producer.get(node.input[0]) if node.op_type == "DepthToSpace" else None
        if not _plain_conv(g, conv) or g.only_consumer(conv.output[0]) is not node:
            continue
        kernel = g.constants[conv.input[1]]
        b, mode = int(g.attribute(node, "blocksize")), g.attribute(node, "mode", b"DCR")
        if kernel.ndim != 4 or kernel.shape[2] != kernel.shape[3] or kernel.shape[2] not in kernel_sizes \
                or kernel.shape[0] % (b * b) or mode not in (b"DCR", b"CRD"):
            continue
        k, c_out, c_in = kernel.shape[2], kernel.shape[0] // (b * b), kernel.shape[1]
        bias = g.constants[conv.input[2]] if len(conv.input) > 2 and conv.input[2] else np.zeros(kernel.shape[0])
        # kernel and bias indexed by (i, j, o, ...): the conv's output channels in DepthToSpace's order
        if mode == b"DCR":
            by_position, bias_map = kernel.reshape(b, b, c_out, c_in, k, k), bias.reshape(b, b, c_out)
        else:
            by_position = kernel.reshape(c_out, b, b, c_in, k, k).transpose(1, 2, 0, 3, 4, 5)
            bias_map = bias.reshape(c_out, b, b).transpose(1, 2, 0)
        uniform = bool(np.all(bias_map == bias_map[:1, :1]))
        weights = np.zeros((c_in + (not uniform), c_out, b * k, b * k), kernel.dtype)
        for dy in range(k):
            for dx in range(k):
                top, left = b * (k - 1 - dy), b * (k - 1 - dx)
                weights[:c_in, :, top:top + b, left:left + b] = by_position[..., dy, dx].transpose(3, 2, 0, 1)
        pads = [b * (k - 1)] * 4
        if uniform:
            added = []
            inputs = [conv.input[0], g.constant("conv_transpose_w", weights),
                      g.constant("conv_transpose_b", bias_map[0, 0].astype(kernel.dtype))]
        else:
            weights[c_in, :, :b, :b] = bias_map.transpose(2, 0, 1)
            added, with_ones = _with_ones_channel(g, conv.input[0], kernel.dtype)
            inputs = [with_ones, g.constant("conv_transpose_w", weights)]
        added.append(helper.make_node("ConvTranspose", inputs, list(node.output), kernel_shape=[b * k] * 2,
                                      strides=[b, b], pads=pads, name=g.name(conv.name or "conv_transpose")))
        g.replace_nodes([conv, node], {conv.output[0]: added})
        return True
    return False


def _with_ones_channel(g: _Graph, source: str, dtype) -> tuple[list, str]:
    """Nodes that append a channel of ones to the N×C×H×W tensor `source`, and the name of the result."""
    shape, dims_n, dims_hw, ones_shape, ones, joined = (g.name(s) for s in ("shape", "n", "hw", "ones_shape", "ones",
                                                                               "with_ones"))
    nodes = [helper.make_node("Shape", [source], [shape], name=g.name("shape"))]
    for out, (start, end) in ((dims_n, (0, 1)), (dims_hw, (2, 4))):
        nodes.append(helper.make_node("Slice", [shape, g.constant("start", np.array([start], np.int64)),
                                                g.constant("end", np.array([end], np.int64))], [out], name=g.name("dims")))
    nodes += [
        helper.make_node("Concat", [dims_n, g.constant("one", np.array([1], np.int64)), dims_hw], [ones_shape], axis=0,
                         name=g.name("ones_shape")),
        helper.make_node("ConstantOfShape", [ones_shape], [ones], value=numpy_helper.from_array(np.ones(1, dtype)),
                         name=g.name("ones")),
        helper.make_node("Concat", [source, ones], [joined], axis=1, name=g.name("with_ones")),
    ]
    return nodes, joined
