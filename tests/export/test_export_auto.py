"""The `auto` SavedModel (the classifier picks the head in the graph) and the classifier's TFLite/ONNX files:
the same choice and pixels as `keras_durbm.restoration.routing.route`, only the chosen branch in a `Case` op, served
by the stand-in over REST and gRPC."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from export import saved_model
from export import signature_names as sig
from keras_durbm.config.tasks import get_task
from keras_durbm.images.pixels import to_uint8
from keras_durbm.restoration.routing import classify, route
from keras_durbm.restoration.tiling import TilingConfig, restore
from tests.support.exports import hazy_pairs
from tfrecords_tools.photos import load_photos

NO_TILES = TilingConfig(tile_above=0)


@pytest.fixture(scope="module")
def auto(export_dir):
    return tf.saved_model.load(saved_model.head_dir(os.path.join(export_dir, "serving"), sig.AUTO_MODEL))


@pytest.fixture(scope="module")
def images():
    """A hazy and a clean held-out crop (coffee is not a training photo of the shared model)."""
    [(_, photo)] = load_photos(("coffee",), 96)
    # the second crop: the first of this seed is hazed so lightly that the tiny classifier calls it clean
    hazy, clean = hazy_pairs(np.random.default_rng(1), [photo], 2, 40)
    return {"hazy": hazy[1, :, :36], "clean": clean[1, :, :36]}


def test_auto_chooses_and_restores_like_route(auto, trained_model, images):
    for image in images.values():
        out = auto.signatures[sig.SERVING_DEFAULT](**{sig.INPUT_FLOAT: tf.constant(image[None])})
        expected = route(trained_model, image, tiling=NO_TILES)
        assert out[sig.OUTPUT_TASK].numpy()[0].decode() == expected.steps[0].classification.best
        assert [c.decode() for c in out[sig.OUTPUT_CLASSES].numpy()[0]] == list(trained_model.classes)
        np.testing.assert_allclose(out[sig.OUTPUT_PROBABILITIES].numpy()[0],
                                   list(classify(trained_model, image).probabilities.values()), atol=1e-6)
        np.testing.assert_allclose(np.clip(out[sig.OUTPUT_FLOAT].numpy()[0], 0, 1), expected.image, atol=2e-6)
    # the shared model's classifier learnt hazy vs clean: the two images take different branches
    tasks = [auto.signatures[sig.SERVING_DEFAULT](**{sig.INPUT_FLOAT: tf.constant(images[k][None])})[sig.OUTPUT_TASK]
             .numpy()[0].decode() for k in ("hazy", "clean")]
    assert tasks == ["haze", "clean"]


def test_a_clean_image_comes_back_unchanged_and_a_batch_routes_per_image(auto, images):
    batch = np.stack([images["clean"], images["hazy"]])
    out = auto.signatures[sig.SERVE_UINT8](**{sig.INPUT_UINT8: tf.constant(to_uint8(batch))})
    assert [t.decode() for t in out[sig.OUTPUT_TASK].numpy()] == ["clean", "haze"]
    np.testing.assert_array_equal(out[sig.OUTPUT_UINT8].numpy()[0], to_uint8(images["clean"]))
    assert not np.array_equal(out[sig.OUTPUT_UINT8].numpy()[1], to_uint8(images["hazy"]))


def test_below_the_models_routing_threshold_the_image_comes_back_unchanged_as_clean(trained_model, images):
    """Do no harm in the graph: the model's `routing_threshold` is baked into the auto head; an image whose
    top probability is below it takes the identity branch and reports `clean`, as `route` keeps it. Built
    from `auto_head` (what `export_auto` writes) and traced, without writing a second SavedModel."""
    from export.signatures import FLOAT_SPEC, routed_outputs, signature_functions
    from keras_durbm.config.model import min_input_size

    light = 0.75 * images["hazy"] + 0.25 * images["clean"]  # a lighter haze: still haze, less sure
    found = {name: classify(trained_model, x) for name, x in (("light", light), ("hazy", images["hazy"]))}
    assert [found[k].best for k in ("light", "hazy")] == ["haze", "haze"], {k: v.describe() for k, v in found.items()}
    assert found["hazy"].confidence - found["light"].confidence > 0.02, {k: v.describe() for k, v in found.items()}
    threshold = (found["light"].confidence + found["hazy"].confidence) / 2
    batch = np.stack([light, images["hazy"], images["clean"]]).astype(np.float32)
    before = trained_model.routing_threshold
    try:
        trained_model.routing_threshold = threshold
        head = saved_model.auto_head(trained_model)
        expected = [route(trained_model, x, tiling=NO_TILES).image for x in batch]
    finally:
        trained_model.routing_threshold = before
    serve, _ = signature_functions(head, min_input_size(trained_model.config),
                                   routed_outputs(len(trained_model.classes)))[sig.SERVING_DEFAULT]
    serve = tf.function(serve, input_signature=[FLOAT_SPEC])
    out = serve(tf.constant(batch))
    assert [t.decode() for t in out[sig.OUTPUT_TASK].numpy()] == ["clean", "haze", "clean"]
    np.testing.assert_allclose(out[sig.OUTPUT_PROBABILITIES].numpy()[:2],
                               [list(found[k].probabilities.values()) for k in ("light", "hazy")], atol=1e-6)
    restored = out[sig.OUTPUT_FLOAT].numpy()
    np.testing.assert_array_equal(restored[0], batch[0])  # the identity branch: bit-exact
    np.testing.assert_array_equal(restored[2], batch[2])
    haze = restore(trained_model, images["hazy"], get_task("haze"), tile_above=0)
    np.testing.assert_allclose(np.clip(restored[1], 0, 1), haze, atol=2e-6)
    for got, want in zip(restored, expected, strict=True):  # what `route` gives with the model's threshold
        np.testing.assert_allclose(np.clip(got, 0, 1), want, atol=2e-6)
    # still one `Case` op: the threshold picks the branch index, it adds none
    library = serve.get_concrete_function().graph.as_graph_def().library.function
    assert sum(node.op in ("Case", "StatelessCase") for f in library for node in f.node_def) == 1


def test_only_the_chosen_branch_runs(auto, trained_model):
    """The graph holds one `Case` op whose branches are one tail per head plus the identity for `clean`."""
    graph = auto.signatures[sig.SERVING_DEFAULT].graph
    library = {f.signature.name: f for f in graph.as_graph_def().library.function}
    cases = [node for f in library.values() for node in f.node_def if node.op in ("Case", "StatelessCase")]
    assert len(cases) == 1
    branches = [b.name for b in cases[0].attr["branches"].list.func]
    assert len(branches) == len(trained_model.classes)

    def convolutions(name, seen=()):
        """Conv2D ops in function `name` and the functions it calls."""
        total = 0
        for node in library[name].node_def:
            total += node.op == "Conv2D"
            for attr in node.attr.values():
                if attr.func.name in library and attr.func.name not in seen:
                    total += convolutions(attr.func.name, (*seen, name))
        return total

    counts = [convolutions(b) for b in branches]
    assert counts[-1] == 0 and all(c > 0 for c in counts[:-1])  # clean: no convolution at all


def test_saved_model_cli_runs_the_auto_model(export_dir, tmp_path, images):
    path = saved_model.head_dir(os.path.join(export_dir, "serving"), sig.AUTO_MODEL)
    np.save(tmp_path / "x.npy", images["clean"][None])
    proc = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "run", "--dir", path,
                           "--tag_set", "serve", "--signature_def", sig.SERVING_DEFAULT,
                           "--inputs", f"{sig.INPUT_FLOAT}={tmp_path / 'x.npy'}", "--outdir", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "out" / f"{sig.OUTPUT_FLOAT}.npy")[0], images["clean"], atol=1e-7)


def test_models_config_and_parity_rows_include_auto(export_dir, report):
    config = open(os.path.join(export_dir, "serving", "models.config"), encoding="utf-8").read()
    assert f'name: "{sig.AUTO_MODEL}"' in config
    rows = [row for row in report["rows"] if row["head"] in (sig.AUTO_MODEL, sig.CLASSIFIER_MODEL)]
    assert {row["head"] for row in rows} == {sig.AUTO_MODEL, sig.CLASSIFIER_MODEL}
    for row in rows:
        assert row["max_abs_diff"] < 1e-4 or row["format"] not in ("savedmodel", "onnx", "tflite-fp32"), row


def test_classifier_tflite_and_onnx_give_the_keras_probabilities(export_dir, trained_model, images, report):
    """Same probabilities as Keras; the TFLite file runs under XNNPACK except the block statistic's
    phase slices (stride 8) and stacks, a few microseconds of work (docs/export.md)."""
    [row] = [r for r in report["rows"] if r["format"] == "tflite" and r["head"] == sig.CLASSIFIER_MODEL]
    assert set(row["xnnpack"]["undelegated_ops"]) <= {"STRIDED_SLICE", "PACK"}, row["xnnpack"]
    from keras_durbm.config.model import SIZE_MULTIPLE, min_input_size
    from keras_durbm.models import classifier_model
    from keras_durbm.restoration.tiling import pad_to_multiple

    padded, _ = pad_to_multiple(images["hazy"][None], SIZE_MULTIPLE, min_input_size(trained_model.config))
    expected = np.asarray(classifier_model(trained_model)(padded))
    import onnxruntime
    from ai_edge_litert.interpreter import Interpreter

    session = onnxruntime.InferenceSession(os.path.join(export_dir, "onnx", f"{sig.CLASSIFIER_MODEL}.onnx"))
    found = session.run(None, {session.get_inputs()[0].name: padded.astype(np.float32)})[0]
    np.testing.assert_allclose(found, expected, atol=1e-5)
    interpreter = Interpreter(os.path.join(export_dir, "tflite", sig.CLASSIFIER_MODEL, "fp32.tflite"))
    entry = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(entry["index"], padded.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(entry["index"], padded.astype(np.float32))
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), expected, atol=1e-5)


def test_the_standin_serves_auto_over_rest_and_grpc(export_dir, trained_model, images, tmp_path):
    from PIL import Image

    from serving import client as serving_client
    from serving.standin import StandIn

    pixels = to_uint8(images["hazy"])
    expected = route(trained_model, pixels.astype(np.float32) / np.float32(255.0), tiling=NO_TILES)
    with StandIn(os.path.join(export_dir, "serving")) as server:
        for client in (serving_client.RestClient(server.rest_url, sig.AUTO_MODEL),
                       serving_client.GrpcClient(server.grpc_target, sig.AUTO_MODEL)):
            assert sig.OUTPUT_TASK in client.signatures()[sig.SERVE_PNG]
            restored, task, probabilities = serving_client.route_uint8(client, pixels)
            assert task == "haze" and list(probabilities) == list(trained_model.classes)
            np.testing.assert_array_equal(restored, to_uint8(expected.image))
        source = tmp_path / "hazy.png"
        Image.fromarray(pixels).save(source)
        code = serving_client.main(["--rest", server.rest_url, "--model", sig.AUTO_MODEL, str(source),
                                    "-o", str(tmp_path / "out"), "--no-progress"])
        assert code == 0
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "hazy.png")), to_uint8(expected.image))
    json.dumps(probabilities)  # plain floats, ready for a report
