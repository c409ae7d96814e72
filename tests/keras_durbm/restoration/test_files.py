"""`restore_file`, the one "restore this file" of the restore command and the page: a head's output equals
`restore` on the decoded image written by `write_image`, tiling options reach the head, an image read
earlier is used as given, and with routing an image judged clean or left unchanged (below the confidence
threshold) is the very file (same extension) or its pixels (another extension)."""

import os

import numpy as np
import pytest
from PIL import Image

from keras_durbm.config.tasks import CLEAN, get_task
from keras_durbm.images.io import read_image, write_image
from keras_durbm.restoration import files
from keras_durbm.restoration.routing import (
    CLEAN_STOP,
    KEPT,
    Classification,
    Routed,
    RouteStep,
    RoutingConfig,
)
from keras_durbm.restoration.tiling import TilingConfig, restore
from tests.support.tiny_models import tiny_model

RAIN = get_task("rain")


@pytest.fixture
def photo(tmp_path):
    """A 40×56 RGB PNG of smooth gradients plus noise (not a multiple of the network's size step)."""
    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:40, 0:56]
    image = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1) + rng.integers(0, 30, (40, 56, 3))
    path = tmp_path / "photo.png"
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
    return str(path)


def written_like(tmp_path, pixels: np.ndarray, extras) -> np.ndarray:
    """The pixels of `pixels` written with `write_image` and read back: the reference of a restored file."""
    reference = str(tmp_path / "reference.png")
    write_image(reference, pixels, extras)
    return read_image(reference)[0]


@pytest.mark.parametrize("tiling", [TilingConfig(), TilingConfig(tile=32, overlap=8)])
def test_a_head_writes_what_restore_gives_on_the_decoded_image(tmp_path, photo, tiling):
    model = tiny_model()
    out = str(tmp_path / "out" / "photo.png")
    os.makedirs(os.path.dirname(out))
    done = files.restore_file(model, photo, out, task=RAIN, tiling=tiling)
    assert (done.outcome, done.heads, done.routed) == ("restored", ("rain",), None)
    image, extras = read_image(photo)
    expected = restore(model, image, RAIN, tile=tiling.tile, overlap=tiling.overlap, tile_above=tiling.tile_above)
    np.testing.assert_array_equal(read_image(out)[0], written_like(tmp_path, expected, extras))


def test_an_image_read_earlier_is_used_instead_of_the_file(tmp_path, photo):
    model = tiny_model()
    image, extras = read_image(photo)
    other = np.ascontiguousarray(image[::-1])  # not what the file holds
    out = str(tmp_path / "flipped.png")
    files.restore_file(model, photo, out, task=RAIN, image=(other, extras))
    np.testing.assert_array_equal(read_image(out)[0], written_like(tmp_path, restore(model, other, RAIN), extras))


def test_exactly_one_of_a_head_and_a_routing_config(tmp_path, photo):
    with pytest.raises(ValueError, match="a head .* or a routing config"):
        files.restore_file(None, photo, str(tmp_path / "a.png"))
    with pytest.raises(ValueError, match="not both"):
        files.restore_file(None, photo, str(tmp_path / "a.png"), task=RAIN, routing=RoutingConfig())


def judged(action: str, image):
    """A stand-in for `route` that judges every image `action` (clean, or kept) and returns `image`."""
    step = RouteStep(Classification({"rain": 0.1, CLEAN: 0.9}), action)
    return lambda model, pixels, routing, tiling, progress=None: Routed(image, (step,))


@pytest.mark.parametrize("action", [CLEAN_STOP, KEPT])
def test_an_unchanged_image_is_the_very_file_or_its_pixels(tmp_path, photo, monkeypatch, action):
    image, _ = read_image(photo)
    monkeypatch.setattr(files, "route", judged(action, image))
    same = str(tmp_path / "same.png")
    done = files.restore_file(None, photo, same, routing=RoutingConfig())
    assert done.outcome == action and done.heads == ()
    with open(photo, "rb") as a, open(same, "rb") as b:
        assert a.read() == b.read()  # byte for byte: no re-encoding
    other = str(tmp_path / "other.tif")
    files.restore_file(None, photo, other, routing=RoutingConfig())
    assert Image.open(other).format == "TIFF"
    np.testing.assert_array_equal(read_image(other)[0], read_image(photo)[0])
