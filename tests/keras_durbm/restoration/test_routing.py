"""Blind restoration: the confusion matrix against scikit-learn, the routing rules of `route` (clean, repeat,
max steps, confidence), and `classify` against the classifier layer's own formula."""

import numpy as np
import pytest

from keras_durbm.config.tasks import get_task
from keras_durbm.restoration import routing
from keras_durbm.restoration.routing import Classification, RoutingConfig, route
from keras_durbm.restoration.tiling import TilingConfig, restore
from keras_durbm.scoring.confusion import ConfusionMatrix


def test_confusion_matrix_matches_scikit_learn(rng):
    from sklearn.metrics import confusion_matrix, precision_score, recall_score

    classes = ("rain", "haze", "clean")
    truth = list(rng.choice(classes, 60))
    predicted = [t if rng.random() < 0.7 else str(rng.choice(classes)) for t in truth]
    matrix = ConfusionMatrix.from_labels(classes, truth, predicted)
    np.testing.assert_array_equal(matrix.counts, confusion_matrix(truth, predicted, labels=list(classes)))
    assert matrix.accuracy == pytest.approx(np.mean(np.array(truth) == np.array(predicted)))
    reference_p = precision_score(truth, predicted, labels=list(classes), average=None, zero_division=np.nan)
    reference_r = recall_score(truth, predicted, labels=list(classes), average=None, zero_division=np.nan)
    np.testing.assert_allclose(list(matrix.precision().values()), reference_p)
    np.testing.assert_allclose(list(matrix.recall().values()), reference_r)
    table = matrix.format_table()
    assert f"({int(np.trace(matrix.counts))}/60)" in table


def test_confusion_matrix_rejects_unknown_labels():
    with pytest.raises(ValueError, match="'snow'"):
        ConfusionMatrix.from_labels(("rain", "clean"), ["rain", "snow"], ["rain", "rain"])


def test_confusion_matrix_picture_is_written(tmp_path):
    from PIL import Image

    matrix = ConfusionMatrix.from_labels(("rain", "clean"), ["rain", "clean", "clean"], ["rain", "rain", "clean"])
    matrix.write_png(str(tmp_path / "c.png"))
    with Image.open(tmp_path / "c.png") as picture:
        assert picture.size[0] > 100 and picture.size[1] > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png"]  # no temporary left


@pytest.mark.parametrize("bad", [dict(min_confidence=-0.1), dict(min_confidence=1.5), dict(max_steps=2),
                                 dict(chain=True, max_steps=0), dict(fallback_task="haze"),
                                 dict(min_confidence=0.5, fallback_task="snow")])
def test_routing_config_rejects_bad_values(bad):
    with pytest.raises((ValueError, KeyError)):
        RoutingConfig(**bad)


@pytest.fixture(scope="module")
def classifier_model():
    import keras

    from keras_durbm.config.model import model_preset
    from keras_durbm.models import build_durbm

    keras.utils.set_random_seed(11)
    return build_durbm(model_preset("tiny", topology="R>B>H", classifier=True))


def _scripted(monkeypatch, answers):
    """Makes `routing.classify` return the given best classes (probability 0.9 each), in order; an answer
    `(best, second)` gives the runner-up 0.06 and the others what is left."""
    calls = iter(answers)

    def fake(model, image, *, tile_above=None):
        answer = next(calls)
        best, second = answer if isinstance(answer, tuple) else (answer, None)
        rest = [c for c in model.classes if c not in (best, second)]
        left = 0.1 - (0.06 if second else 0.0)
        return Classification({best: 0.9, **({second: 0.06} if second else {}), **{c: left / len(rest) for c in rest}})

    monkeypatch.setattr(routing, "classify", fake)


def test_chain_stops_when_clean_and_applies_heads_in_order(classifier_model, monkeypatch, rng):
    image = rng.random((24, 20, 3)).astype(np.float32)
    _scripted(monkeypatch, ["haze", "rain", "clean"])
    routed = route(classifier_model, image, RoutingConfig(chain=True))
    assert routed.heads == ("haze", "rain")
    assert [s.action for s in routed.steps] == ["restored", "restored", "clean"]
    expected = restore(classifier_model, restore(classifier_model, image, get_task("haze")), get_task("rain"))
    np.testing.assert_array_equal(routed.image, expected)


