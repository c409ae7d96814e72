"""Parity of exported models with the Keras model: max |Δ|, PSNR, file size and latency, as a table.

Every format restores the same real photographs at their own odd sizes (padding and cropping as each
format's contract says) and is compared with the Keras head restoring them through
`keras_durbm.restoration.tiling`. PSNR here is computed on float outputs clipped to [0, 1] with peak 1
(not the uint8 protocol of `keras_durbm.scoring.metrics`, which would hide differences below half a grey
level); the worst image counts. Latency is the median of several runs at a fixed size after one
warm-up run, on this machine. `measure` does it for every artifact of an export (`export.artifacts`);
the degradation classifier's files are compared on probabilities (and the class they pick) instead.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable

import numpy as np

from export.calibration import PARITY_PHOTOS
from export.options import ExportConfig, routes
from export.signature_names import AUTO_MODEL, CLASSIFIER_MODEL
from keras_durbm.atomic_files import write_json_atomic
from keras_durbm.config.model import min_input_size
from keras_durbm.config.tasks import get_task
from keras_durbm.restoration.routing import classify, route
from keras_durbm.restoration.tiling import TilingConfig, head_runner, restore_with
from tfrecords_tools.photos import load_photos

Restorer = Callable[[np.ndarray], np.ndarray]  # float32 (H, W, 3) → (H, W, 3), unclipped


@dataclasses.dataclass
class Artifact:
    """One exported model ready to run (`export.artifacts`): any-size restore for parity, batch call for latency."""

    format: str
    variant: str
    head: str
    path: str
    restore: Restorer
    batch_run: Callable[[np.ndarray], object]
    xnnpack: dict | None = None
    note: str = ""
    note_of: Callable[[np.ndarray], str] | None = None  # a note read from the latency run's input


@dataclasses.dataclass
class ParityRow:
    """One exported artifact compared with the Keras model."""

    format: str
    variant: str
    head: str
    path: str
    size_bytes: int
    max_abs_diff: float
    psnr_db: float | None  # None: identical to the Keras output
    latency_ms: float | None
    xnnpack: dict | None = None  # TFLite only: partitions and undelegated ops, or the probe's error
    note: str = ""
    compares: str = "image"  # or "probabilities" (the degradation classifier): no PSNR then


def float_psnr(restored: np.ndarray, reference: np.ndarray) -> float:
    """PSNR (dB) of two float images in [0, 1] after clipping, peak 1; `inf` when identical."""
    a = np.clip(np.asarray(restored, np.float64), 0.0, 1.0)
    b = np.clip(np.asarray(reference, np.float64), 0.0, 1.0)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0.0 else -10.0 * math.log10(mse)


def compare(restore: Restorer, images: list[np.ndarray], references: list[np.ndarray]) -> tuple[float, float]:
    """(max |Δ| over all images, worst-image PSNR) of `restore` against the reference outputs."""
    worst_diff, worst_psnr = 0.0, math.inf
    for image, reference in zip(images, references, strict=True):
        restored = np.asarray(restore(image))
        if restored.shape != reference.shape:
            raise ValueError(f"restored shape {restored.shape} differs from the reference {reference.shape}")
        worst_diff = max(worst_diff, float(np.max(np.abs(restored.astype(np.float64) - reference))))
        worst_psnr = min(worst_psnr, float_psnr(restored, reference))
    return worst_diff, worst_psnr


def median_latency_ms(run: Callable[[np.ndarray], object], batch: np.ndarray, runs: int) -> float:
    """Median wall time of `run(batch)` over `runs` calls after one warm-up call, in milliseconds."""
    run(batch)
    times = []
    for _ in range(max(1, runs)):
        start = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def _size(n: int) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def format_table(rows: list[ParityRow], latency_size: int) -> str:
    """A fixed-width text table of the rows (formats × heads)."""
    header = ["format", "variant", "head", "max |Δ|", "PSNR dB", "size", f"ms @{latency_size}²", "XNNPACK", "note"]
    lines = []
    for row in rows:
        if row.xnnpack is None:
            xnn = ""
        elif "partitions" in row.xnnpack:
            xnn = f"{row.xnnpack['partitions']} partition(s)"
            if row.xnnpack.get("undelegated_ops"):
                xnn += " + " + ",".join(f"{k}×{v}" for k, v in row.xnnpack["undelegated_ops"].items())
        else:
            xnn = "not used: " + row.xnnpack.get("error", "?")[:60]
        lines.append([
            row.format, row.variant or "-", row.head, f"{row.max_abs_diff:.2e}",
            "-" if row.compares != "image" else "inf" if row.psnr_db is None else f"{row.psnr_db:.1f}",
            _size(row.size_bytes) if row.size_bytes else "-",
            "-" if row.latency_ms is None else f"{row.latency_ms:.1f}", xnn, row.note,
        ])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    return "\n".join(out)


def directory_size(path: str) -> int:
    """Bytes of a file, or of every file under a folder."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def write_report(path: str, report: dict) -> None:
    """Writes the report as JSON (rows as dicts; an infinite PSNR is already None)."""
    write_json_atomic(path, {**report, "rows": [dataclasses.asdict(r) for r in report["rows"]]})


