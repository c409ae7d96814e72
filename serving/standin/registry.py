"""The served models: the highest version of each exported SavedModel, run on checked numpy inputs.

`Servables` loads `<root>/<name>/<version>/saved_model.pb`, finds a model and signature as TF Serving
does (its NOT_FOUND and INVALID_ARGUMENT texts), and refuses requests over the pixel limit from array
shapes and image headers, before anything is decoded. The REST and gRPC protocols (`rest_api`,
`grpc_api`) turn their requests into the numpy inputs of `Servables.predict`.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_durbm.errors import BadImageError, ImageTooLargeError
from keras_durbm.images.io import DEFAULT_MAX_PIXELS, check_pixel_limit, probe_image_bytes
from serving.errors import ServingError

#: What `tf.io.decode_image` (the `serve_png` signature's decoder) reads, as Pillow names them: each is
#: identified by its own magic bytes, so Pillow's header and TensorFlow's decoder see the same image.
DECODED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")


@dataclasses.dataclass
class Servable:
    name: str
    version: int
    path: str
    loaded: object

    def signature(self, name: str):
        if name not in self.loaded.signatures:
            raise ServingError(code="INVALID_ARGUMENT", message=f'Serving signature name: "{name}" not found in signature def')
        return self.loaded.signatures[name]


def _image_sizes(key: str, value: np.ndarray, max_pixels: int | None) -> list[tuple[str, int, int, int]]:
    """(label, count, height, width) of the images a request input holds: an NHWC batch, or encoded images
    (sizes read from their headers, nothing decoded). An encoded image whose size cannot be read from its
    header is refused: TensorFlow's decoder may read it anyway, and then no limit would apply."""
    if value.dtype == object:
        sizes = []
        for i, data in enumerate(np.ravel(value)):
            label = f"{key}[{i}]"
            if isinstance(data, str):
                data = data.encode("utf-8")
            if not isinstance(data, bytes):
                raise ServingError(code="INVALID_ARGUMENT", message=f"{label}: expected encoded image bytes, "
                                   f"got {type(data).__name__}")
            try:
                info = probe_image_bytes(data, label, max_pixels=max_pixels, formats=DECODED_FORMATS)
            except ImageTooLargeError:
                raise
            except BadImageError as error:  # an unreadable header is refused, not left to the decoder
                raise ServingError(code="INVALID_ARGUMENT", message=str(error)) from None
            sizes.append((label, 1, info.height, info.width))
        return sizes
    if value.ndim == 4:
        return [(key, *(int(n) for n in value.shape[:3]))]
    return []


def _over_limit(error: ImageTooLargeError) -> ServingError:
    return ServingError(code="INVALID_ARGUMENT", message=f"{error.path}: {error.problem} (the server's --max-pixels); "
                        "send tiles, e.g. python -m keras_durbm.restore --tile")


class Servables:
    """The highest version of each `<root>/<name>/<version>/saved_model.pb`, loaded once.

    `max_pixels` refuses requests with more pixels than that, all their images together (the same limit as
    every reader of the project): a request holds its images, the network's activations and the reply at
    once. It is checked from shapes and headers, before any array is built or image decoded.
    """

    def __init__(self, root: str, max_pixels: int | None = DEFAULT_MAX_PIXELS):
        import tensorflow as tf

        self.max_pixels = max_pixels
        if not os.path.isdir(root):
            raise FileNotFoundError(f"{root}: no such folder (expected DIR/serving of `python -m export`)")
        self.root = root
        self.models: dict[str, Servable] = {}
        for name in sorted(os.listdir(root)):
            versions = [int(v) for v in _listdir(os.path.join(root, name))
                        if v.isdigit() and os.path.isfile(os.path.join(root, name, v, "saved_model.pb"))]
            if versions:
                path = os.path.join(root, name, str(max(versions)))
                self.models[name] = Servable(name, max(versions), path, tf.saved_model.load(path))
        if not self.models:
            raise FileNotFoundError(f"{root}: no <model>/<version>/saved_model.pb inside (run python -m export first)")

    def get(self, name: str, version: int | None = None) -> Servable:
        servable = self.models.get(name)
        if servable is None or (version is not None and version != servable.version):
            wanted = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            raise ServingError(code="NOT_FOUND", message=f"Servable not found for request: {wanted}")
        return servable

    def predict(self, name: str, version: int | None, signature_name: str,
                inputs: dict[str, np.ndarray]) -> tuple[Servable, dict[str, np.ndarray]]:
        """Runs one signature on numpy inputs, checking names and dtypes as TF Serving does."""
        import tensorflow as tf

        servable = self.get(name, version)
        function = servable.signature(signature_name or "serving_default")
        specs = function.structured_input_signature[1]
        missing = sorted(set(specs) - set(inputs))
        extra = sorted(set(inputs) - set(specs))
        if extra or missing:
            alias = (extra or missing)[0]
            raise ServingError(code="INVALID_ARGUMENT", message=f"input tensor alias not found in signature: {alias}. "
                               f"Inputs expected to be in the set {{{','.join(sorted(specs))}}}.")
        values, images = {}, []
        for key, spec in specs.items():
            value = np.asarray(inputs[key], dtype=object if spec.dtype == tf.string else None)
            expected = object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype
            if value.dtype != expected:
                raise ServingError(code="INVALID_ARGUMENT", message=f"Expects arg[{key}] to be {spec.dtype.name} but "
                                   f"{value.dtype} is provided")
            try:
                images += _image_sizes(key, value, self.max_pixels)
            except ImageTooLargeError as error:
                raise _over_limit(error) from None
            values[key] = value
        self.check_images(images)
        try:
            outputs = function(**{key: tf.constant(value, specs[key].dtype) for key, value in values.items()})
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
            raise ServingError(code="INVALID_ARGUMENT", message=getattr(error, "message", str(error))) from None
        return servable, {k: v.numpy() for k, v in outputs.items()}

    def check_images(self, images: list[tuple[str, int, int, int]]) -> None:
        """Refuses (INVALID_ARGUMENT) images of (label, count, height, width) holding more than `max_pixels`
        pixels, one image or all of a request together (the batch dimension counts), naming sizes and limit."""
        if not self.max_pixels:
            return
        for label, count, height, width in images:
            if count <= 1:
                try:
                    check_pixel_limit(label, height, width, self.max_pixels)
                except ImageTooLargeError as error:
                    raise _over_limit(error) from None
        total = sum(count * height * width for _, count, height, width in images)
        if total > self.max_pixels:
            count = sum(n for _, n, _, _ in images)
            (label, _, height, width), *others = images
            what = f"{count} images of {width}x{height}" if not others else f"{count} images"
            raise ServingError(code="INVALID_ARGUMENT", message=f"{label}: {what} = {total:,} pixels in one request, "
                               f"over the limit of {self.max_pixels:,} per request (the server's --max-pixels); "
                               "send fewer or smaller images")

    def signature_defs(self, name: str, version: int | None = None):
        """The SignatureDefMap of a served model (what GetModelMetadata returns)."""
        from tensorflow.python.tools import saved_model_utils
        from tensorflow_serving.apis import get_model_metadata_pb2

        servable = self.get(name, version)
        meta = saved_model_utils.get_meta_graph_def(servable.path, "serve")
        result = get_model_metadata_pb2.SignatureDefMap()
        for key, value in meta.signature_def.items():
            if not key.startswith("__"):
                result.signature_def[key].CopyFrom(value)
        return servable, result


def _listdir(path: str) -> list[str]:
    return os.listdir(path) if os.path.isdir(path) else []
