"""SavedModels for TF Serving: one per head (only that head's weights), and optionally one multi-head.

Each head is exported as a sub-model sharing the network's weights (`head_model`), so the SavedModel
holds the encoder, the blocks below the head and its decoder only. `keras.export.ExportArchive` gives
standalone SavedModels that load without the project's code.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from export import serving_config
from export import signature_names as names
from export import signatures as sig
from keras_durbm.config.model import min_input_size
from keras_durbm.models.network import DuRBMNetwork, classifier_model, head_model, routing_models

DEFAULT_VERSION = 1
MULTIHEAD_NAME = "multihead"


def head_dir(serving_dir: str, head: str, version: int = DEFAULT_VERSION) -> str:
    """`serving_dir/<head>/<version>`, TF Serving's layout."""
    return os.path.join(serving_dir, head, str(int(version)))


def export_head(model: DuRBMNetwork, head: str, version_dir: str, *, warmup_size: int = 64) -> str:
    """Writes one head's SavedModel with the three signatures of `export.signatures` and warm-up records."""
    sub = head_model(model, head)
    archive = keras.export.ExportArchive()
    archive.track(sub)

    def run(images):  # float32 out whatever the dtype policy (a mixed_bfloat16 model computes in bfloat16)
        return keras.ops.cast(sub(images, training=False), "float32")

    for name, (fn, spec) in sig.signature_functions(run, min_input_size(model.config)).items():
        archive.add_endpoint(name, fn, input_signature=spec)
    archive.write_out(version_dir, verbose=False)
    serving_config.write_warmup_records(version_dir, head, max(warmup_size, min_input_size(model.config)))
    return version_dir


def export_auto(model: DuRBMNetwork, version_dir: str, *, warmup_size: int = 64) -> str:
    """Writes the `auto` SavedModel: the degradation classifier picks the head per image, in the graph.

    Its signatures are those of a head (`export.signatures`), each also returning `task` (the chosen
    class: a head's name, or `clean` for an image returned unchanged), `probabilities` and `classes`.
    The encoder and the classifier run once; `tf.switch_case` then runs only the chosen head's tail.
    The model's `routing_threshold` is baked in (`auto_head`).
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    extras = sig.routed_outputs(len(model.classes))
    route = auto_head(model)
    for name, (fn, spec) in sig.signature_functions(route, min_input_size(model.config), extras).items():
        archive.add_endpoint(name, fn, input_signature=spec)
    archive.write_out(version_dir, verbose=False)
    serving_config.write_warmup_records(version_dir, names.AUTO_MODEL, max(warmup_size, min_input_size(model.config)))
    return version_dir


def auto_head(model: DuRBMNetwork) -> sig.Head:
    """The `auto` model's routed head (`export.signatures.routed_head`) with the model's do-no-harm
    `routing_threshold` as a constant: below it an image comes back unchanged, its task `clean`, as
    `keras_durbm.restoration.routing.route` does by default (0: always the most probable class)."""
    trunk, tails = routing_models(model)
    return sig.routed_head(trunk, [tails[name] for name in model.task_names], model.classes,
                           threshold=routing_threshold(model))


def routing_threshold(model: DuRBMNetwork) -> float:
    """The threshold baked into the `auto` model: the model's `routing_threshold` (0 for a model without one)."""
    return float(getattr(model, "routing_threshold", 0.0) or 0.0)


def export_classifier(model: DuRBMNetwork, path: str) -> str:
    """A SavedModel whose `serving_default` maps `image` (any size) to `probabilities` (what ONNX converts)."""
    sub = classifier_model(model)
    archive = keras.export.ExportArchive()
    archive.track(sub)
    min_size = min_input_size(model.config)

    def classify(image):
        return {names.OUTPUT_PROBABILITIES: sub(sig.pad_aligned(image, min_size), training=False)}

    archive.add_endpoint(sig.SERVING_DEFAULT, classify, input_signature=[sig.FLOAT_SPEC])
    archive.write_out(path, verbose=False)
    return path


def export_multihead(model: DuRBMNetwork, path: str) -> str:
    """One SavedModel with a float signature per head (`<head>` → `restored`) and `serving_default`
    returning every head (outputs named after the heads) from one shared encoder pass."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    min_size = min_input_size(model.config)

    def heads(x):  # the restored images only (not the classifier's probabilities)
        outputs = model(x, training=False)
        return {name: outputs[name] for name in model.task_names}

    def serve_all(image):
        return sig.restore_any_size(heads, image, min_size)

    archive.add_endpoint(sig.SERVING_DEFAULT, serve_all, input_signature=[sig.FLOAT_SPEC])
    for name in model.task_names:
        archive.add_endpoint(name, _head_endpoint(head_model(model, name), min_size), input_signature=[sig.FLOAT_SPEC])
    archive.write_out(path, verbose=False)
    return path


def _head_endpoint(sub: keras.Model, min_size: int):
    """The float endpoint of one head, closing over `sub` (ExportArchive rejects default arguments)."""

    def serve_head(image):
        return {sig.OUTPUT_FLOAT: sig.restore_any_size(lambda x: sub(x, training=False), image, min_size)}

    return serve_head


def load_signature(version_dir: str, signature: str = sig.SERVING_DEFAULT):
    """A signature of an exported SavedModel, called with keyword tensors (as the server calls it)."""
    loaded = tf.saved_model.load(version_dir)
    if signature not in loaded.signatures:
        raise KeyError(f"{version_dir} has no signature {signature!r}; it has {', '.join(loaded.signatures)}")

    def call(**inputs):
        return loaded.signatures[signature](**inputs)  # holding `loaded` keeps its variables alive

    return call
