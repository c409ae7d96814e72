"""In-graph padding and uint8 conversion of the serving signatures, against NumPy references."""

import numpy as np
import pytest
import tensorflow as tf

from export import signatures as sig
from keras_durbm.images.pixels import to_uint8
from keras_durbm.restoration.tiling import pad_to_multiple


@pytest.mark.parametrize("size", range(1, 10))
def test_reflect_indices_equal_numpy_reflect_padding(size):
    for target in range(size, 4 * size + 12):
        expected = np.pad(np.arange(size), (0, target - size), mode="reflect")
        got = sig.reflect_indices(tf.constant(size), tf.constant(target)).numpy()
        np.testing.assert_array_equal(got, expected, err_msg=f"size {size} → {target}")


@pytest.mark.parametrize("size,min_size,expected", [(1, 8, 8), (8, 8, 8), (9, 8, 12), (37, 16, 40), (53, 0, 56)])
def test_aligned_size_is_the_multiple_of_4_inference_pads_to(size, min_size, expected):
    assert int(sig.aligned_size(tf.constant(size), min_size)) == expected
    padded, _ = pad_to_multiple(np.zeros((size, size, 3)), 4, min_size)
    assert padded.shape[0] == expected


@pytest.mark.parametrize("height,width", [(37, 53), (1, 1), (3, 5), (8, 12), (2, 17)])
def test_restore_any_size_pads_like_inference_and_crops_back(height, width, rng):
    """With a head that is not pointwise (it mixes every pixel with the image mean), padding and crop
    must reproduce keras_durbm.restoration.tiling's pad → run → crop exactly."""

    def head(x):
        return 0.5 * x + tf.reduce_mean(x, axis=(1, 2), keepdims=True) + tf.roll(x, 1, axis=1)

    def numpy_head(x):
        return 0.5 * x + x.mean(axis=(1, 2), keepdims=True) + np.roll(x, 1, axis=1)

    image = rng.random((2, height, width, 3)).astype(np.float32)
    padded, (h, w) = pad_to_multiple(image, 4, 16)
    expected = numpy_head(padded.astype(np.float64))[:, :h, :w]
    got = sig.restore_any_size(head, tf.constant(image), 16).numpy()
    assert got.shape == image.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def test_graph_to_uint8_rounds_like_pixels_to_uint8():
    # Values on and around the rounding boundaries (k + 0.5) / 255, and out of range.
    k = np.arange(256)
    values = np.concatenate([(k + 0.5) / 255, k / 255, (k + 0.5) / 255 + 1e-9, [-0.3, 1.7]]).astype(np.float32)
    got = sig.graph_to_uint8(tf.constant(values)).numpy()
    np.testing.assert_array_equal(got, to_uint8(values))


def test_graph_to_float_divides_like_read_image():
    pixels = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(sig.graph_to_float(tf.constant(pixels)).numpy(),
                                  pixels.astype(np.float32) / np.float32(255.0))
