"""The models of a written export, each ready to run (`export.parity.Artifact`) for its parity report and benchmarks.

In the report's order: per head Keras (the latency baseline), SavedModel, the bf16 Keras head and
SavedModel (where written and the CPU has bf16 units), each TFLite variant (run under XNNPACK when a
probe in a child process says it can) and ONNX (fp32, then int8); then, with a degradation classifier,
the auto SavedModel and the classifier in each format. Read by the parity report and `bench/deploy.py`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from export import layout, onnx_export, onnx_quantize
from export.bf16 import bf16_model, cpu_bf16_flags
from export.options import ExportConfig, routes, writes_bf16, writes_onnx_int8
from export.parity import Artifact, keras_probabilities
from export.signature_names import AUTO_MODEL, CLASSIFIER_MODEL, OUTPUT_FLOAT, OUTPUT_TASK
from export.tflite_runtime import LiteRunner, probe
from keras_durbm.config.model import min_input_size
from keras_durbm.config.tasks import get_task
from keras_durbm.restoration.routing import classifier_runner
from keras_durbm.restoration.tiling import cached_runner, head_runner, pad_to_multiple, restore_with


def runners(model, root: str, heads: list[str], options: ExportConfig) -> list[Artifact]:
    """Ready-to-run models of an export in `root` written by `export_bundle(model, root, options)`, in
    the report's order: per head Keras, SavedModel (bf16 ones where written and the CPU has bf16 units),
    each TFLite variant (with its XNNPACK probe at `options.latency_size`) and ONNX (`bench/deploy.py`)."""
    from export import saved_model  # Keras and TensorFlow: imported at first use

    min_size = min_input_size(model.config)
    formats = set(options.formats)
    found = []
    for head in heads:
        found.append(_keras("", head, head_runner(model, get_task(head)), min_size))
        if "savedmodel" in formats:
            found.append(_saved_model("", head, saved_model.head_dir(layout.serving_dir(root, options.formats), head,
                                                                     options.version)))
        found += _bf16_artifacts(model, root, head, options)
        for variant in options.tflite_variants if "tflite" in formats else ():
            found.append(_tflite(variant, head, layout.tflite_path(root, head, variant), options,
                                 lambda runner, x: restore_with(runner, x, min_size=min_size)))
        if "onnx" in formats:
            found.append(_onnx("", head, layout.onnx_path(root, head), options))
            if writes_onnx_int8(options):
                path = layout.onnx_path(root, head, "int8")
                found.append(_onnx("int8", head, path, options,
                                   f"static int8 (QDQ), convolutions only; {onnx_quantize.scheme(path)}"))
    if routes(model, options):
        found += _routing_artifacts(model, root, options)
    return found


def _bf16_artifacts(model, root: str, head: str, options: ExportConfig) -> list[Artifact]:
    """The mixed_bfloat16 Keras head and its SavedModel, only on a CPU with bf16 units (elsewhere
    TensorFlow emulates bfloat16, slower than float32, and the numbers would say nothing)."""
    from export import saved_model
    from keras_durbm.models import head_model
    from keras_durbm.models.precision import BF16_POLICY, float32_outputs

    flags = cpu_bf16_flags()
    if not writes_bf16(options) or not flags:
        return []
    bf16 = bf16_model(model)
    keras_run = cached_runner(bf16, f"{head}:float32", lambda: float32_outputs(head_model(bf16, head)))
    path = saved_model.head_dir(layout.bf16_serving_dir(root), head, options.version)
    note = f"{BF16_POLICY}; CPU: {', '.join(flags)}"
    return [_keras("bf16", head, keras_run, min_input_size(model.config), note),
            _saved_model("bf16", head, path, note)]


def _routing_artifacts(model, root: str, options: ExportConfig) -> list[Artifact]:
    """The auto SavedModel (restored images, clipped as `route` gives them) and the classifier files
    (probabilities), each beside its Keras reference."""
    from export import saved_model

    formats = set(options.formats)
    min_size = min_input_size(model.config)
    found = []
    if "savedmodel" in formats:
        path = saved_model.head_dir(layout.serving_dir(root, options.formats), AUTO_MODEL, options.version)
        auto = _serving_default(path)

        def auto_batch(batch):
            return auto(batch)[OUTPUT_FLOAT].numpy()

        def auto_task(batch):
            return auto(batch)[OUTPUT_TASK].numpy()[0].decode()

        # the graph's do-no-harm threshold is the model's `routing_threshold`, which `route` (the parity
        # reference, `measure`) also applies by default: below it both return the image unchanged
        threshold = saved_model.routing_threshold(model)
        note = f"do-no-harm threshold {threshold:.3g} (below it: unchanged, task clean)" if threshold > 0 else ""
        found.append(Artifact("savedmodel", "", AUTO_MODEL, path,
                              lambda x: np.clip(auto_batch(x[None])[0], 0.0, 1.0), auto_batch, note=note,
                              note_of=lambda batch: f"routed the latency image to {auto_task(batch)}"))
    found.append(Artifact("keras", "", CLASSIFIER_MODEL, "", lambda x: keras_probabilities(model, x),
                          classifier_runner(model)))
    if "tflite" in formats:
        found.append(_tflite("fp32", CLASSIFIER_MODEL, layout.tflite_path(root, CLASSIFIER_MODEL, "fp32"), options,
                             lambda runner, x: runner(pad_to_multiple(x[None], min_size=min_size)[0])[0]))
    if "onnx" in formats:
        found.append(_onnx("", CLASSIFIER_MODEL, layout.onnx_path(root, CLASSIFIER_MODEL), options))
    return found


def _keras(variant: str, head: str, run, min_size: int, note: str = "") -> Artifact:
    """A Keras head runner: restores any size through tiling's padding."""
    return Artifact("keras", variant, head, "", lambda x: restore_with(run, x, min_size=min_size), run, note=note)


def _serving_default(path: str) -> Callable[[np.ndarray], dict]:
    """The SavedModel's `serving_default` on a float32 NHWC batch: its output tensors by name."""
    import tensorflow as tf

    from export import saved_model

    fn = saved_model.load_signature(path)
    return lambda batch: fn(image=tf.constant(batch, tf.float32))


def _saved_model(variant: str, head: str, path: str, note: str = "") -> Artifact:
    """A head's SavedModel (its signature pads and crops itself)."""
    call = _serving_default(path)

    def batch_run(batch):
        return call(batch)[OUTPUT_FLOAT].numpy()

    return Artifact("savedmodel", variant, head, path, lambda x: batch_run(x[None])[0], batch_run, note=note)


def _tflite(variant: str, name: str, path: str, options: ExportConfig,
            restore: Callable[[LiteRunner, np.ndarray], np.ndarray]) -> Artifact:
    """A TFLite model under XNNPACK, or the built-in kernels where the probe (at the latency size) failed;
    `restore(runner, image)` pads and crops for it."""
    check = probe(path, options.latency_size, options.latency_size, num_threads=options.threads)
    runner = LiteRunner(path, num_threads=options.threads, xnnpack=check["ok"])
    return Artifact("tflite", variant, name, path, lambda x: restore(runner, x), runner,
                    {k: v for k, v in check.items() if k != "ok"},
                    "" if check["ok"] else "run without XNNPACK (built-in kernels)")


def _onnx(variant: str, name: str, path: str, options: ExportConfig, note: str = "") -> Artifact:
    """An ONNX model (its graph pads and crops itself)."""
    runner = onnx_export.OnnxRunner(path, options.threads)
    return Artifact("onnx", variant, name, path, lambda x: runner(x[None])[0], runner, note=note)
