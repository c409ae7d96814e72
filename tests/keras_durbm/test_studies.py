"""The paper's studies as commands: their runs, shards, resume, the features probe, bad inputs, and every
study end to end at tiny scale (its report has the paper's rows and columns; a couple of each study's runs
train and score for real, the others are answered at once by tests/support/studies.py)."""

from __future__ import annotations

import csv
import json
import os

import keras
import numpy as np
import pytest

from keras_durbm import study as study_cli
from keras_durbm.config.experiment import build_config
from keras_durbm.config.model import model_preset
from keras_durbm.config.topology import TABLE2_DESIGNS
from keras_durbm.models import build_durbm, save_durbm
from keras_durbm.studies.definitions import ABLATION_ROWS, FEATURE_LAYERS, STUDIES, four_task_designs
from keras_durbm.studies.features import channel_statistics, probe_accuracy, sample_crops, shuffled_accuracy
from keras_durbm.studies.plan import StudySettings, parse_shard, shard_of
from keras_durbm.training.strategy import make_strategy
from keras_durbm.training.trainer import Trainer
from tests.support.numpy_reference import total_variation as reference_tv
from tests.support.studies import answer_runs_without_training

# Random output kernels (not heads that start as the identity) so that two steps already tell designs apart.
TINY = ["--preset", "tiny", "--steps", "2", "--batch", "2", "--no-progress", "--set", "data.crop=16",
        "--set", "init.zero_output_kernels=false", "--set", "logging.tensorboard=false", "--set", "study.eval_images=1",
        "--set", "data.demo.max_side=40", "--set", "data.demo.variants=1", "--set", "checkpoint.every_steps=2",
        "--set", "data.demo.train_photos=[astronaut, camera]", "--set", "data.demo.held_out_photos=[coffee, chelsea]",
        "--set", "study.feature_crop=8", "--set", "study.feature_samples=15", "--set", "study.probe_folds=3"]


def test_the_studies_have_the_papers_runs():
    settings = StudySettings()
    assert [r.label for r in STUDIES["topologies"].runs(settings, False)] == list(TABLE2_DESIGNS)
    assert four_task_designs("R>B>H") == ["RJ>B>H", "R>BJ>H", "R>B>HJ", "J>R>B>H", "R>J>B>H", "R>B>J>H", "R>B>H>J"]
    ablation = STUDIES["ablation"].runs(settings, False)
    assert [r.overrides for r in ablation] == [overrides for _, overrides in ABLATION_ROWS] and STUDIES["ablation"].batch == 3
    multitask = STUDIES["multitask"].runs(settings, False)
    assert [(r.trained, r.topology) for r in multitask] == [
        (("motion_blur", "haze", "rain"), "R>B>H"), (("motion_blur",), "R>B>H"), (("haze",), "R>B>H"), (("rain",), "R>B>H")]
    assert multitask[1].assignments({"motion_blur": 3, "haze": 1, "rain": 1}) == [
        "model.topology=R>B>H", "data.pattern=BBB", "data.skip_heads=[rain, haze]"]
    assert len(STUDIES["features"].runs(settings, False)) == 1 and STUDIES["features"].runs(settings, True) == []
    with pytest.raises(ValueError, match="already has a J head"):
        four_task_designs("R>B>J")


@pytest.mark.parametrize("text", ["3/2", "0/2", "1/0", "a/b", "2"])
def test_a_bad_shard_is_an_error(text):
    with pytest.raises(ValueError, match="expected I/N with 1 <= I <= N"):
        parse_shard(text)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 13, 20])
def test_shards_are_disjoint_and_together_the_whole_study(count):
    runs = STUDIES["topologies"].runs(StudySettings(), False)
    slices = [shard_of(runs, parse_shard(f"{i}/{count}")) for i in range(1, count + 1)]
    ids = [r.id for part in slices for r in part]
    assert sorted(ids) == sorted(r.id for r in runs) and len(ids) == len(set(ids))
    assert max(len(s) for s in slices) - min(len(s) for s in slices) <= 1


def test_channel_statistics_are_mean_and_eq6_total_variation(rng):
    x = rng.normal(size=(3, 7, 9, 4))
    stats = channel_statistics(x)
    np.testing.assert_allclose(stats[:, :4], x.mean(axis=(1, 2)), atol=1e-12)
    np.testing.assert_allclose(stats[:, 4:], reference_tv(x, 3), rtol=1e-10)


