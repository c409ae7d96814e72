"""Builds the `tf.distribute` strategy of a run (docs/design.md §4: a custom loop, never `model.fit`).

Must run before TensorFlow creates its devices (before any op): splitting the CPU
into logical devices and choosing mixed precision both happen here.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from keras_durbm.config.experiment import RuntimeConfig


def configure_devices(runtime: RuntimeConfig) -> None:
    """Splits the CPU into `runtime.logical_cpu_devices` logical devices (for testing the distributed path).

    Raises a clear error when TensorFlow has already initialised its devices. `runtime.intra_op_threads` is
    a speed setting: a process that has already run ops keeps its thread pools.
    """
    if runtime.intra_op_threads and tf.config.threading.get_intra_op_parallelism_threads() != runtime.intra_op_threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(runtime.intra_op_threads)
        except RuntimeError:
            pass  # TensorFlow has started: its thread pools are fixed for this process
    if runtime.logical_cpu_devices <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * runtime.logical_cpu_devices
        )
    except RuntimeError as error:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing != runtime.logical_cpu_devices:
            raise RuntimeError(
                f"runtime.logical_cpu_devices={runtime.logical_cpu_devices} must be set before TensorFlow "
                f"initialises its devices (it already has {existing} CPU device(s)): {error}"
            ) from error


def resolve_strategy_name(runtime: RuntimeConfig) -> str:
    """`auto` → `multi_worker` if TF_CONFIG names a cluster, `mirrored` with several devices, else `default`."""
    if runtime.strategy != "auto":
        return runtime.strategy
    if os.environ.get("TF_CONFIG"):
        return "multi_worker"
    if runtime.devices or runtime.logical_cpu_devices > 1 or len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def _mirrored_devices(runtime: RuntimeConfig) -> list[str] | None:
    if runtime.devices:
        return list(runtime.devices)
    if tf.config.list_physical_devices("GPU"):
        return None  # MirroredStrategy's default: every visible GPU
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError("runtime.strategy=multi_worker needs the TF_CONFIG environment variable "
                         '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}})')
    try:
        spec = json.loads(raw)
        workers = spec["cluster"]["worker"]
        spec["task"]["index"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"TF_CONFIG is not a valid cluster spec ({error!r}): {raw}") from None
    if not workers:
        raise ValueError(f"TF_CONFIG lists no workers: {raw}")


def make_strategy(runtime: RuntimeConfig) -> tf.distribute.Strategy:
    """Configures devices and precision, then returns the strategy named by `runtime.strategy`."""
    configure_devices(runtime)
    keras.mixed_precision.set_dtype_policy(runtime.precision)
    if runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    name = resolve_strategy_name(runtime)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(_mirrored_devices(runtime))
    _check_tf_config()
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def worker_info(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(rank, number of workers); rank 0 is the chief (a `chief` task, else worker 0); (0, 1) in one process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not cluster:
        return 0, 1
    chiefs = len(cluster.get("chief", []))
    count = chiefs + len(cluster.get("worker", []))
    if resolver.task_type == "chief":
        return 0, count
    return chiefs + int(resolver.task_id or 0), count


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, logs and summaries."""
    return worker_info(strategy)[0] == 0


def strategy_label(strategy: tf.distribute.Strategy) -> str:
    """A short name for logs: default, mirrored or multi_worker."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multi_worker"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "mirrored"
    return "default"
