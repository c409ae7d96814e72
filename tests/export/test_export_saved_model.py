"""The per-head SavedModels of the shared export: signatures, parity with Keras, CLI tools, TF Serving files."""

import io
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from export import saved_model, serving_config
from export import signature_names as sig
from keras_durbm.config.model import min_input_size
from keras_durbm.config.tasks import get_task
from keras_durbm.images.pixels import to_uint8
from keras_durbm.models import count_parameters, head_model
from keras_durbm.restoration.tiling import head_runner, restore_with


def keras_restore(model, head, image):
    return restore_with(head_runner(model, get_task(head)), image, min_size=min_input_size(model.config))


@pytest.fixture(scope="module")
def heads(report):
    return report["heads"]


@pytest.fixture(scope="module")
def loaded(export_dir, heads):
    return {h: tf.saved_model.load(saved_model.head_dir(os.path.join(export_dir, "serving"), h)) for h in heads}


def test_each_head_has_the_three_signatures_with_their_tensor_names(loaded):
    expected = {
        sig.SERVING_DEFAULT: ({sig.INPUT_FLOAT: tf.float32}, {sig.OUTPUT_FLOAT}),
        sig.SERVE_UINT8: ({sig.INPUT_UINT8: tf.uint8}, {sig.OUTPUT_UINT8}),
        sig.SERVE_PNG: ({sig.INPUT_BYTES: tf.string}, {sig.OUTPUT_BYTES}),
    }
    for model in loaded.values():
        assert set(model.signatures) == set(expected)
        for name, (inputs, outputs) in expected.items():
            function = model.signatures[name]
            specs = function.structured_input_signature[1]
            assert {k: s.dtype for k, s in specs.items()} == inputs
            assert set(function.structured_outputs) == outputs


def test_a_head_savedmodel_holds_only_that_heads_weights(loaded, trained_model):
    for head, model in loaded.items():
        saved = sum(int(np.prod(v.shape)) for v in model.variables)
        assert saved == count_parameters(head_model(trained_model, head))
        assert saved < count_parameters(trained_model)  # the other head's decoder is not in it


@pytest.mark.parametrize("height,width", [(37, 53), (1, 1), (3, 5), (48, 32)])
def test_serving_default_equals_keras_at_any_size(loaded, trained_model, height, width, rng):
    images = rng.random((2, height, width, 3)).astype(np.float32)
    for head, model in loaded.items():
        got = model.signatures[sig.SERVING_DEFAULT](image=tf.constant(images))[sig.OUTPUT_FLOAT].numpy()
        expected = np.stack([keras_restore(trained_model, head, x) for x in images])
        assert got.shape == images.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_uint8_and_png_signatures_give_the_clipped_rounded_keras_result(loaded, trained_model, parity_images):
    photo = parity_images[0]
    pixels = to_uint8(photo)
    for head, model in loaded.items():
        expected = to_uint8(np.clip(keras_restore(trained_model, head, pixels / np.float32(255.0)), 0, 1))
        got_u8 = model.signatures[sig.SERVE_UINT8](image_u8=tf.constant(pixels[None]))[sig.OUTPUT_UINT8].numpy()[0]
        np.testing.assert_array_equal(got_u8, expected)
        grey_alpha = io.BytesIO()  # a grey+alpha PNG is read as RGB (alpha dropped), like decode_image does
        Image.fromarray(np.dstack([pixels[..., 0], np.full(pixels.shape[:2], 200, np.uint8)]), "LA").save(grey_alpha, "PNG")
        color = io.BytesIO()
        Image.fromarray(pixels).save(color, "PNG")
        encoded = model.signatures[sig.SERVE_PNG](
            image_bytes=tf.constant([color.getvalue(), grey_alpha.getvalue()]))[sig.OUTPUT_BYTES].numpy()
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encoded[0]))), expected)
        grey = np.repeat(pixels[..., :1], 3, axis=-1)
        expected_grey = to_uint8(np.clip(keras_restore(trained_model, head, grey / np.float32(255.0)), 0, 1))
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encoded[1]))), expected_grey)


