"""A briefly trained tiny network and one export of it, built once per test run (tests/support/shared_builds.py).

Shared by tests/export and tests/serving (the serving tests serve this export's SavedModels). The
network is trained for a few seconds so its activations, and therefore the int8 quantization ranges,
look like a trained model's rather than a random initialisation's. It is trained with the project's own
optimizer and haze synthesis: `FusedAdam` (one fused op per variable, so the train step traces fast) on
`add_haze` pairs cut from scikit-image's bundled photographs.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from tests.support.shared_builds import built_once

TOPOLOGY = "R>H"
EXPORTED_HEAD = "haze"
TRAIN_STEPS = 100
TRAIN_CROP = 32
TRAIN_BATCH = 4
TRAIN_LEARNING_RATE = 2e-3
TRAIN_PHOTOS = ("astronaut", "rocket", "chelsea")
#: Options of the shared export: one head, every format (and the bf16 SavedModels), small calibration and
#: parity sets.
EXPORT_ARGS = ["--heads", EXPORTED_HEAD, "--bf16", "--calibration-count", "8", "--calibration-size", "32",
               "--parity-max-side", "48", "--latency-size", "32", "--latency-runs", "1", "--no-progress"]


def hazy_pairs(rng: np.random.Generator, photos: list[np.ndarray], count: int, crop: int):
    """(hazy, clean) float32 batches: random `crop`² windows of `photos`, hazed by the project's
    `tfrecords_tools.synthesis.add_haze` (paper eq. 2) with a seed drawn from `rng`."""
    from tfrecords_tools.synthesis import add_haze

    clean, hazy = [], []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        top, left = rng.integers(photo.shape[0] - crop + 1), rng.integers(photo.shape[1] - crop + 1)
        window = photo[top:top + crop, left:left + crop].astype(np.float32) / np.float32(255.0)
        clean.append(window)
        hazy.append(add_haze(window, int(rng.integers(2**31))))
    return np.stack(hazy), np.stack(clean)


@functools.cache
def trained_tiny_path() -> str:
    """`model.keras` of a tiny R>H network with a degradation classifier, trained ~100 Adam steps (L1, all
    heads; the classifier's cross-entropy, hazy vs clean) on synthetic haze; built once per test run."""
    return os.path.join(built_once("trained-tiny", _train_tiny), "model.keras")


def _train_tiny(folder: str) -> None:
    import keras
    import tensorflow as tf

    from keras_durbm.config.model import model_preset
    from keras_durbm.models import build_durbm, save_durbm
    from keras_durbm.training.optimizer import FusedAdam
    from tfrecords_tools.photos import load_photos

    keras.utils.set_random_seed(3)
    model = build_durbm(model_preset("tiny", topology=TOPOLOGY, classifier=True))
    variables = model.trainable_variables
    optimizer = FusedAdam(learning_rate=TRAIN_LEARNING_RATE)
    optimizer.build(variables)
    hazy_class, clean_class = model.classes.index(EXPORTED_HEAD), model.classes.index("clean")

    @tf.function(autograph=False)
    def train_step(hazy, clean):
        with tf.GradientTape() as tape:
            outputs = model(hazy, training=True)
            loss = tf.add_n([tf.reduce_mean(tf.abs(outputs[t] - clean)) for t in model.task_names])
            # the degradation classifier learns hazy crops as haze and clean ones as clean
            probabilities = tf.concat([outputs["degradation"], model(clean, training=True)["degradation"]], axis=0)
            labels = tf.concat([tf.fill([tf.shape(hazy)[0]], hazy_class), tf.fill([tf.shape(clean)[0]], clean_class)], 0)
            loss += tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    rng = np.random.default_rng(0)
    photos = [p for _, p in load_photos(TRAIN_PHOTOS, 128)]
    for _ in range(TRAIN_STEPS):
        hazy, clean = hazy_pairs(rng, photos, TRAIN_BATCH, TRAIN_CROP)
        train_step(tf.constant(hazy), tf.constant(clean))
    save_durbm(model, os.path.join(folder, "model.keras"))


@functools.cache
def exported_dir() -> str:
    """The folder `python -m export` writes for the trained model (haze head, every format, bf16 too); built
    once per test run."""
    return os.path.join(built_once("trained-tiny-export", _export_trained_tiny), "export")


def _export_trained_tiny(folder: str) -> None:
    from export.__main__ import main

    code = main(["--model", trained_tiny_path(), "--out", os.path.join(folder, "export"), *EXPORT_ARGS])
    if code != 0:
        raise RuntimeError(f"python -m export failed with exit status {code}")
