"""The training config tree: named experiments, YAML and --set overrides, validation, the CLI's errors."""

import dataclasses

import pytest
import yaml

from keras_durbm.config.engine import from_dict, to_dict
from keras_durbm.config.experiment import EXPERIMENTS, ExperimentConfig, build_config
from keras_durbm.config.model import MODEL_PRESETS
from keras_durbm.config.tasks import get_task
from keras_durbm.train import main


def test_paper_experiment_is_the_papers_recipe():
    config = build_config("paper", assignments=["data.tfrecord_dir=/data"])
    # plus the degradation classifier, which leaves the heads' training as the paper's (its gradient stops)
    assert config.model == dataclasses.replace(MODEL_PRESETS["paper"], topology="R>B>J>H", classifier=True)
    assert (config.data.batch_size, config.data.crop, config.data.pattern) == (32, 256, "BBBHRJ")
    opt = config.optimizer
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (1e-4, 0.9, 0.999, 1e-8)
    assert config.schedule.plateau_factor == 0.1


def test_paper_experiment_needs_a_data_folder():
    with pytest.raises(ValueError, match="data.tfrecord_dir"):
        build_config("paper")


def test_every_experiment_validates():
    from tests.support.tiny_models import tiny_model_path

    for name in EXPERIMENTS:
        if name != "paper":
            # the router adds a classifier to a trained model, so it needs one
            extra = [f"init.model={tiny_model_path()}"] if name == "router" else []
            assert build_config(name, assignments=extra).experiment == name


def test_yaml_then_set_override_in_order(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text(yaml.safe_dump({"data": {"batch_size": 4, "crop": 32}, "optimizer": {"learning_rate": 0.01}}))
    second = tmp_path / "b.yaml"
    second.write_text("data:\n  crop: 48\n")
    config = build_config("demo", [str(first), str(second)], ["data.batch_size=6", "data.batch_sizes={H: 2}"])
    assert (config.data.batch_size, config.data.crop, config.optimizer.learning_rate) == (6, 48, 0.01)
    assert config.data.batch_size_of(get_task("haze")) == 2 and config.data.batch_size_of(get_task("rain")) == 6


def test_task_weights_by_name_or_letter():
    config = build_config("demo", assignments=["loss.task_weights={H: 0.5, rain: 2}"])
    assert [config.loss.weight_of(get_task(t)) for t in ("haze", "rain", "jpeg")] == [0.5, 2.0, 1.0]


def test_model_preset_switch_keeps_model_overrides_in_any_order():
    for order in (["model.decoder_widths=[4, 4]", "model_preset=tiny"],
                  ["model_preset=tiny", "model.decoder_widths=[4, 4]"]):
        config = build_config("demo", assignments=order)
        # the experiment's topology and its degradation classifier are kept across the preset switch
        expected = dataclasses.replace(MODEL_PRESETS["tiny"], topology="R>B>J>H", decoder_widths=(4, 4),
                                       classifier=True)
        assert config.model == expected


def test_saved_yaml_rebuilds_the_same_config(tmp_path):
    config = build_config("demo", assignments=["data.batch_sizes={B: 4}", "model.topology=R>B"
                                               , "data.pattern=BBR"])
    text = yaml.safe_dump(to_dict(config))
    assert from_dict(ExperimentConfig, yaml.safe_load(text)) == config


@pytest.mark.parametrize("assignment, message", [
    ("data.nope=1", "data.nope"),
    ("data.crop=abc", "data.crop"),
    ("data.crop=30", "multiple of 4"),
    ("data.pattern=BBH", "data.pattern"),
    ("data.batch_sizes={X: 2}", "data.batch_sizes"),
    ("loss.task_weights={Q: 2}", "loss.task_weights"),
    ("loss.task_weights={H: -1}", "loss.task_weights"),
    ("schedule.warmup_steps=-1", "warmup_steps"),
    ("model_preset=huge", "model_preset"),
    ("runtime.strategy=tpu", "runtime.strategy"),
    ("model.topology=R>B", "data.pattern"),
    ("data.demo.held_out_photos=[chelsea]", "both training and held-out"),
    ('data.crop_align={"jpeg": 5}', "divide data.crop"),
    ('data.crop_align={"X": 8}', "data.crop_align: unknown task"),
])
def test_bad_overrides_name_the_field(assignment, message):
    with pytest.raises((KeyError, ValueError, TypeError), match=message):
        build_config("demo", assignments=[assignment])


def test_cli_reports_bad_config_and_exits_2(capsys, tmp_path):
    assert main(["--set", "data.nope=1", "--run-dir", str(tmp_path / "run")]) == 2
    assert "data.nope" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_cli_prints_the_effective_config(capsys):
    assert main(["--experiment", "smoke", "--set", "data.crop=24", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["data"]["crop"] == 24 and printed["experiment"] == "smoke"
    assert from_dict(ExperimentConfig, printed) == build_config("smoke", assignments=["data.crop=24"])
