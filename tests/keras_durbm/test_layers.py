"""Each layer against its NumPy reference (tests/support/numpy_reference.py) and the shared layer checks:
the project's own round trips, Keras's layer harness, and every per-layer dtype policy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_durbm.layers import (
    DegradationClassifier,
    DuRBM,
    PixelShuffle,
    ReflectConv2D,
    ReflectPad2D,
    ResidualAttentionBlock,
    TVSqueezeExcitation,
    total_variation,
)
from tests.support import numpy_reference as ref
from tests.support.layer_harness import check_dtype_policies, run_keras_layer_test, run_layer_test

F32_TOL = dict(rtol=2e-5, atol=2e-6)  # float32 layers vs float64 references


def attention_weights(layer: TVSqueezeExcitation):
    return (
        np.asarray(layer.reduce.kernel, np.float64),
        np.asarray(layer.reduce.bias, np.float64),
        np.asarray(layer.expand.kernel, np.float64),
        np.asarray(layer.expand.bias, np.float64),
    )


def conv_weights(layer):
    conv = layer.conv if isinstance(layer, ReflectConv2D) else layer
    bias = None if conv.bias is None else np.asarray(conv.bias, np.float64)
    return np.asarray(conv.kernel, np.float64), bias


def block_weights(layer: ResidualAttentionBlock):
    w = {"conv1": conv_weights(layer.conv1)[0], "conv2": conv_weights(layer.conv2)[0]}
    if layer.attention is not None:
        w["attention"] = attention_weights(layer.attention)
    return w


def durbm_weights(layer: DuRBM):
    w = {"tvse_resnet": block_weights(layer.base), "se_resnet": block_weights(layer.se_resnet)}
    for name in ("up_expand", "up_conv", "down_b", "merge", "down_a"):
        if getattr(layer, name) is not None:
            w[name] = conv_weights(getattr(layer, name))
    return w


def randomize(layer, rng):
    """Replaces zero-initialised biases so the references check them too."""
    for weight in layer.weights:
        weight.assign(rng.normal(0, 0.3, weight.shape).astype("float32"))


@pytest.mark.parametrize("shape", [(2, 7, 9, 5), (1, 2, 3, 1), (3, 16, 16, 8)])
def test_total_variation_matches_eq6(rng, shape):
    x = rng.normal(size=shape).astype("float32")
    np.testing.assert_allclose(np.asarray(total_variation(x, 3)), ref.total_variation(x, 3), rtol=1e-5, atol=1e-6)


@pytest.mark.tensorflow_only
def test_total_variation_beta3_has_no_pow_abs_or_square_op():
    """|d|**3 is written (relu(d) + relu(−d))³ with multiplications, so a full-int8 TFLite model quantizes
    it and XNNPACK runs all of it (no POW, ABS or SQUARED_DIFFERENCE; docs/design.md §4)."""
    fn = tf.function(lambda x: total_variation(x, 3)).get_concrete_function(tf.TensorSpec([1, 8, 8, 2]))
    op_types = {op.type for op in fn.graph.get_operations()}
    assert not op_types & {"Pow", "Abs", "Square", "SquaredDifference"} and "Relu" in op_types


@pytest.mark.parametrize("beta", [1, 2, 3, 4])
def test_total_variation_of_every_beta_is_bitwise_the_abs_power(rng, beta):
    """relu(d) + relu(−d) is |d| exactly and the products are |d|·d² (β = 3) bit for bit."""
    x = rng.normal(size=(2, 9, 7, 3)).astype("float32")
    d = [np.abs(np.diff(x, axis=axis)).astype("float32") for axis in (1, 2)]
    power = [np.prod([v] * beta, axis=0) if beta != 3 else v * np.square(np.diff(x, axis=axis))
             for v, axis in zip(d, (1, 2), strict=True)]
    expected = np.mean(power[0], axis=(1, 2)) + np.mean(power[1], axis=(1, 2))
    np.testing.assert_allclose(np.asarray(total_variation(x, beta)), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(total_variation(x, beta)), ref.total_variation(x, beta), rtol=1e-5)


@pytest.mark.parametrize("squeeze", ["both", "tv"])
def test_tvse_scaled_tv_descriptor_gives_the_unscaled_function(rng, squeeze):
    """The squeeze hands the MLP TV_SCALE × each TV term and the reduce Dense reads both with its TV rows
    divided by TV_SCALE: the numbers of Dense(concat(mean, TV)) with the saved weights, which stay unchanged."""
    from keras_durbm.layers.tv_squeeze_excitation import TV_SCALE

    x = rng.normal(size=(2, 8, 6, 4)).astype("float32")
    layer = TVSqueezeExcitation(hidden=3, squeeze=squeeze)
    layer.build(x.shape)
    randomize(layer, rng)
    kernel_before = np.asarray(layer.reduce.kernel).copy()
    stats = np.asarray(layer.squeeze_statistics(x))
    tv = ref.total_variation(x, 3)
    assert stats.shape == (2, 12 if squeeze == "both" else 8)
    np.testing.assert_allclose(stats[:, -8:-4] + stats[:, -4:], tv * TV_SCALE, rtol=1e-5)
    unscaled = np.concatenate([x.mean(axis=(1, 2)), tv] if squeeze == "both" else [tv], axis=-1).astype("float32")
    np.testing.assert_allclose(np.asarray(layer.reduce_descriptor(stats)), np.asarray(layer.reduce(unscaled)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(layer.reduce.kernel), kernel_before)


@pytest.mark.parametrize("squeeze", ["gap", "tv", "both"])
def test_tvse_matches_numpy(rng, tmp_path, squeeze):
    x = rng.normal(size=(2, 6, 10, 4)).astype("float32")
    layer = TVSqueezeExcitation(hidden=3, squeeze=squeeze, name=f"tvse_{squeeze}")
    layer.build(x.shape)
    randomize(layer, rng)
    out = run_layer_test(layer, x, tmp_path, expected_weight_layers=2)
    expected = ref.squeeze_excitation(x.astype(np.float64), *attention_weights(layer), squeeze=squeeze)
    np.testing.assert_allclose(np.asarray(out), expected, **F32_TOL)


def test_tvse_without_tv_is_classic_se(rng):
    """With the TV switch off the squeeze is the channel mean alone: plain squeeze-and-excitation."""
    x = rng.normal(size=(3, 8, 8, 6)).astype("float32")
    layer = TVSqueezeExcitation(hidden=4, squeeze="gap")
    layer.build(x.shape)
    randomize(layer, rng)
    rk, rb, ek, eb = attention_weights(layer)
    mean = x.astype(np.float64).mean(axis=(1, 2))
    scale = 1 / (1 + np.exp(-(np.maximum(mean @ rk + rb, 0) @ ek + eb)))
    np.testing.assert_allclose(np.asarray(layer(x)), x * scale[:, None, None, :], **F32_TOL)
    assert layer.reduce.kernel.shape == (6, 4)  # squeeze width C, not 2C


def test_tvse_rejects_unknown_squeeze():
    with pytest.raises(ValueError, match="squeeze must be one of"):
        TVSqueezeExcitation(squeeze="max")


@pytest.mark.parametrize("shape,scale", [((2, 3, 5, 12), 2), ((1, 4, 4, 27), 3), ((1, 1, 1, 4), 2)])
def test_pixel_shuffle_matches_numpy(rng, tmp_path, shape, scale):
    x = rng.normal(size=shape).astype("float32")
    out = run_layer_test(PixelShuffle(scale), x, tmp_path, expected_weight_layers=0)
    np.testing.assert_array_equal(np.asarray(out), ref.depth_to_space(x, scale))


def test_pixel_shuffle_rejects_channels_not_divisible():
    with pytest.raises(ValueError, match="divisible by scale"):
        PixelShuffle(2)(np.zeros((1, 2, 2, 6), "float32"))


@pytest.mark.parametrize("pad", [1, 2, 3, 6])
@pytest.mark.parametrize("hw", [(7, 9), (8, 8), (13, 10)])
def test_reflect_pad_matches_np_pad(rng, pad, hw):
    x = rng.normal(size=(2, *hw, 3)).astype("float32")
    out = ReflectPad2D(pad)(x)
    np.testing.assert_array_equal(np.asarray(out), np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), "reflect"))


@pytest.mark.tensorflow_only
def test_reflect_pad_with_unknown_size_in_graph(rng):
    """The slices work when H and W are only known at run time (serving, TFLite with dynamic shapes)."""
    fn = tf.function(ReflectPad2D((2, 1)), input_signature=[tf.TensorSpec([None, None, None, 3])])
    x = rng.normal(size=(1, 5, 11, 3)).astype("float32")
    np.testing.assert_array_equal(fn(x).numpy(), np.pad(x, ((0, 0), (2, 2), (1, 1), (0, 0)), "reflect"))
    assert "MirrorPad" not in {op.type for op in fn.get_concrete_function().graph.get_operations()}


def test_reflect_pad_too_small_image_is_a_clear_error():
    with pytest.raises(ValueError, match="needs more than 3 pixels"):
        ReflectPad2D(3)(np.zeros((1, 3, 8, 1), "float32"))


def test_reflect_pad_layer_checks(rng, tmp_path):
    run_layer_test(ReflectPad2D((1, 2), name="pad"), rng.normal(size=(1, 6, 7, 2)).astype("float32"), tmp_path, 0)


@pytest.mark.parametrize("kernel,stride,dilation", [(3, 1, 1), (5, 2, 1), (3, 1, 2), (7, 1, 1)])
def test_reflect_conv_matches_numpy(rng, tmp_path, kernel, stride, dilation):
    x = rng.normal(size=(2, 12, 10, 3)).astype("float32")
    layer = ReflectConv2D(4, kernel, strides=stride, dilation_rate=dilation, name="rconv")
    layer.build(x.shape)
    randomize(layer, rng)
    out = run_layer_test(layer, x, tmp_path, expected_weight_layers=1)
    expected = ref.conv2d(x.astype(np.float64), *conv_weights(layer), stride=stride, dilation=dilation)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)
    assert out.shape[1:3] == (12 // stride, 10 // stride)


@pytest.mark.parametrize("squeeze,weight_layers", [("both", 4), ("gap", 4), ("tv", 4), ("none", 2)])
def test_residual_attention_block_matches_numpy(rng, tmp_path, squeeze, weight_layers):
    x = rng.normal(size=(2, 8, 6, 4)).astype("float32")
    layer = ResidualAttentionBlock(hidden=3, squeeze=squeeze, name=f"block_{squeeze}")
    layer.build(x.shape)
    randomize(layer, rng)
    out = run_layer_test(layer, x, tmp_path, expected_weight_layers=weight_layers)
    expected = ref.residual_attention_block(x.astype(np.float64), block_weights(layer), squeeze)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "k1,k2,dilation,fusion,weight_layers", [(3, 3, 2, True, 13), (5, 5, 1, True, 13), (3, 5, 1, False, 12)]
)
def test_durbm_matches_numpy(rng, tmp_path, k1, k2, dilation, fusion, weight_layers):
    x = rng.normal(size=(2, 4, 6, 8)).astype("float32")
    res = rng.normal(size=(2, 8, 12, 6)).astype("float32")
    layer = DuRBM(8, 6, k1=k1, k2=k2, dilation=dilation, tvse_hidden=4, se_hidden=5, fusion=fusion, name="durbm")
    layer.build((x.shape, res.shape))
    for weight in layer.weights:
        weight.assign(rng.normal(0, 0.15, weight.shape).astype("float32"))
    out_x, out_res = run_layer_test(layer, [x, res], tmp_path, expected_weight_layers=weight_layers)
    exp_x, exp_res = ref.durb_m(x.astype(np.float64), res.astype(np.float64), durbm_weights(layer), dilation,
                                fusion=fusion)
    np.testing.assert_allclose(np.asarray(out_res), exp_res, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(out_x), exp_x, rtol=1e-4, atol=1e-4)
    assert out_x.shape == x.shape and out_res.shape == res.shape


def test_durbm_rejects_wrong_widths():
    layer = DuRBM(8, 6)
    with pytest.raises(ValueError, match="res must have 6 channels"):
        layer([keras.Input((4, 4, 8)), keras.Input((8, 8, 5))])


def _harness_cases(rng):
    x = rng.random((2, 16, 16, 8)).astype("float32")
    res = rng.random((2, 32, 32, 8)).astype("float32")
    durbm = dict(channels=8, res_channels=8, k1=3, k2=3, dilation=2, tvse_hidden=4, se_hidden=4)
    return [
        (TVSqueezeExcitation, dict(hidden=4), x, (2, 16, 16, 8), 4),
        (TVSqueezeExcitation, dict(hidden=4, squeeze="tv"), x, (2, 16, 16, 8), 4),
        (ResidualAttentionBlock, dict(hidden=4), x, (2, 16, 16, 8), 6),
        (ResidualAttentionBlock, dict(hidden=4, squeeze="none"), x, (2, 16, 16, 8), 2),
        (ReflectConv2D, dict(filters=6, kernel_size=3, dilation_rate=2), x, (2, 16, 16, 6), 2),
        (ReflectConv2D, dict(filters=6, kernel_size=5, strides=2), x, (2, 8, 8, 6), 2),
        (ReflectPad2D, dict(padding=2), x, (2, 20, 20, 8), 0),
        (PixelShuffle, dict(scale=2), x, (2, 32, 32, 2), 0),
        (DuRBM, durbm, (x, res), ((2, 16, 16, 8), (2, 32, 32, 8)), 22),
        (DuRBM, {**durbm, "fusion": False}, (x, res), ((2, 16, 16, 8), (2, 32, 32, 8)), 20),
    ]


@pytest.mark.parametrize("case", range(10))
def test_every_public_layer_passes_the_keras_layer_harness(case):
    """keras-hub's standard: config and serialization round trips, a compiled training step, mixed_float16."""
    layer_cls, kwargs, inputs, shape, trainable = _harness_cases(np.random.default_rng(case))[case]
    run_keras_layer_test(layer_cls, kwargs, inputs, shape, trainable)


