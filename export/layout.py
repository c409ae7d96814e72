"""Where each file of an export lies in its folder DIR, for the steps that write them and the runners that read them.

    DIR/serving/<head>/<version>/   SavedModel per head (+ assets.extra/tf_serving_warmup_requests)
    DIR/serving/auto/<version>/     with a degradation classifier: the classifier picks the head, in-graph
    DIR/serving/models.config       every head (and auto), for tensorflow_model_server --model_config_file
    DIR/serving/batching_parameters.txt
    DIR/multihead/<version>/        optional: one SavedModel, a signature per head
    DIR/serving_bf16/<head>/<version>/  optional (--bf16): the heads under mixed_bfloat16, same signatures
    DIR/tflite/<head>/<variant>.tflite
    DIR/tflite/classifier/fp32.tflite   the degradation classifier alone (classify, then run that head)
    DIR/onnx/<head>.onnx
    DIR/onnx/<head>.int8.onnx       optional (--onnx-int8): ONNX Runtime static int8 (QDQ), same calibration
    DIR/onnx/classifier.onnx
    DIR/model_config.yaml           the network's effective config
    DIR/report.json                 parity with Keras, sizes, latency, XNNPACK partitions

Intermediate files (the SavedModels that TFLite and ONNX are converted from, when not exported
themselves) go to DIR/.scratch, removed at the end.
"""

from __future__ import annotations

import os

SERVING = "serving"
BF16_SERVING = "serving_bf16"
REPORT_FILE = "report.json"
CONFIG_FILE = "model_config.yaml"
SCRATCH = ".scratch"


def scratch_dir(root: str) -> str:
    """The folder of intermediate files inside the export `root`."""
    return os.path.join(root, SCRATCH)


def serving_dir(root: str, formats: tuple[str, ...]) -> str:
    """Where the heads' SavedModels go: DIR/serving, or the scratch folder when only ONNX is converted from them."""
    return os.path.join(root, SERVING) if "savedmodel" in formats else os.path.join(scratch_dir(root), SERVING)


def bf16_serving_dir(root: str) -> str:
    """DIR/serving_bf16, the mixed_bfloat16 SavedModels (TF Serving's layout, as DIR/serving)."""
    return os.path.join(root, BF16_SERVING)


def tflite_path(root: str, name: str, variant: str) -> str:
    """DIR/tflite/<head or classifier>/<variant>.tflite."""
    return os.path.join(root, "tflite", name, f"{variant}.tflite")


def onnx_path(root: str, name: str, variant: str = "") -> str:
    """DIR/onnx/<head or classifier>.onnx, or .<variant>.onnx (int8)."""
    return os.path.join(root, "onnx", f"{name}.{variant}.onnx" if variant else f"{name}.onnx")