def keras_probabilities(model, image: np.ndarray) -> np.ndarray:
    """The Keras classifier's probabilities of one whole image, in `model.classes` order."""
    return np.asarray(list(classify(model, image, tile_above=None).probabilities.values()), np.float32)


def measure(model, root: str, artifacts: list[Artifact], heads: list[str], options: ExportConfig) -> dict:
    """The report's parity photographs and a row per artifact of the export in `root`, compared with the
    Keras model on the photographs and timed at `options.latency_size`."""
    photos = load_photos(PARITY_PHOTOS, options.parity_max_side)
    images = [p.astype(np.float32) / np.float32(255.0) for _, p in photos]
    latency_batch = np.random.default_rng(0).random((1, options.latency_size, options.latency_size, 3),
                                                     dtype=np.float32)
    min_size = min_input_size(model.config)
    references = {h: [restore_with(head_runner(model, get_task(h)), x, min_size=min_size) for x in images]
                  for h in heads}
    if routes(model, options):
        references[AUTO_MODEL] = [route(model, x, tiling=TilingConfig(tile_above=0)).image for x in images]
        references[CLASSIFIER_MODEL] = [keras_probabilities(model, x) for x in images]
    rows = []
    for art in artifacts:
        note = art.note
        if art.head == CLASSIFIER_MODEL:
            found = [np.asarray(art.restore(x)) for x in images]
            diff = max(float(np.max(np.abs(f - r))) for f, r in zip(found, references[art.head], strict=True))
            same = sum(int(np.argmax(f) == np.argmax(r)) for f, r in zip(found, references[art.head], strict=True))
            psnr, compares = math.inf, "probabilities"
            note = f"same class as Keras on {same}/{len(images)}" + (f"; {note}" if note else "")
        else:
            diff, psnr = compare(art.restore, images, references[art.head])
            compares = "image"
        if art.note_of is not None:
            note = "; ".join(filter(None, [note, art.note_of(latency_batch)]))
        rows.append(ParityRow(
            format=art.format, variant=art.variant, head=art.head,
            path=os.path.relpath(art.path, root) if art.path else "",
            size_bytes=directory_size(art.path) if art.path else 0,
            max_abs_diff=diff, psnr_db=None if math.isinf(psnr) else psnr,
            latency_ms=median_latency_ms(art.batch_run, latency_batch, options.latency_runs),
            xnnpack=art.xnnpack, note=note, compares=compares))
    return {"parity_images": [{"name": n, "height": p.shape[0], "width": p.shape[1]} for n, p in photos],
            "rows": rows}