def test_chain_never_repeats_a_head_and_stops_at_max_steps(classifier_model, monkeypatch, rng):
    """A head named again gives way to the most probable class not run yet: another head runs, clean stops
    the chain, and so does a runner-up below --min-confidence."""
    image = rng.random((24, 20, 3)).astype(np.float32)
    _scripted(monkeypatch, ["haze", ("haze", "clean")])
    routed = route(classifier_model, image, RoutingConfig(chain=True))
    assert routed.heads == ("haze",) and [s.action for s in routed.steps] == ["restored", "repeat"]
    assert "haze again, then clean: stop" in routed.steps[-1].describe()
    _scripted(monkeypatch, ["haze", ("haze", "rain"), ("rain", "clean")])
    routed = route(classifier_model, image, RoutingConfig(chain=True))
    assert routed.heads == ("haze", "rain") and [s.action for s in routed.steps] == ["restored", "next", "repeat"]
    assert routed.steps[1].to_dict()["task"] == "haze" and routed.steps[1].to_dict()["head"] == "rain"
    expected = restore(classifier_model, restore(classifier_model, image, get_task("haze")), get_task("rain"))
    np.testing.assert_array_equal(routed.image, expected)
    _scripted(monkeypatch, ["haze", ("haze", "rain")])
    routed = route(classifier_model, image, RoutingConfig(chain=True, min_confidence=0.5))
    assert routed.heads == ("haze",) and routed.steps[-1].action == "uncertain"  # rain at 0.06
    _scripted(monkeypatch, ["haze", "rain", "motion_blur", "clean"])
    routed = route(classifier_model, image, RoutingConfig(chain=True, max_steps=2))
    assert routed.heads == ("haze", "rain") and len(routed.steps) == 2  # no third classification


def test_clean_images_come_back_unchanged_and_one_step_without_chain(classifier_model, monkeypatch, rng):
    image = rng.random((24, 20, 3)).astype(np.float32)
    _scripted(monkeypatch, ["clean"])
    routed = route(classifier_model, image)
    assert routed.outcome == "clean" and routed.image is not None
    np.testing.assert_array_equal(routed.image, image)
    _scripted(monkeypatch, ["rain", "haze"])
    assert route(classifier_model, image).heads == ("rain",)


def test_low_confidence_falls_back_or_is_left_unchanged(classifier_model, monkeypatch, rng):
    image = rng.random((24, 20, 3)).astype(np.float32)
    _scripted(monkeypatch, ["rain"])  # 0.9 < 0.95
    kept = route(classifier_model, image, RoutingConfig(min_confidence=0.95))
    assert kept.outcome == "kept" and kept.heads == ()
    np.testing.assert_array_equal(kept.image, image)  # do no harm: the input itself
    assert kept.to_dict()["task"] == "rain" and kept.steps[0].describe().endswith("left unchanged")
    _scripted(monkeypatch, ["rain"])
    fallback = route(classifier_model, image, RoutingConfig(min_confidence=0.95, fallback_task="H"))
    assert fallback.heads == ("haze",) and fallback.steps[0].action == "fallback"


def test_the_models_calibrated_threshold_is_the_default_and_zero_routes_every_image(classifier_model, monkeypatch,
                                                                                   rng):
    image = rng.random((24, 20, 3)).astype(np.float32)
    assert RoutingConfig().threshold(classifier_model) == classifier_model.routing_threshold == 0.0
    monkeypatch.setattr(classifier_model, "routing_threshold", 0.95)
    _scripted(monkeypatch, ["rain"])  # top probability 0.9, below the model's 0.95
    assert RoutingConfig().threshold(classifier_model) == 0.95
    assert route(classifier_model, image).outcome == "kept"
    _scripted(monkeypatch, ["rain"])
    routed = route(classifier_model, image, RoutingConfig(min_confidence=0.0))  # 0: always route
    assert routed.heads == ("rain",)
    np.testing.assert_array_equal(routed.image, restore(classifier_model, image, get_task("rain")))
    _scripted(monkeypatch, ["rain"])
    assert route(classifier_model, image, RoutingConfig(min_confidence=0.85)).heads == ("rain",)  # 0.9 ≥ 0.85


def test_classify_is_the_classifier_on_the_padded_image(classifier_model, rng):
    """Whole-image probabilities equal the Keras classifier on the reflect-padded image; large images
    average the non-overlapping tiles' probabilities."""
    from keras_durbm.models import classifier_model as classifier_of
    from keras_durbm.restoration.tiling import pad_to_multiple

    sub = classifier_of(classifier_model)
    image = rng.random((30, 26, 3)).astype(np.float32)
    found = routing.classify(classifier_model, image)
    padded, _ = pad_to_multiple(image[None], 4, 16)
    np.testing.assert_allclose(list(found.probabilities.values()), np.asarray(sub(padded))[0], rtol=1e-6)
    assert sum(found.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    big = rng.random((64, 64, 3)).astype(np.float32)
    tiled = routing.classify(classifier_model, big, tile_above=32 * 32)
    tiles = [np.asarray(sub(big[None, y:y + 32, x:x + 32]))[0] for y in (0, 32) for x in (0, 32)]
    np.testing.assert_allclose(list(tiled.probabilities.values()), np.mean(tiles, axis=0), rtol=1e-5)


def test_models_without_a_classifier_say_how_to_add_one():
    from tests.support.tiny_models import tiny_model

    with pytest.raises(KeyError, match="--experiment router --set init.model=runs/x"):
        routing.check_classifier(tiny_model(), "runs/x")
    with pytest.raises(KeyError, match="no degradation classifier"):
        route(tiny_model(), np.zeros((16, 16, 3), np.float32), RoutingConfig(), TilingConfig())
