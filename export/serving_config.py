"""TF Serving's files beside the SavedModels: `models.config`, a batching example, warm-up records.

Layout (TF Serving's): `serving/<head>/<version>/{saved_model.pb, variables/, assets.extra/}`, one
model per head, and `serving/models.config` listing them for `--model_config_file`.
"""

from __future__ import annotations

import os

import numpy as np

from export import signature_names as sig
from keras_durbm.images.pixels import to_uint8

MODELS_CONFIG = "models.config"
BATCHING_PARAMETERS = "batching_parameters.txt"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
#: Where `docker run -v DIR/serving:/models` mounts the export inside the server's container.
DOCKER_BASE_PATH = "/models"


def models_config_text(heads: list[str], base_path: str = DOCKER_BASE_PATH) -> str:
    """A text `ModelServerConfig` serving every head as its own model (latest version only)."""
    entries = []
    for head in heads:
        path = f"{base_path.rstrip('/')}/{head}"
        entries.append(
            "  config {\n"
            f'    name: "{head}"\n'
            f'    base_path: "{path}"\n'
            '    model_platform: "tensorflow"\n'
            "    model_version_policy { latest { num_versions: 1 } }\n"
            "  }\n"
        )
    return "model_config_list {\n" + "".join(entries) + "}\n"


def batching_parameters_text(tile: int = 256) -> str:
    """An example `--batching_parameters_file`, with why only fixed-size tiles can be batched."""
    return (
        "# Example for tensorflow_model_server --enable_batching --batching_parameters_file=<this file>.\n"
        "# Batching is OFF by default for these models, and should stay off for whole images:\n"
        "# - requests of different image sizes cannot be stacked into one batch (TF Serving refuses them\n"
        "#   unless pad_variable_length_inputs is set), and\n"
        "# - its zero padding would change the result: the network's attention pools over the whole image\n"
        "#   (global average and total variation, paper eq. 6), so padded pixels alter every output pixel.\n"
        f"# Enable it only when every client sends fixed-size tiles, e.g. {tile}x{tile} crops of a tiled\n"
        "# restoration (keras_durbm.restoration.tiling.restore_with), all of the same shape.\n"
        "max_batch_size { value: 8 }\n"
        "batch_timeout_micros { value: 2000 }\n"
        "max_enqueued_batches { value: 64 }\n"
        "num_batch_threads { value: 2 }\n"
    )


def warmup_image(size: int) -> np.ndarray:
    """A smooth, deterministic uint8 RGB test card of `size`×`size` (gradients and a soft disc)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / max(size - 1, 1)
    disc = np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) * 8.0)
    return to_uint8(np.stack([x, y, 0.3 + 0.6 * disc], axis=-1))


def warmup_logs(model_name: str, size: int) -> list:
    """One `PredictionLog` per signature, each a `size`×`size` request as a client would send it."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    pixels = warmup_image(size)
    inputs = {
        sig.SERVING_DEFAULT: (sig.INPUT_FLOAT, (pixels[None] / np.float32(255.0)).astype(np.float32)),
        sig.SERVE_UINT8: (sig.INPUT_UINT8, pixels[None]),
        sig.SERVE_PNG: (sig.INPUT_BYTES, np.array([tf.io.encode_png(pixels).numpy()], dtype=object)),
    }
    logs = []
    for signature, (name, value) in inputs.items():
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup_records(version_dir: str, model_name: str, size: int) -> str:
    """Writes `assets.extra/tf_serving_warmup_requests` (TFRecord of PredictionLog) into a version folder.

    TF Serving replays them when it loads the version (`--enable_model_warmup`, on by default), so
    the first real request does not pay for graph initialisation.
    """
    import tensorflow as tf

    path = os.path.join(version_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in warmup_logs(model_name, size):
            writer.write(log.SerializeToString())
    return path


def write_serving_files(serving_dir: str, heads: list[str], base_path: str = DOCKER_BASE_PATH) -> list[str]:
    """Writes `models.config` (every head) and the batching example into `serving_dir`."""
    written = []
    for name, text in ((MODELS_CONFIG, models_config_text(heads, base_path)),
                       (BATCHING_PARAMETERS, batching_parameters_text())):
        path = os.path.join(serving_dir, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written