@pytest.mark.slow
def test_saved_model_cli_show_and_run_match_keras(export_dir, heads, trained_model, tmp_path, rng):
    cli = shutil.which("saved_model_cli") or os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    image = rng.random((1, 37, 53, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", image)
    for head in heads:
        folder = saved_model.head_dir(os.path.join(export_dir, "serving"), head)
        shown = subprocess.run([cli, "show", "--dir", folder, "--all"], capture_output=True, text=True, timeout=300)
        assert shown.returncode == 0, shown.stderr[-2000:]
        for name in sig.SIGNATURES:
            assert f"signature_def['{name}']" in shown.stdout
        assert "Method name is: tensorflow/serving/predict" in shown.stdout
        assert "dtype: DT_UINT8" in shown.stdout and "dtype: DT_STRING" in shown.stdout
        out = tmp_path / head
        ran = subprocess.run([cli, "run", "--dir", folder, "--tag_set", "serve", "--signature_def", sig.SERVING_DEFAULT,
                              "--inputs", f"{sig.INPUT_FLOAT}={tmp_path / 'x.npy'}", "--outdir", str(out)],
                             capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, ran.stderr[-2000:]
        got = np.load(out / f"{sig.OUTPUT_FLOAT}.npy")
        np.testing.assert_allclose(got[0], keras_restore(trained_model, head, image[0]), rtol=0, atol=1e-6)


def test_warmup_records_parse_and_replay_through_their_signatures(export_dir, heads, loaded, trained_model):
    from tensorflow_serving.apis import prediction_log_pb2

    for head in heads:
        path = os.path.join(saved_model.head_dir(os.path.join(export_dir, "serving"), head), serving_config.WARMUP_FILE)
        logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
        assert sorted(log.predict_log.request.model_spec.signature_name for log in logs) == sorted(sig.SIGNATURES)
        card = serving_config.warmup_image(64)
        expected = keras_restore(trained_model, head, card / np.float32(255.0))
        for log in logs:
            request = log.predict_log.request
            assert request.model_spec.name == head
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            outputs = loaded[head].signatures[request.model_spec.signature_name](**inputs)
            if sig.OUTPUT_FLOAT in outputs:
                np.testing.assert_allclose(outputs[sig.OUTPUT_FLOAT].numpy()[0], expected, atol=1e-6)
            elif sig.OUTPUT_UINT8 in outputs:
                np.testing.assert_array_equal(outputs[sig.OUTPUT_UINT8].numpy()[0], to_uint8(np.clip(expected, 0, 1)))
            else:
                decoded = np.asarray(Image.open(io.BytesIO(outputs[sig.OUTPUT_BYTES].numpy()[0])))
                np.testing.assert_array_equal(decoded, to_uint8(np.clip(expected, 0, 1)))


def parse_models_config(text: str):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def test_models_config_lists_every_exported_head_and_parses_with_tf_serving_protos(export_dir, heads):
    with open(os.path.join(export_dir, "serving", serving_config.MODELS_CONFIG), encoding="utf-8") as handle:
        config = parse_models_config(handle.read())
    entries = config.model_config_list.config
    served = [*heads, sig.AUTO_MODEL]  # the shared model has a degradation classifier: auto is served too
    assert [c.name for c in entries] == served
    assert [c.base_path for c in entries] == [f"/models/{h}" for h in served]
    assert all(c.model_platform == "tensorflow" and c.model_version_policy.latest.num_versions == 1 for c in entries)
    for head in heads:  # the base path's last part is the version folder's parent in the export
        assert os.path.isfile(os.path.join(export_dir, "serving", head, "1", "saved_model.pb"))


def test_models_config_of_several_heads_with_a_local_base_path():
    config = parse_models_config(serving_config.models_config_text(["rain", "motion_blur", "haze"], "/srv/m/"))
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [
        ("rain", "/srv/m/rain"), ("motion_blur", "/srv/m/motion_blur"), ("haze", "/srv/m/haze")]


def batching_parameters_type():
    """A message with the fields of TF Serving's BatchingParameters (session_bundle_config.proto), which the
    tensorflow-serving-api wheel does not ship: the text must parse against it."""
    from google.protobuf import (
        descriptor_pb2,
        descriptor_pool,
        message_factory,
        wrappers_pb2,  # noqa: F401  (registers google/protobuf/wrappers.proto)
    )

    file = descriptor_pb2.FileDescriptorProto(name="batching_check.proto", package="check",
                                              dependency=["google/protobuf/wrappers.proto"])
    message = file.message_type.add(name="BatchingParameters")
    fields = [("max_batch_size", ".google.protobuf.Int64Value"), ("batch_timeout_micros", ".google.protobuf.Int64Value"),
              ("max_enqueued_batches", ".google.protobuf.Int64Value"),
              ("num_batch_threads", ".google.protobuf.Int64Value"),
              ("pad_variable_length_inputs", None), ("allowed_batch_sizes", None)]
    for number, (name, type_name) in enumerate(fields, start=1):
        field = message.field.add(name=name, number=number)
        if type_name:
            field.type, field.type_name = field.TYPE_MESSAGE, type_name
        elif name == "pad_variable_length_inputs":
            field.type = field.TYPE_BOOL
        else:
            field.type, field.label = field.TYPE_INT64, field.LABEL_REPEATED
    pool = descriptor_pool.Default()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("check.BatchingParameters"))


def test_batching_example_parses_and_explains_fixed_size_tiles(export_dir):
    from google.protobuf import text_format

    with open(os.path.join(export_dir, "serving", serving_config.BATCHING_PARAMETERS), encoding="utf-8") as handle:
        text = handle.read()
    params = text_format.Parse(text, batching_parameters_type()())
    assert params.max_batch_size.value == 8 and params.num_batch_threads.value == 2
    assert not params.pad_variable_length_inputs
    assert "fixed-size tiles" in text and "different image sizes" in text


@pytest.mark.slow
def test_multihead_savedmodel_has_a_signature_per_head(trained_model, tmp_path, rng):
    path = saved_model.export_multihead(trained_model, str(tmp_path / "multihead" / "1"))
    model = tf.saved_model.load(path)
    assert set(model.signatures) == {sig.SERVING_DEFAULT, *trained_model.task_names}
    image = rng.random((1, 21, 30, 3)).astype(np.float32)
    every = model.signatures[sig.SERVING_DEFAULT](image=tf.constant(image))
    assert set(every) == set(trained_model.task_names)
    for head in trained_model.task_names:
        expected = keras_restore(trained_model, head, image[0])
        np.testing.assert_allclose(every[head].numpy()[0], expected, atol=1e-6)
        one = model.signatures[head](image=tf.constant(image))[sig.OUTPUT_FLOAT].numpy()[0]
        np.testing.assert_allclose(one, expected, atol=1e-6)
