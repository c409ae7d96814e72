"""A briefly trained tiny network and one export of it, built once per test process.

Shared by tests/export and tests/serving (the serving tests serve this export's SavedModels). The
network is trained for a few seconds so its activations, and therefore the int8 quantization ranges,
look like a trained model's rather than a random initialisation's.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile

import numpy as np

TOPOLOGY = "R>H"
EXPORTED_HEAD = "haze"
TRAIN_STEPS = 100
TRAIN_CROP = 32
#: Options of the shared export: one head, every format, small calibration and parity sets.
EXPORT_ARGS = ["--heads", EXPORTED_HEAD, "--calibration-count", "8", "--calibration-size", "32",
               "--parity-max-side", "48", "--latency-size", "32", "--latency-runs", "1", "--no-progress"]


def _scratch(prefix: str) -> str:
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def hazy_pairs(rng: np.random.Generator, photos: list[np.ndarray], count: int, crop: int):
    """(hazy, clean) float32 batches by the atmospheric scattering model H = I·t + A·(1 − t) (paper eq. 2),
    with a transmission t that falls off smoothly across the crop."""
    clean = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        top, left = rng.integers(photo.shape[0] - crop + 1), rng.integers(photo.shape[1] - crop + 1)
        clean.append(photo[top:top + crop, left:left + crop])
    clean = np.stack(clean).astype(np.float32) / np.float32(255.0)
    ramp = np.linspace(1.0, 0.6, crop, dtype=np.float32)[None, :, None, None]
    t = rng.uniform(0.35, 0.9, (count, 1, 1, 1)).astype(np.float32) * ramp
    airlight = rng.uniform(0.7, 1.0, (count, 1, 1, 1)).astype(np.float32)
    return clean * t + airlight * (1.0 - t), clean


@functools.cache
def trained_tiny_path() -> str:
    """`model.keras` of a tiny R>H network trained ~100 Adam steps (L1, all heads) on synthetic haze."""
    import keras
    import tensorflow as tf

    from export.calibration import bundled_photos
    from keras_durbm.config import model_preset
    from keras_durbm.models import build_durbm, save_durbm

    keras.utils.set_random_seed(3)
    model = build_durbm(model_preset("tiny", topology=TOPOLOGY))
    variables = [v.value for v in model.trainable_variables]
    moments = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for v in variables]
    step = tf.Variable(0.0)

    @tf.function
    def train_step(hazy, clean, lr=2e-3, b1=0.9, b2=0.999):
        # A hand-written Adam: tracing Keras' optimizer for ~150 variables costs more than the training.
        with tf.GradientTape() as tape:
            outputs = model(hazy, training=True)
            loss = tf.add_n([tf.reduce_mean(tf.abs(y - clean)) for y in outputs.values()])
        step.assign_add(1.0)
        rate = lr * tf.sqrt(1.0 - b2**step) / (1.0 - b1**step)
        for var, grad, (m, v) in zip(variables, tape.gradient(loss, variables), moments, strict=True):
            m.assign(b1 * m + (1.0 - b1) * grad)
            v.assign(b2 * v + (1.0 - b2) * tf.square(grad))
            var.assign_sub(rate * m / (tf.sqrt(v) + 1e-7))
        return loss

    rng = np.random.default_rng(0)
    photos = [p for _, p in bundled_photos(("astronaut", "rocket", "chelsea"), 128)]
    for _ in range(TRAIN_STEPS):
        train_step(*hazy_pairs(rng, photos, 4, TRAIN_CROP))
    path = os.path.join(_scratch("durbm-trained-"), "model.keras")
    save_durbm(model, path)
    return path


@functools.cache
def exported_dir() -> str:
    """The folder `python -m export` writes for the trained model (haze head, every format)."""
    from export.__main__ import main

    out = os.path.join(_scratch("durbm-export-"), "export")
    code = main(["--model", trained_tiny_path(), "--out", out, *EXPORT_ARGS])
    if code != 0:
        raise RuntimeError(f"python -m export failed with exit status {code}")
    return out
