"""`evaluate_pairs` and the evaluate CLI against scores computed by hand with `restore` + `metrics.score`."""

import itertools
import json

import numpy as np
import pytest
from PIL import Image

from keras_durbm.config.tasks import HAZE, MOTION_BLUR, get_task
from keras_durbm.evaluate import main
from keras_durbm.images.pairs import Pair, match_pairs
from keras_durbm.images.pixels import to_uint8
from keras_durbm.restoration.tiling import restore
from keras_durbm.scoring import metrics
from keras_durbm.scoring.evaluation import evaluate_pairs
from tests.support.tiny_models import reuse_loaded_tiny_model, tiny_model, tiny_model_path


def hand_scores(model, task, pairs, crop_border=0):
    restored = [metrics.score(to_uint8(restore(model, p.input, task)), to_uint8(p.target), task, crop_border)
                for p in pairs]
    given = [metrics.score(to_uint8(p.input), to_uint8(p.target), task, crop_border) for p in pairs]
    return ({k: np.mean([s[k] for s in restored]) for k in restored[0]},
            {k: np.mean([s[k] for s in given]) for k in given[0]})


def make_pairs(rng, n=3, shape=(20, 28, 3)):
    pairs = []
    for i in range(n):
        target = rng.integers(0, 256, shape, dtype=np.uint8)
        degraded = np.clip(target * 0.6 + 80 + rng.normal(0, 6, shape), 0, 255).astype(np.uint8)
        pairs.append(Pair(degraded / np.float32(255), target / np.float32(255), f"img{i}"))
    return pairs


def test_evaluate_pairs_means_equal_hand_computed_scores(rng):
    model = tiny_model()
    pairs = make_pairs(rng)
    result = evaluate_pairs(model, get_task("B"), iter(pairs), crop_border=2)
    restored, given = hand_scores(model, MOTION_BLUR, pairs, crop_border=2)
    assert result["task"] == "motion_blur" and result["n"] == 3 and result["crop_border"] == 2
    assert list(result["restored"]) == ["psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"]
    for key in restored:
        assert result["restored"][key] == pytest.approx(restored[key], abs=1e-9)
        assert result["input"][key] == pytest.approx(given[key], abs=1e-9)
    assert [im["name"] for im in result["images"]] == ["img0", "img1", "img2"]
    assert "Y (ITU-R BT.601" in result["protocol"]
    assert evaluate_pairs(model, HAZE, itertools.islice(pairs, 2), score_input=False)["n"] == 2


def write_pair_folders(tmp_path, pairs, numbered=False):
    inputs, targets = tmp_path / "in", tmp_path / "gt"
    inputs.mkdir()
    targets.mkdir()
    for pair in pairs:
        Image.fromarray(to_uint8(pair.target)).save(targets / f"{pair.name}.png")
        for k in (1, 2) if numbered else (None,):
            Image.fromarray(to_uint8(pair.input)).save(inputs / (f"{pair.name}_{k}.png" if k else f"{pair.name}.png"))
    return str(inputs), str(targets)


def test_match_pairs_by_stem_and_sots_numbering(tmp_path, rng):
    inputs, targets = write_pair_folders(tmp_path, make_pairs(rng, 2), numbered=True)
    matched = match_pairs(inputs, targets)
    assert [(name, tgt.rsplit("/", 1)[1]) for name, _, tgt in matched] == [
        ("img0_1.png", "img0.png"), ("img0_2.png", "img0.png"), ("img1_1.png", "img1.png"), ("img1_2.png", "img1.png")]
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in" / "orphan.png")
    with pytest.raises(ValueError, match="orphan.png"):
        match_pairs(inputs, targets)


