"""The starter model that ships in the package: it is what `--experiment starter` trains, it carries a
calibrated do-no-harm threshold, every command takes it by name, and it helps on a photograph it never
trained on, degraded by its own families (the foreign benchmark's numbers are in its card)."""

import os

import numpy as np
import pytest
from PIL import Image

from keras_durbm.config.experiment import build_config
from keras_durbm.config.model_file import STARTER_PATH
from keras_durbm.config.tasks import get_task
from keras_durbm.images.pixels import to_float, to_uint8
from keras_durbm.scoring.metrics import psnr
from tfrecords_tools.photos import load_photo
from tfrecords_tools.synthesis import add_haze, add_rain


@pytest.fixture(scope="module")
def starter():
    from keras_durbm.models import load_durbm

    return load_durbm("starter")  # by name: safe_mode, from inside the package


def test_the_packaged_model_is_the_starter_experiments_network(starter):
    assert os.path.isfile(STARTER_PATH)
    config = build_config("starter")
    assert starter.config == config.model
    assert starter.task_names == ("rain", "motion_blur", "jpeg", "haze") and starter.classes[-1] == "clean"
    card = os.path.join(os.path.dirname(STARTER_PATH), "README.md")
    assert f"Do-no-harm threshold: {starter.routing_threshold:.2f}" in open(card, encoding="utf-8").read()


def test_its_threshold_is_the_calibration_of_the_end_of_training(starter):
    from keras_durbm.training.routing_threshold import calibrate

    threshold, _ = calibrate(starter)  # the same procedural images and rule as at the end of its run
    assert starter.routing_threshold == threshold


@pytest.mark.parametrize("task, degrade", [("haze", add_haze), ("rain", add_rain)])
def test_its_head_beats_the_input_on_a_held_out_photograph(starter, task, degrade):
    """`coffee` is one of the starter's held-out photographs (never a training image)."""
    from keras_durbm.restoration.tiling import restore

    clean = load_photo("coffee", 128)
    degraded = to_uint8(degrade(to_float(clean), 11))
    restored = to_uint8(restore(starter, to_float(degraded), get_task(task)))
    colour = get_task(task).score_on
    assert psnr(restored, clean, colour=colour) > psnr(degraded, clean, colour=colour) + 1.0


def test_restore_takes_it_by_name(tmp_path):
    from keras_durbm.restore import main

    clean = load_photo("astronaut", 96)
    Image.fromarray(to_uint8(add_haze(to_float(clean), 3))).save(tmp_path / "hazy.png")
    assert main(["--model", "starter", "--task", "haze", str(tmp_path / "hazy.png"), "-o", str(tmp_path / "out"),
                 "--no-progress"]) == 0
    restored = np.asarray(Image.open(tmp_path / "out" / "hazy.png"))
    assert restored.shape == clean.shape
