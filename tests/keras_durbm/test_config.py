"""Config presets and overrides: YAML and key=value only override; bad keys and values are named."""

import dataclasses

import pytest

from keras_durbm.config import (
    ModelConfig,
    apply_overrides,
    dump_yaml,
    from_dict,
    model_preset,
    parse_assignment,
    to_dict,
)


def test_presets_differ_only_where_intended():
    paper, tiny = model_preset("paper"), model_preset("tiny")
    assert paper.channels == 96 and paper.res_channels == 64 and paper.tvse_hidden == 64 and paper.se_hidden == 96
    assert paper.shared_kernels == ((3, 3, 2), (5, 3, 1), (3, 5, 2), (5, 5, 1), (7, 5, 1))
    assert paper.extra_kernels == ((7, 5, 2), (11, 5, 1), (11, 5, 1))
    assert tiny.topology == paper.topology and tiny.tv_beta == 3


def test_extra_kernels_repeat_the_last_entry():
    cfg = model_preset("paper")
    assert [cfg.kernels_of_extra_block(i) for i in range(5)] == [(7, 5, 2), (11, 5, 1), (11, 5, 1), (11, 5, 1), (11, 5, 1)]


def test_round_trip_through_dict():
    cfg = model_preset("small", topology="BH>R", squeeze="gap")
    assert from_dict(ModelConfig, to_dict(cfg)) == cfg


def test_yaml_then_assignments_override_in_order(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("topology: 'R>B>H'\ntvse_hidden: 32\nshared_kernels: [[3, 3, 1]]\n")
    cfg = apply_overrides(model_preset("paper"), [str(path)], ["tvse_hidden=16", "fusion=false"])
    assert (cfg.topology, cfg.tvse_hidden, cfg.fusion, cfg.shared_kernels) == ("R>B>H", 16, False, ((3, 3, 1),))
    out = tmp_path / "effective.yaml"
    dump_yaml(cfg, str(out))
    assert apply_overrides(ModelConfig(), [str(out)]) == cfg


@pytest.mark.parametrize(
    "assignment,error,message",
    [
        ("channel=3", KeyError, "unknown config key 'channel'"),
        ("tvse_hidden=abc", TypeError, "tvse_hidden: expected an integer"),
        ("fusion=3", TypeError, "fusion: expected true or false"),
        ("stem_widths=[1, 2]", ValueError, "stem_widths: expected 3 values"),
        ("squeeze=max", ValueError, "squeeze must be both, gap, tv or none"),
        ("shared_kernels=[[4, 3, 1]]", ValueError, "kernels must be odd"),
        ("novalue", ValueError, "expects key=value"),
    ],
)
def test_bad_overrides_name_the_key(assignment, error, message):
    with pytest.raises(error, match=message):
        apply_overrides(model_preset("tiny"), assignments=[assignment])


def test_unknown_preset_lists_known_ones():
    with pytest.raises(KeyError, match="known presets: paper, small, tiny"):
        model_preset("huge")


def test_bad_yaml_file_is_named(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("topology: [unclosed\n")
    with pytest.raises(ValueError, match="broken.yaml is not valid YAML"):
        apply_overrides(model_preset("tiny"), [str(path)])
    with pytest.raises(ValueError, match="cannot read config file .*missing.yaml"):
        apply_overrides(model_preset("tiny"), [str(tmp_path / "missing.yaml")])


def test_assignment_values_are_yaml():
    assert parse_assignment("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_assignment("topology=R>B>H") == (["topology"], "R>B>H")


def test_floats_written_without_a_dot_are_floats():
    """YAML 1.1 reads `1e-4` as a string; a float field still takes it."""

    @dataclasses.dataclass(frozen=True)
    class Optimizer:
        learning_rate: float = 1e-3

    assert apply_overrides(Optimizer(), assignments=["learning_rate=1e-4"]).learning_rate == 1e-4
    with pytest.raises(TypeError, match="learning_rate: expected a number"):
        apply_overrides(Optimizer(), assignments=["learning_rate=fast"])
