"""Topology strings (paper §5.2, Table 2): every design builds with its heads at the right depth."""

import numpy as np
import pytest

from keras_durbm.config.model import model_preset
from keras_durbm.config.tasks import Task, register_task, unregister_task
from keras_durbm.config.topology import TABLE2_DESIGNS, parse_topology
from keras_durbm.models import build_durbm, count_weight_layers, head_model


def expected_depths(text):
    """Reads the string by hand: the number of '>' before a letter is its head's depth."""
    return {letter: text[: text.index(letter)].count(">") for letter in text if letter.isalpha()}


def test_table2_lists_thirteen_three_task_designs():
    assert len(TABLE2_DESIGNS) == 13
    assert max(TABLE2_DESIGNS, key=lambda t: TABLE2_DESIGNS[t][0]) == "R>B>H"


@pytest.mark.parametrize("text", [*TABLE2_DESIGNS, "R>B>J>H"])
def test_designs_build_with_heads_at_the_right_depth(text):
    model = build_durbm(model_preset("tiny", topology=text))
    topology = model.topology
    depths = expected_depths(text)
    assert sorted(t.letter for t in topology.tasks) == sorted(depths)
    assert len([layer for layer in model.layers if layer.name.startswith("extra_durbm")]) == text.count(">")
    x = np.zeros((1, 8, 8, 3), "float32")
    outputs = model(x)
    for task in topology.tasks:
        depth = depths[task.letter]
        assert topology.depth_of(task.name) == depth
        # the path to a head at depth d holds 68 encoder + 13·d block + 5 decoder weight layers
        assert count_weight_layers(head_model(model, task.name)) == 68 + 13 * depth + 5
        assert outputs[task.name].shape == (1, 8, 8, 3)


@pytest.mark.parametrize(
    "text,message",
    [
        ("R>>B", "level 1 is empty"),
        (">RB", "level 0 is empty"),
        ("RB>", "level 1 is empty"),
        ("R>X", "unknown task letter 'X'; known: B=motion_blur, H=haze, R=rain, J=jpeg"),
        ("R>B>R", "task R \\(rain\\) appears twice"),
        ("", "topology is empty"),
        ("   ", "topology is empty"),
        ("r>b", "'r' is not a task letter"),
        ("R-B", "'-' is not a task letter"),
    ],
)
def test_malformed_topologies_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_topology(text)


def test_whitespace_is_ignored():
    assert parse_topology(" R > BH ").text == "R>BH"


def test_user_registered_task_gets_a_head():
    register_task(Task("N", "noise", "rgb", (), "Gaussian noise"))
    try:
        model = build_durbm(model_preset("tiny", topology="R>N"))
        assert model.task_names == ("rain", "noise")
        assert model.topology.depth_of("noise") == 1
    finally:
        unregister_task("noise")
    with pytest.raises(ValueError, match="unknown task letter 'N'"):
        parse_topology("R>N")


def test_registering_a_clashing_task_fails():
    with pytest.raises(ValueError, match="clashes"):
        register_task(Task("H", "hazy", "rgb"))
