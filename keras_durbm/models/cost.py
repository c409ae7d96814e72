"""What a network costs: weight layers, parameters and multiply-adds per megapixel."""

from __future__ import annotations

import keras
import numpy as np

WEIGHT_LAYER_TYPES = (keras.layers.Conv2D, keras.layers.Dense)


def weight_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """All convolution and dense layers inside `layer` (the paper's "weight layers")."""
    found = [layer] if isinstance(layer, WEIGHT_LAYER_TYPES) else []
    for sub in layer._flatten_layers(include_self=False, recursive=True):
        if isinstance(sub, WEIGHT_LAYER_TYPES):
            found.append(sub)
    return found


def count_weight_layers(layer: keras.layers.Layer) -> int:
    return len(weight_layers(layer))


def count_parameters(layer: keras.layers.Layer) -> int:
    """Trainable parameters, each shared weight counted once."""
    return int(sum(np.prod(w.shape) for w in layer.trainable_weights))


def multiply_adds(model: keras.Model, height: int = 256, width: int = 256) -> int:
    """Multiply-accumulates of one forward pass at `height`×`width`, from the traced TF graph.

    Counts Conv2D (output elements × kh·kw·C_in) and MatMul (M·N·K); element-wise
    ops, pooling and activations are left out, as is usual for FLOP tables.
    """
    import tensorflow as tf

    spec = tf.TensorSpec([1, height, width, 3], tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    total = 0
    for op in _all_ops(graph):
        if op.type == "Conv2D":
            kh, kw, c_in, _ = op.inputs[1].shape
            total += int(np.prod(op.outputs[0].shape)) * kh * kw * c_in
        elif op.type in ("MatMul", "BatchMatMulV2"):
            a = op.inputs[0].shape
            k = a[-2] if op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x") else a[-1]
            total += int(np.prod(op.outputs[0].shape)) * int(k)
    return total


def _all_ops(graph):
    """Operations of `graph` and of every function it calls (Keras layers may trace into sub-functions)."""
    seen = set()
    stack = [graph]
    while stack:
        g = stack.pop()
        yield from g.get_operations()
        for name, fn in getattr(g, "_functions", {}).items():
            if name not in seen:
                seen.add(name)
                stack.append(fn.graph if hasattr(fn, "graph") else fn)


def multiply_adds_per_megapixel(model: keras.Model, size: int = 256) -> float:
    """Multiply-accumulates per million input pixels, measured at `size`×`size`."""
    return multiply_adds(model, size, size) / (size * size / 1e6)
