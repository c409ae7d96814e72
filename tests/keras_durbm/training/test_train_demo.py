"""The embedded default end to end, shrunk: synthesis from skimage photos, training, table, grid, model."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_durbm.config.tasks import get_task
from keras_durbm.images.pairs import Pair
from keras_durbm.models import load_durbm
from keras_durbm.train import main
from keras_durbm.training.validation import before_after_rows

# Two heads keep the test short; the synthesis, loop and report are those of the default run.
SMOKE = ["--experiment", "smoke", "--no-progress", "--set", "model.topology=R>H", "--set", "data.pattern=RH",
         "--set", "schedule.total_steps=6", "--set", "checkpoint.every_steps=3", "--set", "logging.eval_every=4",
         "--set", "logging.log_every=2", "--set", "data.crop_align={jpeg: 8, haze: 4}"]


def read_events(folder: str) -> dict[str, list]:
    """{tag: [(step, value or image bytes)]} from the TensorBoard event files of `folder`."""
    tags: dict[str, list] = {}
    for name in sorted(os.listdir(folder)):
        for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                tags.setdefault(value.tag, []).append((event.step, tensor, value.metadata.plugin_data.plugin_name))
    return tags


@pytest.mark.slow
def test_short_demo_run_writes_table_grid_model_and_summaries(tmp_path, capsys):
    run_dir = str(tmp_path / "demo")
    assert main([*SMOKE, "--run-dir", run_dir]) == 0
    out, err = capsys.readouterr()
    assert "step budget: 6 steps (6 joint" in err  # before training; too short a run for an estimate
    assert "steps left: about" not in err
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["final_step"] == 6 and set(summary["evaluation"]) == {"rain", "haze"}
    for task in ("rain", "haze"):
        result = summary["evaluation"][task]
        row = next(line for line in out.splitlines() if line.startswith(task))
        key = "psnr_y" if task == "rain" else "psnr_rgb"
        assert f"{result['input'][key]:.2f}" in row and f"{result['restored'][key]:.2f}" in row
        assert result["n"] == 1  # one held-out photo (coffee)
    assert "restored output beats the degraded input on every task" in out
    assert "held-out photo(s)" in out  # the closing note

    model = load_durbm(run_dir)
    assert model.task_names == ("rain", "haze")
    grid = np.asarray(Image.open(os.path.join(run_dir, "before_after.png")))
    # a 14-px header (input | restored | target), then per task a 14-px caption and its row (coffee at
    # max_side 40 → 27×40, three panels with 4-px gaps); wide enough for the captions
    assert grid.shape[0] == 14 + 2 * (14 + 27 + 4) and grid.shape[1] >= 3 * 40 + 2 * 4
    for top in (0, 14 + 27 + 4 + 14):  # the header and the second caption hold dark text
        assert (grid[top:top + 14] < 100).any()
    flat = np.full((24, 24, 3), 0.5, np.float32)
    pairs = {get_task(t): [Pair(flat, np.clip(flat + 0.1, 0, 1), "flat")] for t in ("rain", "haze")}
    captions = [row.caption for row in before_after_rows(model, pairs).values()]
    assert captions[0].startswith("rain: PSNR (Y) ") and captions[1].startswith("haze: PSNR (RGB) ")

    events = read_events(os.path.join(run_dir, "tensorboard"))
    assert [step for step, _, _ in events["train/loss/rain"]] == [2, 4, 6]
    assert events["train/loss/haze"][0][2] == "scalars"
    assert {"val/rain/psnr_y", "val/haze/input_psnr_rgb", "final/rain/ssim_y"} <= set(events)
    image_step, image, plugin = events["val/rain"][0]
    assert (image_step, plugin) == (4, "images") and image[2][:4] == b"\x89PNG"

    assert main([*SMOKE, "--run-dir", run_dir]) == 0  # the same command again: already finished
    assert "already finished at step 6" in capsys.readouterr().out
