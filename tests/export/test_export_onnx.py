"""ONNX models of the shared export: opset, named dims, checker, and onnxruntime parity with Keras."""

import os

import numpy as np
import onnx
import pytest

from export import onnx_export
from export import signature_names as sig
from keras_durbm.inference import head_runner, restore_with
from keras_durbm.model_config import min_input_size
from keras_durbm.tasks import get_task


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
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