def test_the_probe_finds_separable_classes_and_not_shuffled_ones(rng):
    """Three classes whose features are shifted apart by construction: accuracy ~1; shuffled labels: ~1/3."""
    labels = np.repeat(["a", "b", "c"], 40)
    features = rng.normal(size=(120, 6)) + np.repeat(np.eye(3, 6) * 6.0, 40, axis=0)
    assert probe_accuracy(features, labels) >= 0.97
    assert shuffled_accuracy(features, labels) <= 0.55
    noise = rng.normal(size=(120, 6))
    assert probe_accuracy(noise, labels) <= 0.55


def test_test_crops_tile_the_inputs_in_reading_order(rng):
    from keras_durbm.images.pairs import Pair

    image = rng.random((20, 26, 3)).astype(np.float32)
    crops = sample_crops([Pair(image, image)], 8, 100)
    assert len(crops) == 2 * 3 and np.array_equal(crops[4], image[8:16, 8:16])
    assert len(sample_crops([Pair(image, image)], 8, 4)) == 4


def test_skip_heads_trains_one_task_of_a_multi_head_network(rng):
    config = build_config("smoke", assignments=["model.topology=R>B>H", "data.pattern=BB", "data.skip_heads=[R, haze]"])
    assert [t.name for t in config.tasks] == ["motion_blur"]
    trainer = Trainer(config, make_strategy(config.runtime))
    before = {v.path: v.numpy().copy() for v in trainer.model.trainable_variables}
    x = rng.random((2, 16, 16, 3)).astype(np.float32)
    trainer.train_step({"input": x, "target": np.clip(x + 0.1, 0, 1), "task": np.int32(0)})
    moved = {p for p, v in before.items() if not np.array_equal(v, _value(trainer.model, p))}
    assert any(p.startswith("motion_blur_decoder") for p in moved)
    assert not any(p.startswith(("rain_decoder", "haze_decoder", "extra_durbm2")) for p in moved)
    for bad in (["data.pattern=BB"], ["data.pattern=BBR", "data.skip_heads=[R, H]"],
                ["data.pattern=BB", "data.skip_heads=[R, H, B]"], ["data.pattern=BB", "data.skip_heads=[X, H]"]):
        with pytest.raises(ValueError, match="data.pattern|data.skip_heads"):
            build_config("smoke", assignments=["model.topology=R>B>H", *bad])


def _value(model, path):
    return next(v for v in model.trainable_variables if v.path == path).numpy()


