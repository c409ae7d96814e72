"""The multi-head network: weight-layer counts, parameter counts against the paper's formulas,
dynamic sizes, the residual form of eq. 5, safe `.keras` reloads and gradient flow per head."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_durbm.config.model import min_input_size, model_preset
from keras_durbm.models import (
    build_durbm,
    count_parameters,
    count_weight_layers,
    head_model,
    load_durbm,
    save_durbm,
)
from keras_durbm.training.losses import restoration_loss


def conv(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def dense(cin, cout):
    return cin * cout + cout


def attention_block(c, hidden, squeeze):
    mlp = 0 if squeeze == "none" else dense(2 * c if squeeze == "both" else c, hidden) + dense(hidden, c)
    return 2 * conv(3, c, c, bias=False) + mlp


def durbm(cfg, kernels):
    c, r = cfg.channels, cfg.res_channels
    k1, k2, _ = kernels
    return (
        attention_block(c, cfg.tvse_hidden, cfg.squeeze)
        + conv(1, c, 4 * c) + conv(k1, c, r)  # T1
        + conv(3, r, c)  # branch (a)
        + attention_block(r, cfg.se_hidden, "gap") + conv(k2, r, c)  # branch (b)
        + conv(3, 2 * c, c)  # merge
    )


def expected_parameters(cfg):
    """Parameter count of the whole network from docs/design.md §1.2–1.5, layer by layer."""
    w1, w2, w3 = cfg.stem_widths
    d1, d2 = cfg.decoder_widths
    encoder = conv(3, 3, w1) + conv(3, w1, w2) + conv(3, w2, w3) + sum(durbm(cfg, k) for k in cfg.shared_kernels)
    levels = cfg.topology.split(">")
    extra = sum(durbm(cfg, cfg.kernels_of_extra_block(i)) for i in range(len(levels) - 1))
    decoder = conv(3, w3, 4 * d1) + conv(3, d1, d1) + conv(3, d1, 4 * d2) + conv(3, d2, d2) + conv(3, d2, 3)
    return encoder + extra + decoder * sum(len(level) for level in levels)


@pytest.fixture(scope="module")
def tiny():
    # fixed weights whatever ran before: seeds 0 and 1 each leave one TV-SE hidden ReLU (4 wide in `tiny`)
    # dead at initialisation, so its reduce kernel gets no gradient; seed 2 leaves none dead
    keras.utils.set_random_seed(2)
    return build_durbm(model_preset("tiny", topology="R>B>H"))


def test_weight_layer_counts(tiny):
    layers = {layer.name: layer for layer in tiny.layers}
    encoder = [layer for name, layer in layers.items() if name.startswith("encoder_")]
    assert sum(count_weight_layers(layer) for layer in encoder) == 68  # 3 + 5 × 13 (paper §4.3)
    assert count_weight_layers(layers["extra_durbm1"]) == 13
    for task in tiny.task_names:
        decoder = [layer for name, layer in layers.items() if name.startswith(f"{task}_decoder")]
        assert sum(count_weight_layers(layer) for layer in decoder) == 5
    # rain at depth 0, blur after one extra block, haze after two
    assert [count_weight_layers(head_model(tiny, t)) for t in ("rain", "motion_blur", "haze")] == [73, 86, 99]


@pytest.mark.parametrize("topology", ["R>B>H", "R>B>J>H", "RBH"])
def test_paper_parameter_count_matches_formula(topology):
    cfg = model_preset("paper", topology=topology)
    model = build_durbm(cfg)
    assert count_parameters(model) == expected_parameters(cfg)


def test_paper_parameter_count_pinned():
    """Pinned so an accidental change to the paper preset is noticed (printed by the model card too)."""
    model = build_durbm(model_preset("paper", topology="R>B>J>H"))
    assert count_parameters(model) == 9_218_604


@pytest.mark.parametrize("squeeze,fusion", [("gap", True), ("none", True), ("both", False)])
def test_ablation_switches_change_parameters_as_expected(squeeze, fusion):
    cfg = model_preset("tiny", topology="R>B", squeeze=squeeze, fusion=fusion)
    model = build_durbm(cfg)
    expected = expected_parameters(cfg)
    if not fusion:  # branch (a) is gone and the merge conv sees C channels, not 2C
        c, r = cfg.channels, cfg.res_channels
        blocks = len(cfg.shared_kernels) + 1
        expected -= blocks * (conv(3, r, c) + conv(3, 2 * c, c) - conv(3, c, c))
    assert count_parameters(model) == expected


@pytest.mark.parametrize("hw", [(8, 8), (16, 24), (20, 36), (44, 12)])
def test_any_multiple_of_four_works(tiny, hw):
    x = np.random.default_rng(0).random((2, *hw, 3), dtype=np.float32)
    outputs = tiny(x)
    assert list(outputs) == ["rain", "motion_blur", "haze"]
    for y in outputs.values():
        assert y.shape == (2, *hw, 3) and np.all(np.isfinite(y))


@pytest.mark.parametrize("hw,message", [((18, 16), "height is 18"), ((16, 30), "width is 30"), ((4, 8), "at least 8")])
def test_other_sizes_fail_clearly(tiny, hw, message):
    with pytest.raises(ValueError, match=message):
        tiny(np.zeros((1, *hw, 3), "float32"))


def test_min_input_size_of_presets():
    assert min_input_size(model_preset("paper")) == 16  # (7, 5, dilation 2): pad 6 at 1/2 resolution
    assert min_input_size(model_preset("tiny")) == 8


def test_grayscale_input_is_rejected(tiny):
    with pytest.raises(ValueError, match="3 channels"):
        tiny(np.zeros((1, 16, 16, 1), "float32"))


def test_output_is_input_plus_compensation(tiny):
    """Paper eq. 5: zero the last decoder conv and each head returns its input exactly."""
    clone = build_durbm(tiny.config)
    clone.set_weights(tiny.get_weights())
    x = np.random.default_rng(1).random((1, 16, 16, 3), dtype=np.float32)
    for task in clone.task_names:
        out_layer = clone.get_layer(f"{task}_decoder_out")
        for w in out_layer.weights:
            w.assign(np.zeros(w.shape, "float32"))
        np.testing.assert_array_equal(np.asarray(clone(x)[task]), x)


def test_keras_save_and_safe_load_give_identical_outputs(tiny, tmp_path):
    path = tmp_path / "model.keras"
    save_durbm(tiny, str(path))
    reloaded = load_durbm(str(tmp_path))  # a run folder holding model.keras works too
    assert reloaded.config == tiny.config and reloaded.task_names == tiny.task_names
    x = np.random.default_rng(2).random((1, 16, 20, 3), dtype=np.float32)
    for task in tiny.task_names:
        np.testing.assert_array_equal(np.asarray(tiny(x)[task]), np.asarray(reloaded(x)[task]))
    keras.saving.load_model(path, safe_mode=True)  # no Lambda layers anywhere


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_durbm(str(tmp_path / "missing.keras"))
    with pytest.raises(FileNotFoundError, match="without model.keras"):
        load_durbm(str(tmp_path))
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.keras is not a Keras 3"):
        load_durbm(str(bad))


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("loss_name", ["l1", "restoration"])
def test_every_weight_on_a_heads_path_gets_a_gradient(tiny, loss_name):
    """A batch of task T trains the encoder, the blocks below T and T's decoder — and nothing else — with a
    plain L1 and with the training loss (SSIM + L1; its SSIM needs 11x11 images)."""
    rng = np.random.default_rng(3)
    x = tf.constant(rng.random((2, 16, 16, 3), dtype=np.float32))
    target = tf.constant(rng.random((2, 16, 16, 3), dtype=np.float32))
    all_weights = {id(w): w.path for w in tiny.trainable_weights}
    for task in tiny.task_names:
        head = head_model(tiny, task)
        with tf.GradientTape() as tape:
            restored = head(x, training=True)
            loss = tf.reduce_mean(tf.abs(restored - target)) if loss_name == "l1" else restoration_loss(restored, target)
        grads = tape.gradient(loss, head.trainable_weights)
        on_path = {id(w) for w in head.trainable_weights}
        for w, g in zip(head.trainable_weights, grads, strict=True):
            assert g is not None and float(tf.reduce_max(tf.abs(g))) > 0, f"{task}: no gradient for {w.path}"
        off_path = [all_weights[i] for i in all_weights if i not in on_path]
        other_decoders = [p for p in off_path if "decoder" in p]
        assert all(task not in p.split("/")[0] for p in off_path)
        assert len(other_decoders) == sum(1 for p in all_weights.values() if "decoder" in p and not p.startswith(task))


def test_head_model_rejects_unknown_head(tiny):
    with pytest.raises(KeyError, match="this model has heads: rain, motion_blur, haze"):
        head_model(tiny, "jpeg")
