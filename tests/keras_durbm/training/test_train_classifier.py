"""The degradation classifier in training: its gradient stops at the encoder unless switched on, the router
experiment adds one to a trained model without changing a restored pixel, and the run reports its
confusion matrix."""

import json
import os

import numpy as np
import pytest

from keras_durbm.config.experiment import build_config
from keras_durbm.config.tasks import get_task
from keras_durbm.models import load_durbm
from keras_durbm.restoration.tiling import restore
from keras_durbm.train import main
from tests.support.tiny_models import tiny_model_path

TINY_DEMO = ["--no-progress", "--set", "data.demo.train_photos=[astronaut, camera]", "--set",
             "data.demo.held_out_photos=[coffee]", "--set", "data.demo.max_side=40", "--set", "data.demo.variants=1",
             "--set", "data.crop=16", "--set", "data.batch_size=2", "--set", "logging.log_every=1000",
             "--set", "logging.eval_every=0", "--set", "checkpoint.every_steps=3"]
SMOKE = ["--experiment", "smoke", *TINY_DEMO, "--set", "model.topology=R>H", "--set", "data.pattern=RH",
         "--set", "schedule.total_steps=4"]


def restoration_weights(model) -> dict[str, list[np.ndarray]]:
    """Every weight of `model` outside the degradation classifier, by layer name."""
    return {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in model.layers
            if layer.name != "degradation_classifier" and layer.weights}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        for wa, wb in zip(a[name], b[name], strict=True):
            np.testing.assert_array_equal(wa, wb, err_msg=name)


@pytest.mark.slow
def test_the_classifiers_gradient_stops_at_the_encoder_unless_switched_on(tmp_path):
    runs = {}
    one_head = ["--set", "model.topology=H", "--set", "data.pattern=H"]  # one head's step to trace per run
    for name, extra in (("plain", one_head), ("classifier", [*one_head, "--set", "model.classifier=true"]),
                        ("backprop", [*one_head, "--set", "model.classifier=true", "--set",
                                      "model.classifier_backprop=true"])):
        assert main([*SMOKE, *extra, "--run-dir", str(tmp_path / name)]) == 0
        runs[name] = restoration_weights(load_durbm(str(tmp_path / name)))
    assert_same_weights(runs["plain"], runs["classifier"])
    moved = [n for n in runs["plain"] if n.startswith("encoder")
             and any(not np.array_equal(a, b) for a, b in zip(runs["plain"][n], runs["backprop"][n], strict=True))]
    assert moved, "with classifier_backprop the classifier's loss must reach the encoder"


@pytest.mark.slow
def test_router_adds_a_classifier_without_changing_a_restored_pixel(tmp_path, rng, capsys):
    run = tmp_path / "router"
    assert main(["--experiment", "router", *TINY_DEMO, "--run-dir", str(run), "--set", f"init.model={tiny_model_path()}",
                 "--set", "schedule.classifier_steps=6"]) == 0
    printed = capsys.readouterr().out
    before, after = load_durbm(tiny_model_path()), load_durbm(str(run))
    assert not before.config.classifier and after.config.classifier
    assert after.classes == (*before.task_names, "clean")
    assert_same_weights(restoration_weights(before), restoration_weights(after))
    image = rng.random((20, 28, 3)).astype(np.float32)
    for name in before.task_names:
        np.testing.assert_array_equal(restore(after, image, get_task(name)), restore(before, image, get_task(name)))

    summary = json.loads((run / "summary.json").read_text())
    confusion = summary["classification"]
    assert confusion["classes"] == list(after.classes)
    # the held-out photo under each of the 3 heads' degradations, and its clean original
    assert np.sum(confusion["counts"]) == 4 and np.sum(confusion["counts"], axis=1).tolist() == [1, 1, 1, 1]
    assert "true \\ predicted" in printed and os.path.exists(run / "confusion.png")


@pytest.mark.parametrize("assignments, message", [
    (["schedule.classifier_steps=5", "model.classifier=false"], "model.classifier is off"),
    (["model.classifier=true", "schedule.classifier_steps=5", "schedule.total_steps=0"],
     "give the trained model with --set init.model"),
])
def test_classifier_settings_that_cannot_work_are_refused(assignments, message):
    with pytest.raises(ValueError, match=message):
        build_config("smoke", assignments=assignments)


@pytest.mark.slow
def test_router_on_the_demo_data_names_held_out_degradations(tmp_path):
    """The classifier's design on the demo's data: the router's 600 steps on a demo-preset encoder (left
    untrained, so the test does not pay for the demo's 3,000 restoration steps; the classifier reads mostly
    the image's own statistics) name the demo's 15 held-out images, and 51 more degraded copies of the
    held-out photographs (`bench/classifier_accuracy.py --copies 4`). Measured on this encoder (seed 5):
    15 of 15 and 50 of 51 (98 %); the thresholds allow one miss more in each."""
    import dataclasses
    import re
    import subprocess
    import sys

    import keras

    from keras_durbm.models import build_durbm, save_durbm

    keras.utils.set_random_seed(5)
    encoder = tmp_path / "untrained.keras"
    save_durbm(build_durbm(dataclasses.replace(build_config("demo").model, classifier=False)), str(encoder))
    run = tmp_path / "router"
    assert main(["--experiment", "router", "--no-progress", "--run-dir", str(run),
                 "--set", f"init.model={encoder}"]) == 0
    counts = np.array(json.loads((run / "summary.json").read_text())["classification"]["counts"])
    assert counts.sum() == 15 and np.trace(counts) >= 14, counts
    bench = os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench", "classifier_accuracy.py")
    printed = subprocess.run([sys.executable, bench, "--model", str(run), "--copies", "4"], check=True,
                             capture_output=True, text=True).stdout
    right, total = map(int, re.search(r"accuracy [0-9.]+% \((\d+)/(\d+)\)", printed).groups())
    assert total == 51 and right >= 49, printed
