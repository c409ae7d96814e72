"""Exports a trained network into one folder: SavedModels for TF Serving, TFLite, ONNX and a parity report.

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

Everything is written into a temporary folder beside DIR and renamed to DIR at the end, so a failed
export leaves nothing half-written.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import shutil
import weakref
from collections.abc import Callable

import numpy as np

from export import calibration, onnx_export, onnx_quantize, parity, serving_config, tflite
from export.calibration import PARITY_PHOTOS
from export.litert_runtime import LiteRunner, probe
from export.signature_names import (
    AUTO_MODEL,
    CLASSIFIER_MODEL,
    OUTPUT_FLOAT,
    OUTPUT_PROBABILITIES,
    OUTPUT_TASK,
)
from export.tflite import VARIANTS
from keras_durbm.atomic_files import atomic_dir, ensure_writable_dir, remove_stale_temporaries
from keras_durbm.config.engine import dump_yaml, option
from keras_durbm.config.model import min_input_size
from keras_durbm.config.tasks import get_task
from keras_durbm.restoration.routing import check_classifier, classifier_runner, classify, route
from keras_durbm.restoration.tiling import (
    TilingConfig,
    cached_runner,
    check_head,
    head_runner,
    pad_to_multiple,
    restore_with,
)
from tfrecords_tools.photos import load_photos

FORMATS = ("savedmodel", "tflite", "onnx")
BF16_SERVING = "serving_bf16"
REPORT_FILE = "report.json"
CONFIG_FILE = "model_config.yaml"


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What to export and how to measure it (defaults: everything, parity, latency at 512²)."""

    formats: tuple[str, ...] = option(FORMATS, f"comma list of {', '.join(FORMATS)}")
    heads: tuple[str, ...] = option((), "comma list of heads, names or letters (default: all)")
    version: int = option(1, "SavedModel version folder")
    tflite_variants: tuple[str, ...] = option(VARIANTS, f"comma list of {', '.join(VARIANTS)}")
    calibration: str | None = option(None, "int8 calibration: a folder of TFRecord shards or of images (default: "
                                     "scikit-image's bundled photographs)", metavar="DATA")
    calibration_count: int = option(32, "calibration crops")
    calibration_size: int = option(128, "calibration crop side")
    onnx_int8: bool = option(False, "also write ONNX Runtime static int8 (QDQ) heads, DIR/onnx/<head>.int8.onnx, "
                             "calibrated on the TFLite int8 crops")
    multihead: bool = option(False, "also write one SavedModel with a signature per head")
    bf16: bool = option(False, "also write the heads' SavedModels under mixed_bfloat16 (DIR/serving_bf16, for "
                        "CPUs with AVX512_BF16/AMX); measured in the report only on such a CPU")
    auto: bool = option(True, "skip the auto SavedModel and the classifier's TFLite/ONNX files (written for "
                        "models with a degradation classifier)")
    base_path: str = option("/models", "model base path in models.config (where the Docker command mounts "
                            "DIR/serving)")
    warmup_size: int = option(64, "side of the warm-up requests")
    parity: bool = option(True, "skip the parity report (faster)")
    parity_max_side: int = option(256, "parity photographs are downscaled to this longer side")
    latency_size: int = option(512, "latency is timed at this square size")
    latency_runs: int = option(5, "timed runs per artifact (median)")
    threads: int | None = option(None, "TFLite/onnxruntime threads (default: all cores)")
    overwrite: bool = option(False, "replace DIR if it exists (only after the new export is complete)")

    def __post_init__(self):
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise ValueError(f"unknown format(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(FORMATS)}")
        bad = [v for v in self.tflite_variants if v not in VARIANTS]
        if bad:
            raise ValueError(f"unknown TFLite variant(s) {', '.join(bad)}; choose from {', '.join(VARIANTS)}")
        for name in ("version", "calibration_count", "calibration_size", "warmup_size", "parity_max_side",
                     "latency_size", "latency_runs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")


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
    """Exports `model` into `out_dir` (see module doc) atomically and returns the report.

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
    if ("tflite" not in options.formats or "int8" not in options.tflite_variants) and not _writes_onnx_int8(options):
        return []
    images = calibration.load_images(options.calibration, limit=options.calibration_count)
    size = max(options.calibration_size, min_input_size(model.config))
    return calibration.calibration_batches(images, count=options.calibration_count, size=size)


def _export_into(model, root: str, heads: list[str], options: ExportConfig, calibration: list[np.ndarray],
                 progress: bool, provenance: dict) -> dict:
    from tqdm import tqdm

    from export import saved_model  # Keras and TensorFlow: imported at first use, so --help answers at once

    formats = set(options.formats)
    scratch = os.path.join(root, ".scratch")
    serving_dir = os.path.join(root, "serving") if "savedmodel" in formats else os.path.join(scratch, "serving")
    routed = routes(model, options)
    steps = len(heads) * (("savedmodel" in formats or "onnx" in formats) + ("onnx" in formats)
                          + ("tflite" in formats) * (1 + len(options.tflite_variants)))
    steps += options.multihead + bool(options.parity) + routed * len(formats)
    steps += len(heads) * _writes_bf16(options)
    steps += len(heads) * _writes_onnx_int8(options)
    bar = tqdm(total=steps, desc="export", unit="step", disable=not progress)
    dump_yaml(model.config, os.path.join(root, CONFIG_FILE))

    if formats & {"savedmodel", "onnx"}:
        for head in heads:
            bar.set_postfix_str(f"SavedModel {head}")
            saved_model.export_head(model, head, saved_model.head_dir(serving_dir, head, options.version),
                                    warmup_size=options.warmup_size)
            bar.update()
        if "savedmodel" in formats:
            if routed:
                bar.set_postfix_str("SavedModel auto")
                saved_model.export_auto(model, saved_model.head_dir(serving_dir, AUTO_MODEL, options.version),
                                        warmup_size=options.warmup_size)
                bar.update()
            serving_config.write_serving_files(serving_dir, heads + [AUTO_MODEL] * routed, options.base_path)
    if _writes_bf16(options):
        bf16_model = _bf16_model(model)
        for head in heads:
            bar.set_postfix_str(f"SavedModel bf16 {head}")
            saved_model.export_head(bf16_model, head, saved_model.head_dir(os.path.join(root, BF16_SERVING), head,
                                                                           options.version),
                                    warmup_size=options.warmup_size)
            bar.update()
        serving_config.write_serving_files(os.path.join(root, BF16_SERVING), heads, options.base_path)
    if options.multihead:
        bar.set_postfix_str("multi-head SavedModel")
        saved_model.export_multihead(model, os.path.join(root, saved_model.MULTIHEAD_NAME, str(options.version)))
        bar.update()
    if "tflite" in formats:
        _export_tflite(model, root, scratch, heads, options, calibration, bar)
    if "onnx" in formats:
        for head in heads:
            bar.set_postfix_str(f"ONNX {head}")
            onnx_export.convert(saved_model.head_dir(serving_dir, head, options.version),
                                os.path.join(root, "onnx", f"{head}.onnx"))
            bar.update()
            if _writes_onnx_int8(options):
                bar.set_postfix_str(f"ONNX int8 {head}")
                onnx_quantize.quantize(os.path.join(root, "onnx", f"{head}.onnx"),
                                       os.path.join(root, "onnx", f"{head}.int8.onnx"), calibration)
                bar.update()
        if routed:
            bar.set_postfix_str("ONNX classifier")
            source = saved_model.export_classifier(model, os.path.join(scratch, CLASSIFIER_MODEL))
            onnx_export.convert(source, os.path.join(root, "onnx", f"{CLASSIFIER_MODEL}.onnx"),
                                outputs={OUTPUT_PROBABILITIES: ["N", len(model.classes)]})
            bar.update()

    report = {
        "model": provenance.get("model", ""),
        "command": provenance.get("command", ""),
        "heads": heads,
        "classes": list(model.classes) if routed else [],
        "formats": list(options.formats),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "latency_size": options.latency_size,
        "bf16_cpu_flags": list(_cpu_bf16_flags()),
        "rows": [],
    }
    if options.parity:
        bar.set_postfix_str("parity")
        report.update(_measure(model, root, serving_dir, heads, options))
        bar.update()
    bar.close()
    shutil.rmtree(scratch, ignore_errors=True)
    parity.write_report(os.path.join(root, REPORT_FILE), report)
    return report


def _export_tflite(model, root: str, scratch: str, heads: list[str], options: ExportConfig,
                   calibration: list[np.ndarray], bar) -> None:
    from export import lite_graph  # Keras and TensorFlow: imported at first use, so --help answers at once

    for head in heads:
        bar.set_postfix_str(f"TFLite graph {head}")
        source = lite_graph.write_aligned_head(model, head, os.path.join(scratch, "lite", head))
        bar.update()
        for variant in options.tflite_variants:
            bar.set_postfix_str(f"TFLite {variant} {head}")
            path = os.path.join(root, "tflite", head, f"{variant}.tflite")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(tflite.convert(source, variant, calibration))
            bar.update()
    if routes(model, options):
        bar.set_postfix_str("TFLite classifier")
        source = lite_graph.write_aligned_classifier(model, os.path.join(scratch, "lite", CLASSIFIER_MODEL))
        path = os.path.join(root, "tflite", CLASSIFIER_MODEL, "fp32.tflite")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(tflite.convert(source, "fp32"))
        bar.update()


def _writes_onnx_int8(options: ExportConfig) -> bool:
    return options.onnx_int8 and "onnx" in options.formats


def _writes_bf16(options: ExportConfig) -> bool:
    return options.bf16 and "savedmodel" in options.formats


def routes(model, options: ExportConfig, source: str = "") -> bool:
    """Whether the export has the blind-restoration artifacts (auto SavedModel, classifier files); a
    classifier of earlier statistics is a KeyError saying how to replace it (or pass --no-auto)."""
    if not (model.config.classifier and options.auto):
        return False
    check_classifier(model, source, otherwise="export the heads alone with --no-auto")
    return True


@dataclasses.dataclass
class _Artifact:
    """One exported model ready to run: any-size restore for parity, batch call for latency."""

    format: str
    variant: str
    head: str
    path: str
    restore: parity.Restorer
    batch_run: Callable[[np.ndarray], object]
    xnnpack: dict | None = None
    note: str = ""
    note_of: Callable[[np.ndarray], str] | None = None  # a note read from the latency run's input


def runners(model, root: str, heads: list[str], options: ExportConfig) -> list[_Artifact]:
    """Ready-to-run models of an export in `root` written by `export_bundle(model, root, options)`, in
    the report's order: per head Keras, SavedModel (bf16 ones where written and the CPU has bf16 units),
    each TFLite variant (with its XNNPACK probe at `options.latency_size`) and ONNX (`bench/deploy.py`)."""
    return _artifacts(model, root, os.path.join(root, "serving"), heads, options)


def _artifacts(model, root: str, serving_dir: str, heads: list[str], options: ExportConfig) -> list[_Artifact]:
    """Runners of everything exported, in table order (Keras first as the latency baseline)."""
    import tensorflow as tf

    from export import saved_model  # Keras and TensorFlow: imported at first use

    min_size = min_input_size(model.config)
    formats = set(options.formats)
    found = []
    for head in heads:
        keras_run = head_runner(model, get_task(head))
        found.append(_Artifact("keras", "", head, "", lambda x, r=keras_run: restore_with(r, x, min_size=min_size),
                               keras_run))
        if "savedmodel" in formats:
            path = saved_model.head_dir(serving_dir, head, options.version)
            fn = saved_model.load_signature(path)

            def sm_batch(batch, fn=fn):
                return fn(image=tf.constant(batch, tf.float32))["restored"].numpy()

            found.append(_Artifact("savedmodel", "", head, path, lambda x, r=sm_batch: r(x[None])[0], sm_batch))
        found += _bf16_artifacts(model, root, head, options)
        for variant in options.tflite_variants if "tflite" in formats else ():
            path = os.path.join(root, "tflite", head, f"{variant}.tflite")
            check = probe(path, options.latency_size, options.latency_size, num_threads=options.threads)
            runner = LiteRunner(path, num_threads=options.threads, xnnpack=check["ok"])
            note = "" if check["ok"] else "run without XNNPACK (built-in kernels)"
            xnn = {k: v for k, v in check.items() if k != "ok"}
            found.append(_Artifact("tflite", variant, head, path,
                                   lambda x, r=runner: restore_with(r, x, min_size=min_size), runner, xnn, note))
        if "onnx" in formats:
            path = os.path.join(root, "onnx", f"{head}.onnx")
            runner = onnx_export.OnnxRunner(path, options.threads)
            found.append(_Artifact("onnx", "", head, path, lambda x, r=runner: r(x[None])[0], runner))
            if _writes_onnx_int8(options):
                path = os.path.join(root, "onnx", f"{head}.int8.onnx")
                runner = onnx_export.OnnxRunner(path, options.threads)
                found.append(_Artifact("onnx", "int8", head, path, lambda x, r=runner: r(x[None])[0], runner,
                                       note=f"static int8 (QDQ), convolutions only; {onnx_quantize.scheme(path)}"))
    if routes(model, options):
        found += _routing_artifacts(model, root, serving_dir, options)
    return found


def _bf16_artifacts(model, root: str, head: str, options: ExportConfig) -> list[_Artifact]:
    """The mixed_bfloat16 Keras head and its SavedModel, only on a CPU with bf16 units (elsewhere
    TensorFlow emulates bfloat16, slower than float32, and the numbers would say nothing)."""
    import tensorflow as tf

    from export import saved_model
    from keras_durbm.models import head_model
    from keras_durbm.models.precision import BF16_POLICY, float32_outputs

    flags = _cpu_bf16_flags()
    if not _writes_bf16(options) or not flags:
        return []
    min_size = min_input_size(model.config)
    bf16_model = _bf16_model(model)
    keras_run = cached_runner(bf16_model, f"{head}:float32",
                              lambda: float32_outputs(head_model(bf16_model, head)))
    path = saved_model.head_dir(os.path.join(root, BF16_SERVING), head, options.version)
    fn = saved_model.load_signature(path)

    def sm_batch(batch):
        return fn(image=tf.constant(batch, tf.float32))[OUTPUT_FLOAT].numpy()

    note = f"{BF16_POLICY}; CPU: {', '.join(flags)}"
    return [_Artifact("keras", "bf16", head, "", lambda x: restore_with(keras_run, x, min_size=min_size), keras_run,
                      note=note),
            _Artifact("savedmodel", "bf16", head, path, lambda x: sm_batch(x[None])[0], sm_batch, note=note)]


def _bf16_model(model):
    """`model` under mixed_bfloat16, built once per model."""
    from keras_durbm.models.precision import BF16_POLICY, with_dtype_policy

    if model not in _BF16_MODELS:
        _BF16_MODELS[model] = with_dtype_policy(model, BF16_POLICY)
    return _BF16_MODELS[model]


_BF16_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cpu_bf16_flags() -> tuple[str, ...]:
    from keras_durbm.models.precision import cpu_bf16_flags  # Keras: imported at first use

    return cpu_bf16_flags()


def _routing_artifacts(model, root: str, serving_dir: str, options: ExportConfig) -> list[_Artifact]:
    """The auto SavedModel (restored images, clipped as `route` gives them) and the classifier files
    (probabilities), each beside its Keras reference."""
    import tensorflow as tf

    from export import saved_model

    formats = set(options.formats)
    min_size = min_input_size(model.config)
    found = []
    if "savedmodel" in formats:
        path = saved_model.head_dir(serving_dir, AUTO_MODEL, options.version)
        fn = saved_model.load_signature(path)

        def auto_batch(batch):
            return fn(image=tf.constant(batch, tf.float32))[OUTPUT_FLOAT].numpy()

        def auto_task(batch):
            return fn(image=tf.constant(batch, tf.float32))[OUTPUT_TASK].numpy()[0].decode()

        found.append(_Artifact("savedmodel", "", AUTO_MODEL, path,
                               lambda x: np.clip(auto_batch(x[None])[0], 0.0, 1.0), auto_batch,
                               note_of=lambda batch: f"routed the latency image to {auto_task(batch)}"))
    keras_run = classifier_runner(model)
    found.append(_Artifact("keras", "", CLASSIFIER_MODEL, "", lambda x: _classify(model, x), keras_run))
    if "tflite" in formats:
        path = os.path.join(root, "tflite", CLASSIFIER_MODEL, "fp32.tflite")
        check = probe(path, options.latency_size, options.latency_size, num_threads=options.threads)
        runner = LiteRunner(path, num_threads=options.threads, xnnpack=check["ok"])
        found.append(_Artifact("tflite", "fp32", CLASSIFIER_MODEL, path,
                               lambda x, r=runner: r(pad_to_multiple(x[None], min_size=min_size)[0])[0], runner,
                               {k: v for k, v in check.items() if k != "ok"},
                               "" if check["ok"] else "run without XNNPACK (built-in kernels)"))
    if "onnx" in formats:
        path = os.path.join(root, "onnx", f"{CLASSIFIER_MODEL}.onnx")
        runner = onnx_export.OnnxRunner(path, options.threads)
        found.append(_Artifact("onnx", "", CLASSIFIER_MODEL, path, lambda x, r=runner: r(x[None])[0], runner))
    return found


def _classify(model, image: np.ndarray) -> np.ndarray:
    """The Keras classifier's probabilities of one whole image, in `model.classes` order."""
    return np.asarray(list(classify(model, image, tile_above=None).probabilities.values()), np.float32)


