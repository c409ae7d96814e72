"""Padding against np.pad, blending windows, tiling with pointwise and global functions, and `restore`."""

import numpy as np
import pytest

from keras_durbm.config.model import min_input_size
from keras_durbm.config.tasks import get_task
from keras_durbm.models import head_model
from keras_durbm.restoration.tiling import (
    auto_tile,
    axis_weights,
    pad_to_multiple,
    restore,
    restore_with,
    tile_starts,
    tile_window,
)
from tests.support.tiny_models import tiny_model


@pytest.mark.parametrize("shape, multiple, min_size, padded", [
    ((21, 29, 3), 4, 0, (24, 32)),
    ((8, 12, 3), 4, 0, (8, 12)),
    ((5, 30, 3), 4, 16, (16, 32)),
    ((1, 2, 3), 4, 8, (8, 8)),  # pads larger than the image: numpy keeps reflecting
])
def test_pad_to_multiple_is_np_pad_reflect_and_crops_back(rng, shape, multiple, min_size, padded):
    image = rng.random(shape).astype(np.float32)
    out, (h, w) = pad_to_multiple(image, multiple, min_size)
    assert out.shape == (*padded, 3) and (h, w) == shape[:2]
    reference = np.pad(image, [(0, padded[0] - h), (0, padded[1] - w), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(out, reference)
    np.testing.assert_array_equal(out[:h, :w], image)


def test_reflect_pad_mirrors_without_repeating_the_edge(rng):
    image = rng.random((6, 5, 3))
    out, _ = pad_to_multiple(image, 4)
    np.testing.assert_array_equal(out[6, :5], image[4])  # first padded row mirrors the row before the edge
    np.testing.assert_array_equal(out[7, :5], image[3])
    np.testing.assert_array_equal(out[:6, 5], image[:, 3])


def test_pad_works_on_batches(rng):
    batch = rng.random((2, 9, 10, 3))
    out, _ = pad_to_multiple(batch, 4)
    np.testing.assert_array_equal(out[1], pad_to_multiple(batch[1], 4)[0])


def test_raised_cosine_windows_form_a_partition_of_unity_on_a_regular_grid():
    tile, overlap = 16, 6
    length = tile + 3 * (tile - overlap)  # four tiles, each pair overlapping by exactly `overlap`
    starts = tile_starts(length, tile, overlap)
    assert starts == [0, 10, 20, 30]
    total = np.zeros(length)
    for i, start in enumerate(starts):
        total[start:start + tile] += tile_window(tile, overlap, left=i > 0, right=i < len(starts) - 1)
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


@pytest.mark.parametrize("length, tile, overlap", [(37, 16, 5), (16, 16, 4), (10, 16, 4), (100, 32, 0)])
def test_normalised_axis_weights_sum_to_one_and_are_positive(length, tile, overlap):
    total = np.zeros(length)
    for start, weights in axis_weights(length, tile, overlap):
        assert weights.min() > 0
        total[start:start + len(weights)] += weights
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


@pytest.mark.parametrize("shape, tile, overlap", [((21, 29, 3), 12, 4), ((37, 18, 3), 16, 8), ((9, 50, 3), 8, 0)])
def test_tiling_a_pointwise_function_reproduces_the_whole_image(rng, shape, tile, overlap):
    image = rng.random(shape).astype(np.float32)
    seen = []

    def pointwise(batch):
        seen.append(batch.shape)
        return np.sqrt(batch) * 0.7 + 0.1 * batch**2

    tiled = restore_with(pointwise, image, min_size=8, tile=tile, overlap=overlap, batch_size=3)
    np.testing.assert_allclose(tiled, pointwise(image), atol=1e-6)
    assert len(seen) > 1 and all(h % 4 == 0 and w % 4 == 0 and h >= 8 and w >= 8 for _, h, w, _ in seen[:-1])


def test_tiling_a_global_function_is_not_exact(rng):
    # Like the network's attention, subtracting the image mean depends on everything the pass sees.
    image = rng.random((40, 40, 3)).astype(np.float32) * np.linspace(0, 1, 40)[:, None, None].astype(np.float32)

    def global_fn(batch):
        return batch - batch.mean(axis=(1, 2, 3), keepdims=True)

    whole = restore_with(global_fn, image)
    tiled = restore_with(global_fn, image, tile=16, overlap=4)
    assert np.abs(whole - tiled).max() > 0.05


def test_restore_matches_padding_the_head_by_hand(rng):
    model = tiny_model()
    image = rng.random((13, 22, 3)).astype(np.float32)
    padded = np.pad(image, [(0, 3), (0, 2), (0, 0)], mode="reflect")  # to 16 x 24
    expected = np.clip(np.asarray(head_model(model, "haze")(padded[None], training=False))[0, :13, :22], 0, 1)
    out = restore(model, image, get_task("haze"))
    assert out.shape == image.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_array_equal(restore(model, image, get_task("H")), out)  # task letters work too
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_small_images_are_padded_up_to_the_minimum_size(rng):
    model = tiny_model()
    assert restore(model, rng.random((3, 5, 3)).astype(np.float32), get_task("rain")).shape == (3, 5, 3)


def test_tiles_cover_the_image_and_a_large_tile_equals_whole(rng):
    model = tiny_model()
    image = rng.random((20, 28, 3)).astype(np.float32)
    whole = restore(model, image, get_task("rain"))
    np.testing.assert_array_equal(restore(model, image, get_task("rain"), tile=32), whole)
    tiled = restore(model, image, get_task("rain"), tile=12, overlap=4, batch_size=4)
    assert tiled.shape == whole.shape and np.isfinite(tiled).all()
    # Auto-tiling above the pixel budget is the same as asking for the budget's tile.
    np.testing.assert_array_equal(restore(model, image, get_task("rain"), tile_above=16 * 16),
                                  restore(model, image, get_task("rain"), tile=16, overlap=4))
    assert auto_tile(20, 28, 16 * 16) == 16 and auto_tile(20, 28, 10_000) is None


def test_restore_errors_name_heads_and_ranges(rng):
    model = tiny_model()
    image = rng.random((8, 8, 3)).astype(np.float32)
    with pytest.raises(KeyError, match="heads: rain, motion_blur, haze"):
        restore(model, image, get_task("jpeg"))
    with pytest.raises(KeyError, match="unknown task 'fog'"):
        restore(model, image, get_task("fog"))
    with pytest.raises(TypeError, match="divide uint8 images by 255"):
        restore(model, (image * 255).astype(np.uint8), get_task("haze"))
    with pytest.raises(ValueError, match=r"\[0, 255\] image"):
        restore(model, image * 255, get_task("haze"))
    with pytest.raises(ValueError, match="overlap"):
        restore(model, rng.random((30, 30, 3)).astype(np.float32), get_task("haze"), tile=12, overlap=8)


def test_min_input_size_is_respected_by_tiles(rng):
    model = tiny_model()
    assert min_input_size(model.config) == 8
    out = restore(model, rng.random((30, 9, 3)).astype(np.float32), get_task("haze"), tile=4, overlap=0)
    assert out.shape == (30, 9, 3)
