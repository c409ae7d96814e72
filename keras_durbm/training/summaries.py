"""What a run leaves to read: TensorBoard scalars and before/after grids, and the end-of-run table.

Event files are written with TensorFlow's core `tf.summary.write` and the metadata
of TensorBoard's `scalars` and `images` plugins, so training does not depend on the
`tensorboard` package (install it only to view the files: `tensorboard --logdir RUN/tensorboard`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from keras_durbm.config.tasks import get_task
from keras_durbm.images.pixels import to_uint8
from keras_durbm.scoring.confusion import ConfusionMatrix
from keras_durbm.scoring.metrics import protocol_keys
from keras_durbm.training.progress import format_duration


def _plugin_metadata(plugin: str) -> bytes:
    """Serialized `SummaryMetadata` that tells TensorBoard which plugin reads the tensor."""
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    return metadata.SerializeToString()


_SCALAR_METADATA = _plugin_metadata("scalars")
_IMAGE_METADATA = _plugin_metadata("images")


class Summaries:
    """TensorBoard event files under `folder` (no-op when `folder` is None, e.g. on non-chief workers)."""

    def __init__(self, folder: str | None):
        self._writer = tf.summary.create_file_writer(folder) if folder else None

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        if self._writer is None:
            return
        with self._writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.write(name, tf.constant(float(value), tf.float32), metadata=_SCALAR_METADATA)

    def images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
        """One image per name, float HWC in [0, 1] (e.g. input | restored | target of a task)."""
        if self._writer is None:
            return
        with self._writer.as_default(step=step):
            for name, image in images.items():
                pixels = to_uint8(image)
                # The images plugin reads [width, height, encoded image...] as strings.
                tensor = tf.stack([tf.as_string(pixels.shape[1]), tf.as_string(pixels.shape[0]),
                                   tf.io.encode_png(pixels)])
                tf.summary.write(name, tensor, metadata=_IMAGE_METADATA)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def evaluation_scalars(results: Mapping[str, dict], prefix: str = "val") -> dict[str, float]:
    """`{"val/<task>/psnr_y": …, "val/<task>/input_psnr_y": …}` from `evaluate_tasks` results."""
    out = {}
    for task, result in results.items():
        for key, value in result["restored"].items():
            out[f"{prefix}/{task}/{key}"] = value
        for key, value in result.get("input", {}).items():
            out[f"{prefix}/{task}/input_{key}"] = value
    return out


def evaluation_line(results: Mapping[str, dict]) -> str:
    """One line: `haze 21.3→27.9 dB 0.812→0.951 | …` (input → restored, protocol colour space)."""
    parts = []
    for task, result in results.items():
        p, s = protocol_keys(get_task(task))
        before = result.get("input", {})
        parts.append(f"{task} {before.get(p, float('nan')):.2f}→{result['restored'][p]:.2f} dB "
                     f"{before.get(s, float('nan')):.4f}→{result['restored'][s]:.4f}")
    return " | ".join(parts)


def format_summary(summary: Mapping) -> str:
    """The end-of-run table: per task the minibatches trained, the last loss, and input vs restored scores."""
    lines = [
        f"run {summary['run_dir']}: steps {summary['start_step']}→{summary['final_step']} of "
        f"{summary['total_steps']} in {format_duration(summary['train_seconds'])} "
        f"({summary['steps_per_second']:.2f} steps/s, {summary['strategy']} × {summary['replicas']} replica(s))",
        f"learning rate {summary['initial_learning_rate']:.3g} → {summary['learning_rate']:.3g} "
        f"({summary['plateau_cuts']} plateau cut(s))",
    ]
    evaluation = summary.get("evaluation") or {}
    header = f"{'task':12s} {'batches':>8s} {'loss':>8s}"
    if evaluation:
        header += f" | {'space':5s} {'input PSNR':>10s} {'SSIM':>7s} | {'restored PSNR':>13s} {'SSIM':>7s} | " \
                  f"{'gain dB':>8s} {'SSIM':>8s} {'n':>3s}"
    lines += ["", header, "-" * len(header)]
    for task in summary["tasks"]:
        batches = summary["batches"].get(task, 0)
        loss = f"{summary['last_loss'][task]:8.4f}" if task in summary["last_loss"] else f"{'-':>8s}"
        row = f"{task:12s} {batches:8d} {loss}"
        if task in evaluation:
            result = evaluation[task]
            p, s = protocol_keys(get_task(task))
            before, after = result["input"], result["restored"]
            row += (f" | {p.split('_')[1].upper():5s} {before[p]:10.2f} {before[s]:7.4f} | {after[p]:13.2f} "
                    f"{after[s]:7.4f} | {after[p] - before[p]:+8.2f} {after[s] - before[s]:+8.4f} {result['n']:3d}")
        lines.append(row)
    if "classifier" in summary["batches"]:
        accuracy = summary["last_loss"].get("accuracy", float("nan"))
        lines.append(f"{'classifier':12s} {summary['batches']['classifier']:8d} "
                     f"{summary['last_loss'].get('classifier', float('nan')):8.4f} | training-batch accuracy "
                     f"{100 * accuracy:.1f}%")
    if evaluation:
        lines.append("")
        lines += [f"protocol: {result['protocol']}" for result in evaluation.values()]
        verdict = summary.get("beats_input")
        if verdict is not None:
            lines.append("restored output beats the degraded input on every task (PSNR and SSIM): "
                         + ("yes" if verdict else "NO"))
    classification = summary.get("classification")
    if classification:
        confusion = ConfusionMatrix(tuple(classification["classes"]), np.asarray(classification["counts"]))
        lines += ["", "degradation classifier on the held-out images (inputs as their task, targets as clean):",
                  confusion.format_table()]
    calibrated = summary.get("routing_threshold")
    if calibrated:
        lines += ["", f"do-no-harm threshold {calibrated['threshold']:.2f}: images whose top probability is below it "
                      f"are left unchanged by --task auto (calibrated in {calibrated['seconds']:.0f} s on "
                      f"{calibrated['images']} procedural images × "
                      f"{calibrated['classes']} classes: {calibrated['chosen']['total_gain_db']:+.1f} dB total vs "
                      f"{calibrated['no_threshold']['total_gain_db']:+.1f} dB with no threshold)"]
    if "wall_seconds" in summary:
        lines.append(f"wall time {format_duration(summary['wall_seconds'])}: data {summary['data_seconds']:.0f} s, "
                     f"training {summary['train_seconds']:.0f} s (incl. tracing each head's step), "
                     f"final evaluation and saving {summary['finish_seconds']:.0f} s")
    for key in ("model_path", "grid_path", "confusion_path"):
        if summary.get(key):
            lines.append(f"{key.replace('_path', '')}: {os.path.relpath(summary[key])}")
    return "\n".join(lines)


def beats_input(evaluation: Mapping[str, dict]) -> bool:
    """True when, on every task, the restored output scores higher than the input in PSNR and SSIM."""
    for task, result in evaluation.items():
        p, s = protocol_keys(get_task(task))
        if not (result["restored"][p] > result["input"][p] and result["restored"][s] > result["input"][s]):
            return False
    return bool(evaluation)
