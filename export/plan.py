"""The export as an ordered list of steps, each writing one part of the folder, which the progress bar iterates.

A format's artifacts are written by its steps and by nothing else, so the bar's total is the list's
length: adding a format or a variant adds steps, with no count kept apart. The steps only run when
`export.bundle` iterates them, inside its temporary folder; where each file goes is `export.layout`'s.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from functools import partial

import numpy as np

from export import layout, onnx_export, onnx_quantize, parity, serving_config, tflite_export
from export.artifacts import runners
from export.bf16 import bf16_model
from export.options import ExportConfig, routes, writes_bf16, writes_onnx_int8
from export.signature_names import AUTO_MODEL, CLASSIFIER_MODEL, OUTPUT_PROBABILITIES
from keras_durbm.config.engine import dump_yaml


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of an export: what the progress bar shows while it runs, and the call that does it."""

    description: str
    run: Callable[[], object]


def export_steps(model, root: str, heads: list[str], options: ExportConfig, calibration: list[np.ndarray],
                 report: dict) -> list[Step]:
    """The steps that export `model` into `root`, in order: the model's config, the SavedModels (bf16 and
    multi-head ones too where asked for) and their serving files, TFLite, ONNX, then the parity of them
    all, which the last step adds to `report`. `calibration`: the int8 crops (empty when no int8 is written)."""
    routed = routes(model, options)
    steps = [Step("model config", partial(dump_yaml, model.config, os.path.join(root, layout.CONFIG_FILE)))]
    steps += _saved_model_steps(model, root, heads, options, routed)
    if "tflite" in options.formats:
        steps += _tflite_steps(model, root, heads, options, calibration, routed)
    if "onnx" in options.formats:
        steps += _onnx_steps(model, root, heads, options, calibration, routed)
    if options.parity:
        steps.append(Step("parity", partial(_measure_into, report, model, root, heads, options)))
    return steps


def _saved_model_steps(model, root: str, heads: list[str], options: ExportConfig, routed: bool) -> list[Step]:
    """The heads' SavedModels (ONNX is converted from them, so written for it too, into the scratch folder
    when not exported), the auto model, the serving files, the bf16 heads and the multi-head SavedModel."""
    from export import saved_model  # Keras and TensorFlow: imported at first use, so --help answers at once

    serving, version = layout.serving_dir(root, options.formats), options.version
    steps = []
    if {"savedmodel", "onnx"} & set(options.formats):
        steps += [Step(f"SavedModel {head}", partial(saved_model.export_head, model, head,
                                                     saved_model.head_dir(serving, head, version),
                                                     warmup_size=options.warmup_size))
                  for head in heads]
    if "savedmodel" in options.formats:
        if routed:
            steps.append(Step("SavedModel auto", partial(saved_model.export_auto, model,
                                                         saved_model.head_dir(serving, AUTO_MODEL, version),
                                                         warmup_size=options.warmup_size)))
        steps.append(Step("serving files", partial(serving_config.write_serving_files, serving,
                                                   heads + [AUTO_MODEL] * routed, options.base_path)))
    if writes_bf16(options):
        bf16_serving = layout.bf16_serving_dir(root)
        steps += [Step(f"SavedModel bf16 {head}", partial(_export_bf16_head, model, head,
                                                          saved_model.head_dir(bf16_serving, head, version),
                                                          options.warmup_size))
                  for head in heads]
        steps.append(Step("serving files bf16", partial(serving_config.write_serving_files, bf16_serving, heads,
                                                        options.base_path)))
    if options.multihead:
        steps.append(Step("multi-head SavedModel", partial(
            saved_model.export_multihead, model, os.path.join(root, saved_model.MULTIHEAD_NAME, str(version)))))
    return steps


def _export_bf16_head(model, head: str, version_dir: str, warmup_size: int) -> None:
    from export import saved_model

    saved_model.export_head(bf16_model(model), head, version_dir, warmup_size=warmup_size)


def _tflite_steps(model, root: str, heads: list[str], options: ExportConfig, calibration: list[np.ndarray],
                  routed: bool) -> list[Step]:
    """Per head its aligned-size graph (in the scratch folder), then each variant converted from it; the
    classifier's float32 model."""
    from export import tflite_graph  # Keras and TensorFlow: imported at first use

    steps = []
    for head in heads:
        source = os.path.join(layout.scratch_dir(root), "lite", head)
        steps.append(Step(f"TFLite graph {head}", partial(tflite_graph.write_aligned_head, model, head, source)))
        steps += [Step(f"TFLite {variant} {head}", partial(_write_tflite, source, variant, calibration,
                                                           layout.tflite_path(root, head, variant)))
                  for variant in options.tflite_variants]
    if routed:
        steps.append(Step("TFLite classifier", partial(_write_tflite_classifier, model, root)))
    return steps


def _write_tflite(source: str, variant: str, calibration: list[np.ndarray], path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(tflite_export.convert(source, variant, calibration))


def _write_tflite_classifier(model, root: str) -> None:
    from export import tflite_graph

    source = tflite_graph.write_aligned_classifier(model, os.path.join(layout.scratch_dir(root), "lite",
                                                                       CLASSIFIER_MODEL))
    _write_tflite(source, "fp32", [], layout.tflite_path(root, CLASSIFIER_MODEL, "fp32"))


def _onnx_steps(model, root: str, heads: list[str], options: ExportConfig, calibration: list[np.ndarray],
                routed: bool) -> list[Step]:
    """Per head ONNX converted from its SavedModel, then (--onnx-int8) quantized; the classifier."""
    from export import saved_model

    steps = []
    for head in heads:
        path = layout.onnx_path(root, head)
        steps.append(Step(f"ONNX {head}", partial(
            onnx_export.convert, saved_model.head_dir(layout.serving_dir(root, options.formats), head,
                                                      options.version), path)))
        if writes_onnx_int8(options):
            steps.append(Step(f"ONNX int8 {head}", partial(onnx_quantize.quantize, path,
                                                           layout.onnx_path(root, head, "int8"), calibration)))
    if routed:
        steps.append(Step("ONNX classifier", partial(_write_onnx_classifier, model, root)))
    return steps


def _write_onnx_classifier(model, root: str) -> None:
    from export import saved_model

    source = saved_model.export_classifier(model, os.path.join(layout.scratch_dir(root), CLASSIFIER_MODEL))
    onnx_export.convert(source, layout.onnx_path(root, CLASSIFIER_MODEL),
                        outputs={OUTPUT_PROBABILITIES: ["N", len(model.classes)]})


def _measure_into(report: dict, model, root: str, heads: list[str], options: ExportConfig) -> None:
    report.update(parity.measure(model, root, runners(model, root, heads, options), heads, options))