def _measure(model, root: str, serving_dir: str, heads: list[str], options: ExportConfig) -> dict:

    photos = load_photos(PARITY_PHOTOS, options.parity_max_side)
    images = [p.astype(np.float32) / np.float32(255.0) for _, p in photos]
    latency_batch = np.random.default_rng(0).random((1, options.latency_size, options.latency_size, 3),
                                                     dtype=np.float32)
    min_size = min_input_size(model.config)
    references = {h: [restore_with(head_runner(model, get_task(h)), x, min_size=min_size) for x in images]
                  for h in heads}
    if routes(model, options):
        references[AUTO_MODEL] = [route(model, x, tiling=TilingConfig(tile_above=0)).image for x in images]
        references[CLASSIFIER_MODEL] = [_classify(model, x) for x in images]
    rows = []
    for art in _artifacts(model, root, serving_dir, heads, options):
        note = art.note
        if art.head == CLASSIFIER_MODEL:
            found = [np.asarray(art.restore(x)) for x in images]
            diff = max(float(np.max(np.abs(f - r))) for f, r in zip(found, references[art.head], strict=True))
            same = sum(int(np.argmax(f) == np.argmax(r)) for f, r in zip(found, references[art.head], strict=True))
            psnr, compares = math.inf, "probabilities"
            note = f"same class as Keras on {same}/{len(images)}" + (f"; {note}" if note else "")
        else:
            diff, psnr = parity.compare(art.restore, images, references[art.head])
            compares = "image"
        if art.note_of is not None:
            note = "; ".join(filter(None, [note, art.note_of(latency_batch)]))
        rows.append(parity.ParityRow(
            format=art.format, variant=art.variant, head=art.head,
            path=os.path.relpath(art.path, root) if art.path else "",
            size_bytes=parity.directory_size(art.path) if art.path else 0,
            max_abs_diff=diff, psnr_db=None if math.isinf(psnr) else psnr,
            latency_ms=parity.median_latency_ms(art.batch_run, latency_batch, options.latency_runs),
            xnnpack=art.xnnpack, note=note, compares=compares))
    return {"parity_images": [{"name": n, "height": p.shape[0], "width": p.shape[1]} for n, p in photos],
            "rows": rows}