def _report(directory, name):
    with open(os.path.join(directory, f"{name}.csv"), encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with open(os.path.join(directory, f"{name}.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    for ext in ("md", "png"):
        assert os.path.getsize(os.path.join(directory, f"{name}.{ext}")) > 200
    return rows, data


@pytest.mark.slow
def test_topologies_in_two_shards_then_merged(tmp_path, capsys, monkeypatch):
    study_dir = str(tmp_path / "study")
    # The plan, shards, budget and report on all 13 runs; one of them trains and scores for real.
    trained = answer_runs_without_training(monkeypatch, real={"topology-R_B_H"})
    tiny = [*TINY, "--steps", "1"]
    assert study_cli.main(["topologies", "--study-dir", study_dir, "--shard", "2/2", *tiny]) == 0
    assert "not finished yet" in capsys.readouterr().err
    assert study_cli.main(["topologies", "--study-dir", study_dir, "--report-only", *tiny]) == 1
    assert "7 of 13 run(s) not finished yet" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(study_dir, "topologies.md"))
    assert study_cli.main(["topologies", "--study-dir", study_dir, "--shard", "1/2", *tiny, "--steps", "3"]) == 2
    assert "another budget" in capsys.readouterr().err  # every run of a study shares one budget
    assert study_cli.main(["topologies", "--study-dir", study_dir, "--shard", "1/2", *tiny]) == 0
    capsys.readouterr()
    assert study_cli.main(["topologies", "--study-dir", study_dir, "--report-only", *tiny]) == 0
    rows, data = _report(study_dir, "topologies")
    assert [r["design"] for r in rows] == list(TABLE2_DESIGNS)
    assert [float(r["paper avg PSNR"]) for r in rows] == [v[0] for v in TABLE2_DESIGNS.values()]
    assert sorted(int(r["rank"]) for r in rows) == list(range(1, 14)) and -1 <= data["spearman_rho"] <= 1
    assert len(data["runs"]) == 13 and all(run["steps"] == 1 for run in data["runs"])
    for row in rows:  # the average is the mean of the three tasks' protocol PSNRs
        assert float(row["avg PSNR"]) == pytest.approx(np.mean([float(row[f"{t} PSNR"]) for t in "BHR"]), abs=1e-3)
    assert trained == ["topology-R_B_H"]


@pytest.mark.slow
def test_an_interrupted_study_resumes_without_retraining_finished_runs(tmp_path, capsys, monkeypatch):
    study_dir = str(tmp_path / "study")
    from keras_durbm.training import loop

    answer_runs_without_training(monkeypatch, real={"multitask-rain"})  # the others answer at once
    calls = []
    original = loop.train

    def train_then_stop(config, run_dir, **kwargs):
        calls.append(run_dir)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(config, run_dir, **kwargs)

    monkeypatch.setattr(loop, "train", train_then_stop)
    assert study_cli.main(["multitask", "--study-dir", study_dir, *TINY]) == 130
    finished = sorted(os.listdir(os.path.join(study_dir, "runs")))
    stamps = {run: os.stat(os.path.join(study_dir, "runs", run, "result.json")).st_mtime_ns
              for run in finished if os.path.exists(os.path.join(study_dir, "runs", run, "result.json"))}
    assert len(stamps) == 2
    monkeypatch.setattr(loop, "train", original)
    capsys.readouterr()
    assert study_cli.main(["multitask", "--study-dir", study_dir, *TINY]) == 0
    err = capsys.readouterr().err
    assert err.count("finished earlier, skipped") == 2
    for run, stamp in stamps.items():
        assert os.stat(os.path.join(study_dir, "runs", run, "result.json")).st_mtime_ns == stamp
    rows, _ = _report(study_dir, "multitask")
    assert [r["task"] for r in rows] == ["motion_blur", "haze", "rain"]
    for row in rows:
        assert float(row["Δ PSNR"]) == pytest.approx(float(row["joint PSNR"]) - float(row["alone PSNR"]), abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("name, rows_expected", [("four-task", 7), ("ablation", 5), ("features", 5)])
def test_study_end_to_end(tmp_path, monkeypatch, name, rows_expected):
    study_dir = str(tmp_path / "study")
    # every row of the report; the paper's best design, the ablation's full model and the features run train
    real = {"four-task": {"four-R_B_J_H"}, "ablation": {"ablation-4"}}.get(name)
    trained = answer_runs_without_training(monkeypatch, real=real) if real else None
    assert study_cli.main([name, "--study-dir", study_dir, *TINY, *(["--steps", "1"] if name == "four-task" else [])]) == 0
    rows, data = _report(study_dir, name)
    assert len(rows) == rows_expected
    assert trained is None or sorted(trained) == sorted(real)
    if name == "four-task":
        assert {r["design"] for r in rows} == set(four_task_designs("R>B>H")) and data["paper_best"] == "R>B>J>H"
        assert sum(r["winner"] == "yes" for r in rows) == 1
    if name == "ablation":
        assert [(r["TV"], r["GAP"], r["Fusion"]) for r in rows] == [
            ("", "", ""), ("✓", "", ""), ("", "✓", ""), ("✓", "✓", ""), ("✓", "✓", "✓")]
        assert data["budget"]["batch"] == 2 and float(rows[4]["paper H PSNR"]) == 31.32
    if name == "features":
        assert [r["layer"] for r in rows] == [label for label, _ in FEATURE_LAYERS]
        assert all(0 <= float(r["probe accuracy"]) <= 1 for r in rows)
        assert len(data["analysis"]["layers"][0]["tsne"]) == 45  # 15 crops x 3 tasks


@pytest.mark.parametrize("case, message", [
    ("unknown", "unknown study 'deblur'"),
    ("shard", "--shard '3/2'"),
    ("data", "lacks motion_blur/train, motion_blur/test"),
    ("model", "needs a three-task model with heads motion_blur, haze, rain (missing: motion_blur)"),
    ("model-elsewhere", "--model is for the features study"),
])
def test_bad_inputs_exit_2_and_write_nothing(tmp_path, capsys, case, message):
    study_dir = tmp_path / "study"
    argv = {"unknown": ["deblur"], "shard": ["ablation", "--shard", "3/2"], "data": ["ablation", "--data",
            str(tmp_path / "data")], "model": ["features", "--model", str(tmp_path / "rh.keras")],
            "model-elsewhere": ["ablation", "--model", str(tmp_path / "rh.keras")]}[case]
    if case == "data":
        from keras_durbm.config.tasks import HAZE, RAIN
        from tfrecords_tools.converters import convert_synth
        from tfrecords_tools.writer import WriteConfig

        clean = {"a": np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)}
        for task in (HAZE, RAIN):
            for split in ("train", "test"):
                convert_synth(clean, tmp_path / "data", task=task, split=split,
                              write=WriteConfig(progress=False, workers=1, min_size=8))
    if case == "model":
        keras.utils.set_random_seed(1)
        save_durbm(build_durbm(model_preset("tiny", topology="R>H")), str(tmp_path / "rh.keras"))
    assert study_cli.main([*argv, "--study-dir", str(study_dir), *TINY]) == 2
    assert message in capsys.readouterr().err
    assert not study_dir.exists()
