"""The model card: multiply-add counting against the conv formula, and the CLI for paper and tiny."""

import keras
import pytest

from keras_durbm import model_card as model_cli
from keras_durbm.models.cost import multiply_adds


def test_multiply_adds_of_known_layers():
    """A 3×3 conv (3→8) at 32×32 then a stride-2 5×5 conv (8→4) then Dense(4→6) on the GAP."""
    x = keras.Input((None, None, 3))
    y = keras.layers.Conv2D(8, 3, padding="same")(x)
    y = keras.layers.Conv2D(4, 5, strides=2, padding="same")(y)
    y = keras.layers.Dense(6)(keras.layers.GlobalAveragePooling2D()(y))
    model = keras.Model(x, y)
    expected = 32 * 32 * 8 * (3 * 3 * 3) + 16 * 16 * 4 * (5 * 5 * 8) + 4 * 6
    assert multiply_adds(model, 32, 32) == expected


def test_card_cli_tiny(capsys, tmp_path):
    plot = tmp_path / "topology.png"
    assert model_cli.main(["--preset", "tiny", "--topology", "R>B>H", "--plot", str(plot), "--measure-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "weight layers: encoder 68, extra DuRB-M blocks [13, 13]" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip().startswith(("rain", "motion", "haze"))}
    assert [rows[t][3] for t in ("rain", "motion_blur", "haze")] == ["73", "86", "99"]  # weight layers per path
    assert all(rows[t][4] == "5" for t in rows)  # decoder weight layers
    assert plot.stat().st_size > 5000


@pytest.mark.slow
def test_card_cli_paper(capsys):
    assert model_cli.main(["--preset", "paper", "--topology", "R>B>H", "--measure-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "encoder 68, extra DuRB-M blocks [13, 13]" in out
    gmacs = {line.split()[0]: float(line.split()[5]) for line in out.splitlines() if line.strip().startswith(("rain", "motion", "haze"))}
    assert 0 < gmacs["rain"] < gmacs["motion_blur"] < gmacs["haze"]  # each extra DuRB-M adds cost


@pytest.mark.parametrize("argv,message", [(["--topology", "R>>B"], "level 1 is empty"), (["--set", "foo=1"], "unknown config key")])
def test_card_cli_bad_input(capsys, argv, message):
    assert model_cli.main(["--preset", "tiny", *argv]) == 2
    assert message in capsys.readouterr().err


def test_card_counts_the_degradation_classifier():
    """Its parameters are the two Dense layers over 13 image statistics plus one block statistic per
    channel of the first ReLU, and the network's total grows by exactly them."""
    import dataclasses

    from keras_durbm.config.model import model_preset
    from keras_durbm.layers.degradation_classifier import IMAGE_STATISTICS
    from keras_durbm.models import build_durbm
    from keras_durbm.models.card import describe, format_card

    plain = model_preset("tiny", topology="R>H")
    config = dataclasses.replace(plain, classifier=True, classifier_hidden=16)
    card, without = describe(build_durbm(config), 32), describe(build_durbm(plain), 32)
    width = IMAGE_STATISTICS + config.stem_widths[0]
    assert IMAGE_STATISTICS == 13
    assert card.classifier_parameters == (width * 16 + 16) + (16 * 3 + 3)
    assert card.total_parameters - without.total_parameters == card.classifier_parameters
    assert card.classes == ("rain", "haze", "clean") and card.classifier_weight_layers == 2
    assert "degradation classifier: " in format_card(card) and "degradation" not in format_card(without)
