"""The network's presets and input-size rule (keras_durbm.config.model)."""

import pytest

from keras_durbm.config.model import MODEL_PRESETS, min_input_size, model_preset


def test_presets_differ_only_where_intended():
    paper, tiny = model_preset("paper"), model_preset("tiny")
    assert paper.channels == 96 and paper.res_channels == 64 and paper.tvse_hidden == 64 and paper.se_hidden == 96
    assert paper.shared_kernels == ((3, 3, 2), (5, 3, 1), (3, 5, 2), (5, 5, 1), (7, 5, 1))
    assert paper.extra_kernels == ((7, 5, 2), (11, 5, 1), (11, 5, 1))
    assert tiny.topology == paper.topology and tiny.tv_beta == 3


def test_demo_preset_is_small_made_lighter():
    """The embedded default's network (was a dict of overrides in the training config)."""
    small, demo = model_preset("small"), model_preset("demo")
    assert demo == model_preset("small", stem_widths=(12, 16, 24), decoder_widths=(16, 8), tvse_hidden=16,
                                se_hidden=16, extra_kernels=((5, 3, 1),))
    assert demo.shared_kernels == small.shared_kernels and min_input_size(demo) == 8


def test_extra_kernels_repeat_the_last_entry():
    cfg = model_preset("paper")
    assert [cfg.kernels_of_extra_block(i) for i in range(5)] == [(7, 5, 2), (11, 5, 1), (11, 5, 1), (11, 5, 1), (11, 5, 1)]


def test_unknown_preset_lists_known_ones():
    with pytest.raises(KeyError, match="known presets: paper, small, demo, tiny"):
        model_preset("huge")
    assert list(MODEL_PRESETS) == ["paper", "small", "demo", "tiny"]
