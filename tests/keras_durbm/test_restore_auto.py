"""`restore --task auto` and `evaluate --task auto` on a tiny network whose classifier learnt hazy vs clean:
outputs equal `route`/`restore` on the decoded input, clean files are copied byte for byte, the report holds
what the classifier said, and the evaluation's confusion matrix counts what `classify` answers."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_durbm.config.tasks import HAZE
from keras_durbm.evaluate import main as evaluate_main
from keras_durbm.images.io import read_image
from keras_durbm.images.pixels import to_uint8
from keras_durbm.restoration.routing import classify
from keras_durbm.restoration.tiling import restore
from keras_durbm.restore import main
from tests.support.exports import trained_tiny_path
from tfrecords_tools.photos import load_photos
from tfrecords_tools.synthesis import add_haze


@pytest.fixture(scope="module")
def model():
    from keras_durbm.models import load_durbm

    return load_durbm(trained_tiny_path())


@pytest.fixture(scope="module")
def photos():
    """A held-out photograph (not one the tiny model trained on), clean and hazed (paper eq. 2)."""
    [(_, clean)] = load_photos(("coffee",), 64)
    clean = clean[:40, :56]
    hazy = to_uint8(add_haze(clean.astype(np.float32) / 255.0, 5))
    return clean, hazy


def write_inputs(folder, photos):
    folder.mkdir()
    clean, hazy = photos
    Image.fromarray(hazy).save(folder / "hazy.png")
    Image.fromarray(clean).save(folder / "clean.png")
    return folder


def test_auto_routes_hazy_to_haze_copies_clean_and_reports_probabilities(tmp_path, model, photos, capsys):
    inputs = write_inputs(tmp_path / "in", photos)
    out = tmp_path / "out"
    report_path = out / "report.json"  # inside OUT, which restore creates
    hazy_in, clean_in = str(inputs / "hazy.png"), str(inputs / "clean.png")
    assert main(["--model", trained_tiny_path(), "--task", "auto", hazy_in, clean_in, "-o", str(out),
                 "--report", str(report_path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "restored 1 and kept 1 clean of 2 image(s)" in printed
    assert f"{clean_in}: judged clean, written unchanged" in printed

    image, _ = read_image(hazy_in)
    found = classify(model, image)
    assert found.best == "haze"
    np.testing.assert_array_equal(np.asarray(Image.open(out / "hazy.png")), to_uint8(restore(model, image, HAZE)))
    assert (out / "clean.png").read_bytes() == (inputs / "clean.png").read_bytes()

    report = json.loads(report_path.read_text())
    assert set(report["images"]) == {hazy_in, clean_in}
    entry = report["images"][hazy_in]
    assert entry["task"] == "haze" and entry["output"] == str(out / "hazy.png")
    assert entry["probabilities"] == pytest.approx(found.probabilities, abs=1e-6)
    assert set(entry["probabilities"]) == {"rain", "haze", "clean"}
    assert report["images"][clean_in]["task"] == "clean"
    assert f"haze {found.confidence:.2f}" in printed


def test_low_confidence_images_are_left_unchanged_and_listed_or_go_to_the_fallback(tmp_path, photos, capsys):
    inputs = write_inputs(tmp_path / "in", photos)
    hazy_in = str(inputs / "hazy.png")
    out = tmp_path / "out"
    assert main(["--model", trained_tiny_path(), "--task", "auto", hazy_in, "-o", str(out), "--min-confidence", "1",
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "left unchanged (top probability below the threshold 1): " + hazy_in in printed
    assert f"{hazy_in}: not sure enough to restore, written unchanged" in printed
    assert (out / "hazy.png").read_bytes() == (inputs / "hazy.png").read_bytes()  # the very file: no harm
    assert main(["--model", trained_tiny_path(), "--task", "auto", hazy_in, "-o", str(out), "--min-confidence", "1",
                 "--fallback-task", "R", "--no-progress", "--overwrite"]) == 0
    assert "rain (fallback)" in capsys.readouterr().out
    assert os.listdir(out) == ["hazy.png"]
    assert (out / "hazy.png").read_bytes() != (inputs / "hazy.png").read_bytes()


def test_chain_logs_every_step_in_the_report(tmp_path, model, photos, capsys):
    inputs = write_inputs(tmp_path / "in", photos)
    hazy_in, report_path = str(inputs / "hazy.png"), tmp_path / "r.json"
    assert main(["--model", trained_tiny_path(), "--task", "auto", "--chain", "--max-steps", "2", hazy_in,
                 "-o", str(tmp_path / "out"), "--report", str(report_path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    steps = json.loads(report_path.read_text())["images"][hazy_in]["steps"]
    assert steps[0]["head"] == "haze" and 1 <= len(steps) <= 2
    for k, step in enumerate(steps, start=1):
        assert f"{hazy_in}: step {k}: {step['task']} {step['confidence']:.2f}" in printed


@pytest.mark.parametrize("args, message", [
    (["--task", "auto", "--model", "{plain}"], "has no degradation classifier"),
    (["--task", "haze", "--chain"], "need --task auto"),
    (["--task", "auto", "--min-confidence", "1.5"], "--min-confidence must be in [0, 1], got 1.5"),
    (["--task", "auto", "--fallback-task", "rain"], "--fallback-task needs --min-confidence"),
    (["--task", "auto", "--min-confidence", "0.5", "--fallback-task", "jpeg"], "its heads: rain, haze"),
])
def test_routing_usage_errors_exit_2_and_write_nothing(tmp_path, photos, capsys, args, message):
    from tests.support.tiny_models import tiny_model_path

    inputs = write_inputs(tmp_path / "in", photos)
    args = [a.replace("{plain}", tiny_model_path()) for a in args]
    model = [] if "--model" in args else ["--model", trained_tiny_path()]
    before = sorted(os.listdir(tmp_path))
    assert main([*model, *args, str(inputs / "hazy.png"), "-o", str(tmp_path / "out"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == before


def test_evaluate_auto_counts_what_classify_answers_and_scores_routed_beside_true(tmp_path, model, capsys):
    from tfrecords_tools.converters import convert_synth
    from tfrecords_tools.pipeline import split_pairs
    from tfrecords_tools.writer import WriteConfig

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, photo in load_photos(("coffee", "camera", "moon"), 48):
        Image.fromarray(photo).save(photos / f"{name}.png")
    data = tmp_path / "data"
    convert_synth(str(photos), str(data), split="test", task=HAZE,
                  write=WriteConfig(progress=False, workers=1, min_size=8))
    report, picture = tmp_path / "auto.json", tmp_path / "confusion.png"
    assert evaluate_main(["--model", trained_tiny_path(), "--task", "auto", str(data), "--json", str(report),
                          "--confusion-png", str(picture), "--no-progress"]) == 0
    result = json.loads(report.read_text())
    pairs, _ = split_pairs(str(data), HAZE, "test")
    pairs = list(pairs)
    expected = {"haze": [classify(model, p.input).best for p in pairs],
                "clean": [classify(model, p.target).best for p in pairs]}
    counts = result["confusion"]["counts"]
    classes = result["confusion"]["classes"]
    for truth, answers in expected.items():
        row = counts[classes.index(truth)]
        assert row == [answers.count(c) for c in classes]
    haze = result["tasks"]["haze"]
    assert haze["n"] == len(pairs) and haze["routed_correctly"] == expected["haze"].count("haze")
    true_head = [restore(model, p.input, HAZE) for p in pairs]
    from keras_durbm.scoring.metrics import score

    psnr = np.mean([score(to_uint8(r), to_uint8(p.target), HAZE)["psnr_rgb"] for r, p in zip(true_head, pairs)])
    assert haze["true_head"]["psnr_rgb"] == pytest.approx(psnr, abs=1e-6)
    if haze["routed_correctly"] == haze["n"]:
        assert haze["routed"] == pytest.approx(haze["true_head"])
    with Image.open(picture) as image:
        assert image.size[0] > 100
    printed = capsys.readouterr().out
    assert "recall" in printed and "true head" in printed


def test_a_classifier_of_earlier_statistics_loads_its_heads_and_asks_for_a_new_one(tmp_path, photos, capsys):
    """A file saved before the classifier's statistics had versions (no `classifier_statistics` in its
    config, the 11-statistic weights) loads as version 1: its heads restore, `--task auto` exits 2 naming the
    router command, the router's config for it trains a current classifier, and export refuses before
    writing anything (--no-auto exports the heads)."""
    import dataclasses
    import zipfile

    from keras_durbm.config.experiment import build_config
    from keras_durbm.config.model import CLASSIFIER_STATISTICS, model_preset
    from keras_durbm.models import build_durbm, load_durbm, save_durbm

    saved = tmp_path / "saved.keras"
    save_durbm(build_durbm(dataclasses.replace(model_preset("tiny", topology="R>H", classifier=True),
                                               classifier_statistics=1)), str(saved))
    legacy = tmp_path / "legacy.keras"
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(legacy, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                stored = json.loads(data)
                del stored["config"]["config"]["classifier_statistics"]
                data = json.dumps(stored).encode()
            target.writestr(item, data)
    assert load_durbm(str(legacy)).config.classifier_statistics == 1
    inputs = write_inputs(tmp_path / "in", photos)
    assert main(["--model", str(legacy), "--task", "auto", str(inputs / "hazy.png"), "-o", str(tmp_path / "a"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "earlier version's image statistics" in err and f"--experiment router --set init.model={legacy}" in err
    assert not (tmp_path / "a").exists()
    assert main(["--model", str(legacy), "--task", "haze", str(inputs / "hazy.png"), "-o", str(tmp_path / "h"),
                 "--no-progress"]) == 0
    router = build_config("router", assignments=[f"init.model={legacy}"])
    assert router.model.classifier_statistics == CLASSIFIER_STATISTICS
    from export.__main__ import main as export_main

    assert export_main(["--model", str(legacy), "--out", str(tmp_path / "export"), "--no-progress"]) == 2
    assert "--no-auto" in capsys.readouterr().err and not (tmp_path / "export").exists()
