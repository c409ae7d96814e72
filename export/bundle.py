"""Exports a trained network into one folder: SavedModels for TF Serving, TFLite, ONNX and a parity report.

The folder's layout is `export.layout`'s, the options are `export.options.ExportConfig`, and the work is
the list of steps of `export.plan`, run here in order under a progress bar. Everything is written into
a temporary folder beside DIR and renamed to DIR at the end, so a failed export leaves nothing
half-written.
"""

from __future__ import annotations

import os
import platform
import shutil

import numpy as np

from export import calibration, layout, parity, plan
from export.bf16 import cpu_bf16_flags
from export.options import ExportConfig, routes, writes_onnx_int8
from keras_durbm.atomic_files import atomic_dir, ensure_writable_dir, remove_stale_temporaries
from keras_durbm.config.model import min_input_size
from keras_durbm.config.tasks import get_task
from keras_durbm.restoration.tiling import check_head


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output_dir(out_dir: str, overwrite: bool, source: str | None = None) -> None:
    """Fails early (before any work) when DIR exists without `overwrite`, would touch the model's source
    (`source`: the `.keras` file or the training run folder the user named), or its parent is not writable.

    A run folder is protected whole: DIR may not be it, contain it or lie inside it (its checkpoints
    and config would be replaced or mixed with the export). A `.keras` file may not be DIR or inside it.
    """
    if source is not None:
        clash = (_inside(out_dir, source) or _inside(source, out_dir)) if os.path.isdir(source) \
            else _inside(source, out_dir)
        if clash:
            what = "training run folder" if os.path.isdir(source) else "model file"
            raise ValueError(f"output {out_dir} would replace or mix with the {what} {source}; "
                             "export into a folder of its own")
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"output {out_dir} already exists; choose a new folder or pass --overwrite")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise FileExistsError(f"output {out_dir} exists and is not a folder")
    parent = os.path.dirname(os.path.abspath(out_dir))
    try:
        ensure_writable_dir(parent)
    except OSError as error:
        raise PermissionError(f"cannot write the export next to {out_dir}: {error.strerror or error}") from None


def resolve_heads(model, heads: tuple[str, ...]) -> list[str]:
    """Head names to export (names or letters), in the model's order; unknown ones raise KeyError."""
    if not heads:
        return list(model.task_names)
    wanted = set()
    for h in heads:
        try:
            task = get_task(h)
        except KeyError as error:  # name the model's heads too, as check_head does for a known task
            raise KeyError(f"{error.args[0]}; this model's heads: {', '.join(model.task_names)}") from None
        wanted.add(check_head(model, task))
    return [h for h in model.task_names if h in wanted]


def export_bundle(model, out_dir: str, options: ExportConfig = ExportConfig(), *, progress: bool = True,
                  provenance: dict | None = None) -> dict:
    """Exports `model` into `out_dir` (laid out as `export.layout` says) atomically and returns the report.

    Temporary folders left beside `out_dir` by an interrupted export (whose process is gone) are
    removed first; their paths are in the report's `removed_temporaries`.
    """
    heads = resolve_heads(model, options.heads)
    check_output_dir(out_dir, options.overwrite, (provenance or {}).get("model"))
    removed = remove_stale_temporaries(out_dir)
    calibration = _calibration_batches(model, options)  # bad calibration data fails before any work
    with atomic_dir(out_dir, overwrite=options.overwrite) as tmp:
        report = _export_into(model, tmp, heads, options, calibration, progress, provenance or {})
    report["removed_temporaries"] = removed
    return report


def _calibration_batches(model, options: ExportConfig) -> list[np.ndarray]:
    """The int8 calibration crops (empty when no full-int8 TFLite model is exported)."""
    if ("tflite" not in options.formats or "int8" not in options.tflite_variants) and not writes_onnx_int8(options):
        return []
    images = calibration.load_images(options.calibration, limit=options.calibration_count)
    size = max(options.calibration_size, min_input_size(model.config))
    return calibration.calibration_batches(images, count=options.calibration_count, size=size)


def _export_into(model, root: str, heads: list[str], options: ExportConfig, calibration: list[np.ndarray],
                 progress: bool, provenance: dict) -> dict:
    from tqdm import tqdm

    report = {
        "model": provenance.get("model", ""),
        "command": provenance.get("command", ""),
        "heads": heads,
        "classes": list(model.classes) if routes(model, options) else [],
        # do no harm: below this top probability `auto` returns the image (a device app applies it too)
        "routing_threshold": float(getattr(model, "routing_threshold", 0.0)) if routes(model, options) else None,
        "formats": list(options.formats),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "latency_size": options.latency_size,
        "bf16_cpu_flags": list(cpu_bf16_flags()),
        "rows": [],
    }
    bar = tqdm(plan.export_steps(model, root, heads, options, calibration, report), desc="export", unit="step",
               disable=not progress)
    for step in bar:
        bar.set_postfix_str(step.description)
        step.run()
    shutil.rmtree(layout.scratch_dir(root), ignore_errors=True)
    parity.write_report(os.path.join(root, layout.REPORT_FILE), report)
    return report
