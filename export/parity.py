"""Parity of exported models with the Keras model: max |Δ|, PSNR, file size and latency, as a table.

Every format restores the same real photographs at their own odd sizes (padding and cropping as each
format's contract says) and is compared with the Keras head restoring them through
`keras_durbm.restoration.tiling`. PSNR here is computed on float outputs clipped to [0, 1] with peak 1
(not the uint8 protocol of `keras_durbm.scoring.metrics`, which would hide differences below half a grey
level); the worst image counts. Latency is the median of several runs at a fixed size after one
warm-up run, on this machine.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable

import numpy as np

from keras_durbm.atomic_files import write_json_atomic

Restorer = Callable[[np.ndarray], np.ndarray]  # float32 (H, W, 3) → (H, W, 3), unclipped


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