@pytest.mark.parametrize("case", range(10))
def test_every_public_layer_computes_in_its_dtype_policy(case):
    """Sub-layers take the layer's policy: mixed_float16/bfloat16 and float16/bfloat16 run, compute in the
    policy's dtype (no half x float32 multiplication, no silent float32) and stay close to float32."""
    layer_cls, kwargs, inputs, _, _ = _harness_cases(np.random.default_rng(case))[case]
    check_dtype_policies(layer_cls, kwargs, list(inputs) if isinstance(inputs, tuple) else inputs)


# --- the degradation classifier ---------------------------------------------------------------------------


def classifier_inputs(rng, n=3):
    return [rng.random((n, 18, 20, 3)).astype("float32"), rng.normal(size=(n, 18, 20, 4)).astype("float32")]


def test_classifier_statistics_match_numpy(rng):
    from keras_durbm.layers.degradation_classifier import (
        DARK_PATCH,
        DETAIL_EPSILON,
        EPSILON,
        SOFT_MIN_TEMPERATURE,
        STREAK_WINDOW,
    )

    image, first = classifier_inputs(rng)
    found = np.asarray(DegradationClassifier(4).statistics([image, first]), np.float64)
    log_mean = lambda v, eps=EPSILON: np.log(v.mean((1, 2)) + eps)  # noqa: E731
    x = image.astype(np.float64)
    low, high = x.min(-1), x.max(-1)
    dark = np.lib.stride_tricks.sliding_window_view(low, (DARK_PATCH, DARK_PATCH), axis=(1, 2)).min((-2, -1))
    soft_min = -SOFT_MIN_TEMPERATURE * np.log(np.exp(-dark / SOFT_MIN_TEMPERATURE).mean((1, 2)))
    columns = [log_mean(dark), np.log(soft_min + EPSILON), log_mean(high), log_mean(high - low) - log_mean(high)]
    grey = x.mean(-1)

    def same_mean(kh, kw):  # "same" mean pooling: border windows average what they cover
        ph, pw = (kh - 1) // 2, (kw - 1) // 2
        pad = ((ph, kh - 1 - ph), (pw, kw - 1 - pw))
        padded, counts = np.pad(grey, ((0, 0), *pad)), np.pad(np.ones_like(grey[0]), pad)
        box = lambda a: sum(a[..., i:i + grey.shape[1], j:j + grey.shape[2]] for i in range(kh) for j in range(kw))  # noqa: E731
        return box(padded) / box(counts)

    detail = grey - same_mean(3, 3)
    bright = log_mean(np.maximum(detail, 0) ** 2, EPSILON ** 2)
    columns += [bright, bright - log_mean(np.maximum(-detail, 0) ** 2, EPSILON ** 2)]
    across, along = (log_mean(np.maximum(grey - same_mean(*window), 0) ** 2, EPSILON ** 2)
                     for window in ((1, STREAK_WINDOW), (STREAK_WINDOW, 1)))
    columns.append(across - along)
    mean_abs, rms = {}, {}
    for scale in (1, 2, 4):
        h, w = grey.shape[1] // scale * scale, grey.shape[2] // scale * scale
        level = grey[:, :h, :w].reshape(len(grey), h // scale, scale, w // scale, scale).mean((2, 4))
        for axis in (1, 2):
            d = np.diff(level, axis=axis)
            mean_abs[scale, axis] = log_mean(np.abs(d), DETAIL_EPSILON)
            rms[scale, axis] = 0.5 * log_mean(d * d, DETAIL_EPSILON ** 2)
    for axis in (1, 2):
        columns += [mean_abs[1, axis] - mean_abs[2, axis], mean_abs[2, axis] - mean_abs[4, axis],
                    rms[1, axis] - rms[2, axis]]
    m = first.astype(np.float64)
    block = 0.0
    for axis in (1, 2):
        d = np.abs(np.diff(m, axis=axis))
        phases = np.stack([(d[:, p::8] if axis == 1 else d[:, :, p::8]).mean((1, 2)) for p in range(8)])
        block = block + np.log(phases.max(0) + EPSILON) - np.log(phases.mean(0) + EPSILON)
    expected = np.concatenate([np.stack(columns, -1), block], -1)
    np.testing.assert_allclose(found, expected, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("photo", ["coffee", "astronaut", "motorcycle", "camera"])
def test_classifier_image_statistics_see_haze_rain_and_blur(photo):
    """On real photographs (colour and grey) with the project's own synthesis: haze (paper eq. 2) lifts the
    soft minimum of the dark channel and washes out saturation, rain streaks (eq. 3) add bright detail that
    is vertical rather than horizontal, and a 4-pixel motion blur takes fine detail (scale 1 against 2)
    away on at least one axis, in the mean and more in the root mean square. Margins are about half the
    smallest change measured over these four photographs at 96 px."""
    from keras_durbm.layers.degradation_classifier import image_statistics
    from tfrecords_tools.photos import load_photo
    from tfrecords_tools.synthesis import add_haze, add_motion_blur, add_rain

    clean = load_photo(photo, 96).astype(np.float32) / np.float32(255.0)
    variants = {"clean": clean, "haze": add_haze(clean, 0), "rain": add_rain(clean, 0),
                "blur": add_motion_blur(clean, 0, length=4.0)}
    stats = {name: np.asarray(image_statistics(image[None]))[0] for name, image in variants.items()}
    soft_min, saturation, bright, streak = 1, 3, 4, 6
    fine_mean, fine_rms = (7, 10), (9, 12)  # scale 1 over scale 2, per axis
    assert stats["haze"][soft_min] > stats["clean"][soft_min] + 1.0  # measured: +1.9 … +2.7
    assert stats["haze"][saturation] < stats["clean"][saturation]
    assert stats["rain"][bright] > stats["clean"][bright] + 0.7  # measured: +1.1 … +1.6
    assert stats["rain"][streak] > stats["clean"][streak] + 0.4  # measured: +0.75 … +1.55
    for columns in (fine_mean, fine_rms):
        drop = min(stats["blur"][c] - stats["clean"][c] for c in columns)
        assert drop < -0.07, drop  # measured: −0.14 … −0.20 (mean), −0.17 … −0.28 (rms)


def test_classifier_blockiness_finds_an_8x8_grid_wherever_it_lies(rng):
    from keras_durbm.layers.degradation_classifier import blockiness

    smooth = rng.normal(size=(1, 40, 40, 1)).astype("float32") * 0.01
    steps = np.zeros((1, 40, 40, 1), np.float32)
    steps[:, 3::8] += 1.0  # a step every 8 rows, at phase 3
    blocky = np.cumsum(steps, axis=1) + smooth
    assert float(blockiness(blocky)[0, 0]) > 1.0 > abs(float(blockiness(smooth)[0, 0]))


def test_classifier_standardises_by_running_statistics_never_the_minibatchs(rng):
    """Training calls first average the minibatches' feature means (1/(k+1) weights), later blend them in
    with MOMENTUM; inference standardises by those statistics, and so does training (the batch's own
    statistics would tell the classes of the minibatch apart)."""
    layer = DegradationClassifier(4, hidden=0)
    batches = [classifier_inputs(rng) for _ in range(3)]
    stats = [np.asarray(layer.statistics(b), np.float64) for b in batches]
    for b in batches:
        layer(b, training=True)
    mean = np.mean([s.mean(0) for s in stats], axis=0)
    square = np.mean([(s * s).mean(0) for s in stats], axis=0)
    np.testing.assert_allclose(np.asarray(layer.feature_mean), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer.feature_square), square, rtol=1e-5, atol=1e-6)
    standardised = (stats[0] - mean) / np.sqrt(square - mean**2 + 1e-3)
    logits = standardised @ np.asarray(layer.logits.kernel, np.float64) + np.asarray(layer.logits.bias)
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(layer(batches[0])), expected, atol=1e-4)  # float32 E[x²] − E[x]²
    before = np.asarray(layer.feature_mean).copy()
    layer(batches[1], training=False)
    np.testing.assert_array_equal(np.asarray(layer.feature_mean), before)
    seen_before = float(layer.seen.numpy())
    layer(batches[1], training=True)
    from keras_durbm.layers.degradation_classifier import MOMENTUM

    rate = max(1 / (seen_before + 1), 1 - MOMENTUM)
    np.testing.assert_allclose(np.asarray(layer.feature_mean), before + rate * (stats[1].mean(0) - before), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("backprop", [False, True])
def test_classifier_gradient_reaches_the_feature_maps_only_with_backprop(rng, backprop):
    layer = DegradationClassifier(4, backprop=backprop)
    inputs = [tf.constant(x) for x in classifier_inputs(rng)]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = tf.reduce_sum(layer(inputs, training=True)[:, 0])
    gradients = tape.gradient(loss, inputs)
    assert gradients[0] is None  # the image statistics never pass gradients back
    for g in gradients[1:]:
        assert (g is not None and float(tf.reduce_max(tf.abs(g))) > 0) == backprop


def test_classifier_passes_the_layer_checks(rng, tmp_path):
    inputs = classifier_inputs(rng, 2)
    run_layer_test(DegradationClassifier(4, hidden=6, name="classify"), inputs, tmp_path, expected_weight_layers=2)
    with pytest.raises(ValueError, match="RGB image"):
        DegradationClassifier(4)([inputs[1], inputs[1]])
    run_keras_layer_test(DegradationClassifier, dict(classes=4, hidden=6), tuple(inputs), (2, 4), 4, 3)
    check_dtype_policies(DegradationClassifier, dict(classes=4, hidden=6), inputs)
