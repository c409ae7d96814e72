"""ONNX Runtime static int8 (QDQ, export/onnx_quantize.py) of the shared export's ONNX head: interface, int8
convolutions in the graph onnxruntime runs, parity with Keras within a measured tolerance, and the bundle option."""

import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from export import bundle, calibration, onnx_export, onnx_quantize
from export import signature_names as sig
from export.parity import float_psnr
from keras_durbm.config.model import min_input_size
from keras_durbm.config.tasks import get_task
from keras_durbm.restoration.tiling import head_runner, restore_with

# Measured on the trained tiny network (tests/support/exports.py), 8 calibration crops of 32², the
# parity photographs of <= 48 px, against Keras: max |Δ| 6.7e-3, worst-image PSNR 58.9 dB with 8-bit
# weights; with 7-bit ones (the default) 5.9e-3, 56.4 dB (full-int8 TFLite: 2.1e-2, 52 dB). The bounds leave a
# margin.
MAX_DIFF, MIN_PSNR = 2e-2, 48.0


@pytest.fixture(scope="module")
def int8_paths(export_dir, report, tmp_path_factory):
    crops = calibration.calibration_batches(calibration.load_images(None, limit=8), count=8, size=32)
    out = tmp_path_factory.mktemp("onnx-int8")
    return {head: onnx_quantize.quantize(os.path.join(export_dir, "onnx", f"{head}.onnx"),
                                         str(out / f"{head}.int8.onnx"), crops)
            for head in report["heads"]}


def test_int8_models_keep_the_interface_and_run_int8_convolutions(int8_paths, export_dir):
    for head, path in int8_paths.items():
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        for values, name in ((model.graph.input, sig.INPUT_FLOAT), (model.graph.output, sig.OUTPUT_FLOAT)):
            assert [v.name for v in values] == [name]
            assert [d.dim_param or d.dim_value for d in values[0].type.tensor_type.shape.dim] == ["N", "H", "W", 3]
        convs = sum(n.op_type == "Conv" for n in onnx.load(os.path.join(export_dir, "onnx", f"{head}.onnx")).graph.node)
        ops = onnx_export.optimized_graph_ops(path)
        assert ops.get("QLinearConv", 0) == convs and "Conv" not in ops, ops  # every convolution runs in int8


def test_int8_weights_are_7_bit_so_cpus_without_vnni_do_not_saturate(int8_paths):
    # onnxruntime's u8×s8 kernels without VNNI add each pair of products in 16 bits with saturation; weights in
    # [-64, 64] keep every pair sum within int16 whatever the activations, so a VNNI machine (which never
    # saturates) still catches a file that would lose precision on an AVX2 one
    for path in int8_paths.values():
        model = onnx.load(path)
        weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        quantized = [weights[n.input[0]] for n in model.graph.node
                     if n.op_type == "DequantizeLinear" and weights.get(n.input[0], np.zeros(0, np.uint8)).dtype == np.int8]
        assert quantized  # every convolution's weights
        assert max(int(np.abs(w.astype(np.int32)).max()) for w in quantized) <= 64
        assert 2 * 255 * 64 <= np.iinfo(np.int16).max
        assert onnx_quantize.scheme(path) == onnx_quantize.SCHEMES[True]


def test_int8_matches_keras_within_the_measured_tolerance_at_any_size(int8_paths, trained_model, parity_images, rng):
    min_size = min_input_size(trained_model.config)
    for head, path in int8_paths.items():
        runner = onnx_export.OnnxRunner(path)
        keras_run = head_runner(trained_model, get_task(head))
        for image in [*parity_images, rng.random((5, 3, 3)).astype(np.float32)]:
            got = runner(image[None])[0]
            expected = restore_with(keras_run, image, min_size=min_size)
            assert got.shape == image.shape
            assert np.max(np.abs(got - expected)) <= MAX_DIFF
            assert float_psnr(got, expected) >= MIN_PSNR


def test_int8_needs_calibration(export_dir, report, tmp_path):
    with pytest.raises(ValueError, match="calibration"):
        onnx_quantize.quantize(os.path.join(export_dir, "onnx", f"{report['heads'][0]}.onnx"),
                               str(tmp_path / "x.onnx"), [])


def test_the_bundle_option_loads_the_calibration_crops_for_onnx_alone(trained_model):
    options = bundle.ExportConfig(formats=("onnx",), onnx_int8=True, calibration_count=2, calibration_size=8)
    crops = bundle._calibration_batches(trained_model, options)
    side = max(8, min_input_size(trained_model.config))
    assert [c.shape for c in crops] == [(1, side, side, 3)] * 2
    assert bundle._calibration_batches(trained_model, bundle.ExportConfig(formats=("onnx",))) == []
