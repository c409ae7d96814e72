"""Real images for full-int8 calibration and for the parity report.

Calibration reads the `input` (degraded) images of TFRecord shards written by `tfrecords_tools`, or a
folder of images, or by default scikit-image's bundled photographs. The parity report uses other
bundled photographs, so int8 is never scored on the images it was calibrated on.
"""

from __future__ import annotations

import glob
import os

import numpy as np

from keras_durbm.config.model import SIZE_MULTIPLE
from keras_durbm.images.io import list_images, read_image
from keras_durbm.images.pixels import to_uint8
from keras_durbm.restoration.tiling import pad_to_multiple
from tfrecords_tools.manifest import manifest_path, shard_files
from tfrecords_tools.photos import load_photos

CALIBRATION_PHOTOS = ("astronaut", "rocket", "immunohistochemistry", "hubble_deep_field")
PARITY_PHOTOS = ("coffee", "chelsea", "motorcycle")
EXPECTED = "a folder of TFRecord shards (tfrecords_tools convert) or a folder of images"


def _shard_files(folder: str) -> list[str]:
    if os.path.isfile(manifest_path(folder)):
        return shard_files(folder)
    return sorted(glob.glob(os.path.join(folder, "*.tfrecord*")))


def _record_inputs(files: list[str], limit: int) -> list[tuple[str, np.ndarray]]:
    from tfrecords_tools.decoder import decode_record  # TensorFlow: only when calibrating on shards
    from tfrecords_tools.reader import record_dataset

    images = []
    for record in record_dataset(files).map(decode_record).take(limit):
        images.append((record["source"].numpy().decode("utf-8", "replace"), record["input"].numpy()))
    return images


def _folder_images(folder: str, limit: int) -> list[tuple[str, np.ndarray]]:
    images = []
    for name in list_images(folder)[:limit]:
        pixels, _ = read_image(os.path.join(folder, name))
        images.append((name, to_uint8(pixels)))
    return images


def load_images(source: str | None, *, limit: int = 64, max_side: int = 512) -> list[tuple[str, np.ndarray]]:
    """`(name, uint8 RGB)` calibration images from `source` (see module doc); None: bundled photos."""
    if source is None:
        return load_photos(CALIBRATION_PHOTOS, max_side)
    if not os.path.isdir(source):
        raise ValueError(f"calibration data {source}: not a folder (expected {EXPECTED})")
    import tensorflow as tf

    shards = _shard_files(source)
    try:
        images = _record_inputs(shards, limit) if shards else _folder_images(source, limit)
    except tf.errors.OpError as error:
        raise ValueError(f"calibration data {source}: {error.message}") from None
    if not images:
        raise ValueError(f"calibration data {source}: holds no shards or images (expected {EXPECTED})")
    return images


def calibration_batches(images: list[tuple[str, np.ndarray]], *, count: int, size: int,
                        seed: int = 0) -> list[np.ndarray]:
    """`count` float32 (1, S, S, 3) random crops, cycling through `images`; S = `size` rounded up to a
    multiple of 4. Images smaller than S are reflect-padded (bottom/right) as inference pads them."""
    side = -(-size // SIZE_MULTIPLE) * SIZE_MULTIPLE
    rng = np.random.default_rng(seed)
    batches = []
    for i in range(count):
        pixels = images[i % len(images)][1]
        h, w = pixels.shape[:2]
        top, left = rng.integers(max(h - side, 0) + 1), rng.integers(max(w - side, 0) + 1)
        crop = pixels[top:top + side, left:left + side].astype(np.float32) / np.float32(255.0)
        padded, _ = pad_to_multiple(crop, SIZE_MULTIPLE, side)
        batches.append(np.ascontiguousarray(padded[None], dtype=np.float32))
    return batches