def test_cli_on_image_folders_prints_protocol_and_writes_json(tmp_path, rng, capsys):
    pairs = make_pairs(rng, 2)
    inputs, targets = write_pair_folders(tmp_path, pairs, numbered=True)
    out = tmp_path / "scores.json"
    assert main(["--model", tiny_model_path(), "--task", "haze", "--pairs", inputs, targets, "--json", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "4 image pair(s)" in printed and "RGB [paper protocol]" in printed and "crop border 0" in printed
    assert "PSNR_RGB" in printed and "gain" in printed
    scores = json.loads(out.read_text())
    restored, given = hand_scores(tiny_model(), HAZE, [p for p in pairs for _ in (1, 2)])
    assert scores["n"] == 4 and scores["restored"]["psnr_rgb"] == pytest.approx(restored["psnr_rgb"], abs=1e-6)
    assert scores["input"]["ssim_rgb"] == pytest.approx(given["ssim_rgb"], abs=1e-9)
    assert f"{scores['restored']['psnr_rgb']:.2f}" in printed


def test_cli_on_converted_tfrecords_scores_each_record(tmp_path, rng, capsys, monkeypatch):
    reuse_loaded_tiny_model(monkeypatch)  # the folder test above loads the file for real
    from tfrecords_tools.converters.synth import convert_synth
    from tfrecords_tools.manifest import shard_files
    from tfrecords_tools.records import read_record, scan_shard
    from tfrecords_tools.schema import decode_example
    from tfrecords_tools.writer import WriteConfig

    clean = {f"c{i}": rng.integers(0, 256, (24, 20, 3), dtype=np.uint8) for i in range(2)}
    convert_synth(clean, tmp_path / "data", task=HAZE, split="test", seed=3, variants=2,
                  write=WriteConfig(progress=False, workers=1))
    records = [decode_example(read_record(path, *where)) for path in shard_files(tmp_path / "data", HAZE, "test")
               for where in scan_shard(path)]
    pairs = [Pair(r["input"] / np.float32(255), r["target"] / np.float32(255), r["source"]) for r in records]
    assert main(["--model", tiny_model_path(), "--task", "H", str(tmp_path / "data"), "--json",
                 str(tmp_path / "s.json"), "--no-progress"]) == 0
    scores = json.loads((tmp_path / "s.json").read_text())
    restored, given = hand_scores(tiny_model(), HAZE, pairs)
    assert scores["n"] == 4
    assert scores["restored"]["psnr_rgb"] == pytest.approx(restored["psnr_rgb"], abs=1e-6)
    assert scores["input"]["psnr_rgb"] == pytest.approx(given["psnr_rgb"], abs=1e-9)
    assert main(["--model", tiny_model_path(), "--task", "rain", str(tmp_path / "data"), "--no-progress"]) == 2
    assert "no shards for task rain, split test" in capsys.readouterr().err


def test_cli_errors_are_clear_and_exit_2(tmp_path, rng, capsys, monkeypatch):
    reuse_loaded_tiny_model(monkeypatch)
    inputs, targets = write_pair_folders(tmp_path, make_pairs(rng, 1))
    model = tiny_model_path()
    assert main(["--model", model, "--task", "fog", "--pairs", inputs, targets]) == 2
    assert "known tasks: B=motion_blur, H=haze, R=rain, J=jpeg" in capsys.readouterr().err
    assert main(["--model", model, "--task", "jpeg", "--pairs", inputs, targets]) == 2
    assert "heads: rain, motion_blur, haze" in capsys.readouterr().err
    assert main(["--model", str(tmp_path / "none.keras"), "--task", "haze", "--pairs", inputs, targets]) == 2
    assert "none.keras does not exist" in capsys.readouterr().err
    assert main(["--model", model, "--task", "haze", "--pairs", inputs, str(tmp_path / "nope")]) == 2
    assert "nope: no such folder" in capsys.readouterr().err
    (tmp_path / "in" / "img0.png").write_bytes(b"not a png")
    assert main(["--model", model, "--task", "haze", "--pairs", inputs, targets, "--no-progress"]) == 2
    assert "img0.png: not a readable image" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--model", model, "--task", "haze"])  # neither DATA nor --pairs
