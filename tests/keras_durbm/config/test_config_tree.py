"""The config engine: YAML files, key=value and flags derived from dataclasses only override; bad keys,
values, duplicate YAML keys and bad flags are named."""

import argparse
import dataclasses

import pytest

from keras_durbm.config.engine import (
    add_arguments,
    apply_overrides,
    dump_yaml,
    from_arguments,
    from_dict,
    option,
    parse_assignment,
    to_dict,
)
from keras_durbm.config.model import ModelConfig, model_preset


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


def test_a_key_written_twice_in_a_yaml_file_is_an_error(tmp_path):
    """YAML itself keeps the last value of a repeated key, silently; a config file must not."""
    path = tmp_path / "twice.yaml"
    path.write_text("tvse_hidden: 8\nfusion: false\ntvse_hidden: 16\n")
    with pytest.raises(ValueError, match=r"twice.yaml is not valid YAML.*'tvse_hidden' appears twice"):
        apply_overrides(model_preset("tiny"), [str(path)])
    nested = tmp_path / "nested.yaml"
    nested.write_text("a:\n  b: 1\n  b: 2\n")
    with pytest.raises(ValueError, match="'b' appears twice"):
        apply_overrides(model_preset("tiny"), [str(nested)])


@dataclasses.dataclass(frozen=True)
class _Options:
    size: int = option(64, "side of the image")
    scale: float | None = option(None, "optional scale")
    names: tuple[str, ...] = option(("a", "b"), "comma list of names")
    fast: bool = option(False, "go fast")
    progress: bool = option(True, "hide the bar", flag="--no-progress")
    params: dict = option(help="parameters", default_factory=dict, flag="--param")
    hidden: int = option(3, "not a flag", cli=False)


def _parse(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser, _Options)
    return parser, parser.parse_args(list(argv))


def test_flags_are_derived_from_the_dataclass_and_only_given_ones_change_the_base():
    parser, args = _parse()
    assert from_arguments(_Options(), args) == _Options()
    base = _Options(size=8, names=("z",))
    _, args = _parse("--size", "32", "--names", "x,y", "--fast", "--no-progress", "--param", "beta=[0.6, 1.8]",
                     "--param", "q=10", "--scale", "0.5")
    got = from_arguments(base, args)
    assert got == _Options(size=32, scale=0.5, names=("x", "y"), fast=True, progress=False,
                           params={"beta": [0.6, 1.8], "q": 10})
    assert from_arguments(base, _parse("--fast")[1]) == dataclasses.replace(base, fast=True)
    help_text = parser.format_help()
    assert "side of the image (default: 64)" in help_text and "--no-progress" in help_text
    assert "--hidden" not in help_text


def test_bad_flag_values_fail_like_bad_yaml_values():
    with pytest.raises(SystemExit):
        _parse("--size", "big")
    with pytest.raises(ValueError, match="--param expects key=value"):
        from_arguments(_Options(), _parse("--param", "oops")[1])
