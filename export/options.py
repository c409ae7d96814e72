"""The export's options (`ExportConfig`, from which `python -m export` derives its flags) and what they ask for.

Besides the formats, some artifacts depend on an option and on something else: the bf16 SavedModels on
`savedmodel` being written, the ONNX int8 heads on `onnx`, and the blind-restoration ones (the auto
SavedModel, the classifier's TFLite and ONNX files) on the model having a degradation classifier.
"""

from __future__ import annotations

import dataclasses

from export.tflite_export import VARIANTS
from keras_durbm.config.engine import option
from keras_durbm.restoration.routing import check_classifier

FORMATS = ("savedmodel", "tflite", "onnx")


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


def writes_onnx_int8(options: ExportConfig) -> bool:
    """Whether the export has the ONNX static int8 heads (asked for, and ONNX written)."""
    return options.onnx_int8 and "onnx" in options.formats


def writes_bf16(options: ExportConfig) -> bool:
    """Whether the export has the mixed_bfloat16 SavedModels (asked for, and SavedModels written)."""
    return options.bf16 and "savedmodel" in options.formats


def routes(model, options: ExportConfig, source: str = "") -> bool:
    """Whether the export has the blind-restoration artifacts (auto SavedModel, classifier files); a
    classifier of earlier statistics is a KeyError saying how to replace it (or pass --no-auto)."""
    if not (model.config.classifier and options.auto):
        return False
    check_classifier(model, source, otherwise="export the heads alone with --no-auto")
    return True
