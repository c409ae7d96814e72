"""The training loss against scikit-image's SSIM and a NumPy L1, and its gradients on flat images."""

import numpy as np
import pytest
import tensorflow as tf
from skimage.metrics import structural_similarity

from keras_durbm.training.losses import L1_WEIGHT, SSIM_WEIGHT, restoration_loss, ssim


def skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1.0, channel_axis=-1)


def degraded_pair(rng, shape):
    clean = rng.random(shape).astype(np.float32)
    noisy = np.clip(clean + 0.15 * rng.standard_normal(shape), 0, 1).astype(np.float32)
    return clean, noisy


@pytest.mark.parametrize("shape", [(2, 16, 16, 3), (1, 23, 37, 3), (3, 11, 40, 1)])
def test_ssim_matches_skimage(rng, shape):
    a, b = degraded_pair(rng, shape)
    ours = ssim(a, b).numpy()
    reference = [skimage_ssim(a[i], b[i]) for i in range(shape[0])]
    # float32 Gaussian filtering vs scikit-image's float64: agreement to 1e-5.
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_ssim_of_identical_images_is_one(rng):
    a = rng.random((2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(ssim(a, a).numpy(), 1.0, atol=1e-6)


def test_loss_is_the_weighted_sum_per_image(rng):
    a, b = degraded_pair(rng, (3, 20, 24, 3))
    expected = [SSIM_WEIGHT * (1 - skimage_ssim(a[i], b[i])) + L1_WEIGHT * np.abs(a[i] - b[i]).mean()
                for i in range(3)]
    per_image = restoration_loss(a, b, reduction="none").numpy()
    np.testing.assert_allclose(per_image, expected, atol=1e-5)
    np.testing.assert_allclose(restoration_loss(a, b).numpy(), np.mean(expected), atol=1e-5)
    assert SSIM_WEIGHT == 1.1 and L1_WEIGHT == 0.75  # docs/design.md §1.7


def test_loss_accepts_float16_outputs(rng):
    a, b = degraded_pair(rng, (1, 16, 16, 3))
    half = restoration_loss(tf.constant(a, tf.float16), b).numpy()
    assert half.dtype == np.float32
    np.testing.assert_allclose(half, restoration_loss(a, b).numpy(), atol=2e-3)


@pytest.mark.parametrize("restored_value, target_value", [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0), (0.2, 0.7)])
def test_gradients_are_finite_on_flat_images(restored_value, target_value):
    restored = tf.Variable(np.full((2, 16, 16, 3), restored_value, np.float32))
    target = tf.constant(np.full((2, 16, 16, 3), target_value, np.float32))
    with tf.GradientTape() as tape:
        loss = restoration_loss(restored, target)
    grad = tape.gradient(loss, restored).numpy()
    assert np.isfinite(loss.numpy()) and np.isfinite(grad).all()
    if restored_value != target_value:  # the L1 term pulls a flat image towards the target
        assert np.all(np.sign(grad) == np.sign(restored_value - target_value))


def test_gradients_are_finite_on_nearly_flat_images(rng):
    # Rounding makes E[x²] − E[x]² slightly negative here; nothing may take its root.
    base = np.full((1, 16, 16, 3), 0.7, np.float32)
    restored = tf.Variable(base + 1e-7 * rng.standard_normal(base.shape).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = restoration_loss(restored, base)
    assert np.isfinite(tape.gradient(loss, restored).numpy()).all()


def test_small_images_and_bad_reduction_are_rejected(rng):
    a = rng.random((1, 10, 16, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(a, a)
    b = rng.random((1, 16, 16, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="reduction"):
        restoration_loss(b, b, reduction="sum")
