"""A local stand-in for TensorFlow Serving over exported SavedModels: REST predict and gRPC Predict.

    python -m serving.standin DIR/serving [--rest-port 8501] [--grpc-port 8500] [--host 127.0.0.1]

`tensorflow_model_server` cannot be installed here (docs/design.md §3), so the client is tested against this
process. It speaks the same protocols on the same SavedModels: `POST /v1/models/<name>[/versions/N]:predict`
(row `instances` and columnar `inputs` formats, `{"b64": ...}` binary values, `_bytes` outputs
base64-encoded), `GET /v1/models/<name>[/metadata]`, and gRPC `PredictionService.Predict` and
`GetModelMetadata`, with TF Serving's status codes and error texts. It serves the highest version of
every `<name>/<version>/` folder. It does not batch, reload, apply version policies or labels, or
replay warm-up records: see serving/README.md for what only the real server can show.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import concurrent.futures
import dataclasses
import errno
import functools
import json
import math
import os
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from keras_durbm.cli import EXIT_OK, EXIT_USAGE, console_text, fail, quiet_tensorflow, stderr_captured
from keras_durbm.errors import BadImageError, ImageTooLargeError
from keras_durbm.images.io import DEFAULT_MAX_PIXELS, check_pixel_limit, probe_image_bytes
from serving.errors import ServingError

DEFAULT_HOST = "127.0.0.1"
MAX_MESSAGE_BYTES = 2**31 - 1  # TF Serving's gRPC limit (kint32max)
MAX_BODY_BYTES = 1 << 30  # a REST body larger than this is refused before it is read, whatever the pixel limit
#: REST body bytes one pixel may take: three float values written out in full (`0.0019607844296842813, `).
#: With `--max-pixels` the body is bounded by what an image at the limit needs, because parsing JSON
#: costs about 43 times the body in memory and time before any pixel can be checked.
JSON_BYTES_PER_PIXEL = 80
BODY_ALLOWANCE = 1 << 20  # beside the pixels: names, brackets, the signature, small inputs
DRAIN_BYTES = 64 << 20  # a refused body up to this size is read and dropped so the client sees the answer
MAX_RANK = 32  # a gRPC tensor of higher rank is refused (its shape is not even formatted)
#: What `tf.io.decode_image` (the `serve_png` signature's decoder) reads, as Pillow names them: each is
#: identified by its own magic bytes, so Pillow's header and TensorFlow's decoder see the same image.
DECODED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
LISTEN_BACKLOG = 128  # pending REST connections the kernel queues (socketserver's default is 5)
IDLE_TIMEOUT_S = 30.0  # a REST connection silent this long (idle, or a body shorter than its length) is closed
HTTP_STATUS = {"NOT_FOUND": HTTPStatus.NOT_FOUND, "INVALID_ARGUMENT": HTTPStatus.BAD_REQUEST,
               "UNIMPLEMENTED": HTTPStatus.NOT_IMPLEMENTED, "INTERNAL": HTTPStatus.INTERNAL_SERVER_ERROR,
               "RESOURCE_EXHAUSTED": HTTPStatus.REQUEST_ENTITY_TOO_LARGE}


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

    @property
    def max_body_bytes(self) -> int:
        """The largest REST body read: what an image at the pixel limit needs as JSON floats, at most 1 GiB."""
        if not self.max_pixels:
            return MAX_BODY_BYTES
        return min(MAX_BODY_BYTES, BODY_ALLOWANCE + JSON_BYTES_PER_PIXEL * self.max_pixels)

    def array_from_proto(self, key: str, proto) -> np.ndarray:
        """The array of a gRPC TensorProto, checked before it is built. `tf.make_ndarray` repeats the last
        value to fill the shape, so a 65-byte request could ask for gigabytes: the dtype must be a plain
        one, dimensions non-negative, an image batch within the pixel limit, the array within the message
        limit, `tensor_content` exactly shape × item size, and strings one value per element."""
        import tensorflow as tf
        from tensorflow.core.framework import types_pb2

        def refuse(problem: str):
            return ServingError(code="INVALID_ARGUMENT", message=f"input {key}: {problem}")

        dtype = _proto_dtypes().get(proto.dtype)
        if dtype is None:
            name = types_pb2.DataType.Name(proto.dtype) if proto.dtype in types_pb2.DataType.values() else proto.dtype
            raise refuse(f"dtype {name} is not supported; expected a number, bool or string type")
        if proto.tensor_shape.unknown_rank or len(proto.tensor_shape.dim) > MAX_RANK:
            raise refuse(f"a shape of known rank up to {MAX_RANK} is needed")
        shape = [int(d.size) for d in proto.tensor_shape.dim]
        if any(size < 0 for size in shape):
            raise refuse(f"shape {shape} has a negative dimension")
        count = math.prod(shape)
        if len(shape) == 4 and dtype != tf.string:
            self.check_images([(key, *shape[:3])])
        itemsize = 8 if dtype == tf.string else dtype.size
        if count * itemsize > MAX_MESSAGE_BYTES or (self.max_pixels and count > 4 * self.max_pixels):
            raise refuse(f"shape {shape} holds {count:,} values, more than an image at the server's limits")
        if dtype == tf.string:
            if proto.tensor_content or len(proto.string_val) != count:
                raise refuse(f"shape {shape} needs {count:,} string_val values, one per element; got "
                             f"{len(proto.string_val):,}")
        elif proto.tensor_content and len(proto.tensor_content) != count * itemsize:
            raise refuse(f"tensor_content has {len(proto.tensor_content):,} bytes; shape {shape} of {dtype.name} "
                         f"needs {count * itemsize:,}")
        try:
            return tf.make_ndarray(proto)
        except (TypeError, ValueError) as error:
            raise refuse(f"cannot read the tensor ({error})") from None

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


@functools.cache
def _proto_dtypes() -> dict:
    """The TensorProto dtypes a request may carry (enum value → tf.DType): numbers, bool and string."""
    import tensorflow as tf

    kinds = (tf.float16, tf.float32, tf.float64, tf.int8, tf.int16, tf.int32, tf.int64, tf.uint8, tf.uint16,
             tf.uint32, tf.uint64, tf.bool, tf.string)
    return {dtype.as_datatype_enum: dtype for dtype in kinds}


# --- REST -----------------------------------------------------------------------------------------

_PREDICT = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?:(?P<verb>\w+)$")
_STATUS = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<meta>/metadata)?$")


def _decode_json_value(value):
    """JSON tensor values → Python values; `{"b64": ...}` → bytes (TF Serving's binary encoding), decoded
    strictly: a character outside the base64 alphabet is an error, not skipped."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        text = value["b64"]
        if not isinstance(text, str):
            raise ServingError(code="INVALID_ARGUMENT", message=f'a {{"b64": ...}} value must be a string, '
                               f"not {type(text).__name__}")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ServingError(code="INVALID_ARGUMENT", message=f'a {{"b64": ...}} value is not base64 ({error}); '
                               "expected A-Z, a-z, 0-9, + and / with = padding, nothing else") from None
    if isinstance(value, list):
        return [_decode_json_value(v) for v in value]
    return value


def _encode_json_value(name: str, value: np.ndarray):
    """numpy output → JSON; outputs named `*_bytes` become `{"b64": ...}`, other strings UTF-8."""
    if value.dtype == object:
        encode = ((lambda b: {"b64": base64.b64encode(b).decode("ascii")}) if name.endswith("_bytes")
                  else (lambda b: b.decode("utf-8", "replace")))
        return np.vectorize(encode, otypes=[object])(value).tolist() if value.ndim else encode(value.item())
    return value.tolist()


def json_to_array(key: str, value, spec) -> np.ndarray:
    """A JSON tensor value as an array of the signature input's dtype (REST numbers carry no dtype)."""
    import tensorflow as tf

    if spec.dtype == tf.string:
        return np.asarray(value, dtype=object)
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ServingError(code="INVALID_ARGUMENT", message=f"input {key}: not a rectangular tensor ({error})") from None
    dtype = np.dtype(spec.dtype.as_numpy_dtype)
    if array.dtype.kind not in "biuf":
        raise ServingError(code="INVALID_ARGUMENT", message=f"input {key}: expected numbers for {spec.dtype.name}")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if array.dtype.kind == "f" or (array.size and (array.min() < info.min or array.max() > info.max)):
            raise ServingError(code="INVALID_ARGUMENT", message=f"input {key}: values must be integers in "
                               f"[{info.min}, {info.max}] for {spec.dtype.name}")
    return array.astype(dtype)


def rest_inputs(body: dict, input_names: list[str]) -> tuple[dict[str, object], bool]:
    """Inputs of a REST predict body (row `instances` or columnar `inputs`) and whether it was row format."""
    if ("instances" in body) == ("inputs" in body):
        raise ServingError(code="INVALID_ARGUMENT", message="JSON object: must have exactly one of 'instances' or 'inputs'")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise ServingError(code="INVALID_ARGUMENT", message="'instances' must be a non-empty list")
        if all(isinstance(i, dict) and "b64" not in i for i in instances):
            names = set(instances[0])
            for index, instance in enumerate(instances):
                if set(instance) != names:
                    raise ServingError(code="INVALID_ARGUMENT", message=f"instances[{index}] names inputs "
                                       f"{sorted(instance)[:8]}, instances[0] {sorted(names)[:8]}: every instance "
                                       "must name the same inputs")
            return {k: [_decode_json_value(i[k]) for i in instances] for k in instances[0]}, True
        if len(input_names) != 1:
            raise ServingError(code="INVALID_ARGUMENT", message="instances without names need a signature with one input")
        return {input_names[0]: _decode_json_value(instances)}, True
    inputs = body["inputs"]
    if isinstance(inputs, dict) and "b64" not in inputs:
        return {k: _decode_json_value(v) for k, v in inputs.items()}, False
    if len(input_names) != 1:
        raise ServingError(code="INVALID_ARGUMENT", message="unnamed 'inputs' need a signature with one input")
    return {input_names[0]: _decode_json_value(inputs)}, False


def rest_outputs(outputs: dict[str, np.ndarray], row_format: bool) -> dict:
    if not row_format:
        if len(outputs) == 1:
            (name, value), = outputs.items()
            return {"outputs": _encode_json_value(name, value)}
        return {"outputs": {k: _encode_json_value(k, v) for k, v in outputs.items()}}
    if len(outputs) == 1:
        (name, value), = outputs.items()
        return {"predictions": _encode_json_value(name, value)}
    batch = len(next(iter(outputs.values())))
    return {"predictions": [{k: _encode_json_value(k, v[i]) for k, v in outputs.items()} for i in range(batch)]}


class _BadRequest(Exception):
    """A REST request the server cannot even read (its framing or size, not its content): reply and close."""

    def __init__(self, message: str, code: str = "INVALID_ARGUMENT"):
        super().__init__(message)
        self.code = code


def _make_handler(servables: Servables, idle_timeout: float):
    import tensorflow as tf

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = idle_timeout  # socket timeout of every read: idle and half-open connections are closed

        def log_message(self, format, *args):  # noqa: A002 (quiet: tests run many requests)
            return

        def _reply(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: ServingError) -> None:
            self._reply(HTTP_STATUS.get(error.code, HTTPStatus.INTERNAL_SERVER_ERROR), {"error": error.message})

        def _body(self) -> bytes:
            """The request body, checked against its Content-Length (missing: empty)."""
            text = self.headers.get("Content-Length")
            if text is None:
                return b""
            if not text.strip().isdigit():
                raise _BadRequest(f"Content-Length must be a non-negative integer, got {text[:40]!r}")
            length, limit = int(text), servables.max_body_bytes
            if length > limit:
                self._drain(length)
                raise _BadRequest(f"request body of {length:,} bytes is over the limit of {limit:,} (what an image "
                                  "at the server's --max-pixels needs as JSON); send encoded images (serve_png) or "
                                  "tiles", "RESOURCE_EXHAUSTED")
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                raise _BadRequest(f"request body shorter than its Content-Length {length} (nothing more came "
                                  f"for {idle_timeout:g} s)") from None
            if len(body) != length:
                raise _BadRequest(f"request body of {len(body)} bytes is shorter than its Content-Length {length}")
            return body

        def _drain(self, length: int) -> None:
            """Reads and drops a refused body (up to `DRAIN_BYTES`, in chunks) so the client reads the answer."""
            if length > DRAIN_BYTES:
                return
            try:
                while length > 0 and (chunk := self.rfile.read(min(length, 1 << 20))):
                    length -= len(chunk)
            except TimeoutError:
                pass

        def _unexpected(self, error: BaseException) -> None:
            """A failure no check foresaw: one escaped line on the console, a 500 with the message, no traceback."""
            text = f"{type(error).__name__}: {str(error)[:300]}"
            print(f"error: {self.command} {console_text(self.path[:200])}: {console_text(text)}", file=sys.stderr,
                  flush=True)
            self._error(ServingError(code="INTERNAL", message=f"internal error: {text}"))

        def do_GET(self):  # noqa: N802
            match = _STATUS.match(self.path)
            try:
                if not match:
                    raise ServingError(code="NOT_FOUND", message=f"Malformed request: GET {self.path}")
                version = int(match["version"]) if match["version"] else None
                if match["meta"]:
                    from google.protobuf import json_format

                    servable, defs = servables.signature_defs(match["name"], version)
                    self._reply(200, {"model_spec": {"name": servable.name, "version": str(servable.version)},
                                      "metadata": {"signature_def": json_format.MessageToDict(
                                          defs, preserving_proto_field_name=True)}})
                    return
                servable = servables.get(match["name"], version)
                self._reply(200, {"model_version_status": [{"version": str(servable.version), "state": "AVAILABLE",
                                                            "status": {"error_code": "OK", "error_message": ""}}]})
            except ServingError as error:
                self._error(error)
            except Exception as error:  # a failure no check foresaw: still an answer, and the server keeps serving
                self._unexpected(error)

        def do_POST(self):  # noqa: N802
            try:
                body = self._body()
            except _BadRequest as error:
                self.close_connection = True  # the stream cannot be trusted for another request
                self._error(ServingError(code=error.code, message=str(error)))
                return
            match = _PREDICT.match(self.path)
            try:
                if not match:
                    raise ServingError(code="NOT_FOUND", message=f"Malformed request: POST {self.path}")
                if match["verb"] != "predict":
                    raise ServingError(code="UNIMPLEMENTED", message=f"the stand-in only implements :predict, not :{match['verb']}")
                try:
                    request = json.loads(body)
                except ValueError as error:
                    raise ServingError(code="INVALID_ARGUMENT", message=f"JSON Parse error: {error}") from None
                if not isinstance(request, dict):
                    raise ServingError(code="INVALID_ARGUMENT", message="JSON Value: not an object")
                version = int(match["version"]) if match["version"] else None
                signature = request.get("signature_name") or "serving_default"
                function = servables.get(match["name"], version).signature(signature)
                specs = function.structured_input_signature[1]
                inputs, row_format = rest_inputs(request, sorted(specs))
                inputs = {k: json_to_array(k, v, specs[k]) if k in specs else v for k, v in inputs.items()}
                _, outputs = servables.predict(match["name"], version, signature, inputs)
                self._reply(200, rest_outputs(outputs, row_format))
            except ServingError as error:
                self._error(error)
            except RecursionError:
                self._error(ServingError(code="INVALID_ARGUMENT", message="JSON Parse error: nested too deeply "
                                         "(a tensor has at most a few levels of lists)"))
            except (ValueError, TypeError, tf.errors.OpError) as error:
                self._error(ServingError(code="INVALID_ARGUMENT", message=str(error)[:1000]))
            except MemoryError:
                self._error(ServingError(code="RESOURCE_EXHAUSTED", message="out of memory for this request"))
            except Exception as error:  # a failure no check foresaw: still an answer, and the server keeps serving
                self._unexpected(error)

    return Handler


class _RestServer(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A connection that failed outside a handler (the client went away mid-answer): one escaped line,
        not socketserver's traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            print(f"error: REST connection from {client_address[0]}: {type(error).__name__}: "
                  f"{console_text(str(error)[:300])}", file=sys.stderr, flush=True)


# --- gRPC -----------------------------------------------------------------------------------------


def _make_servicer(servables: Servables):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

    def requested_version(spec) -> int | None:
        if spec.version_label:
            raise ServingError(code="UNIMPLEMENTED", message="the stand-in does not serve version labels")
        return spec.version.value if spec.HasField("version") else None

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802
            try:
                inputs = {key: servables.array_from_proto(key, proto) for key, proto in request.inputs.items()}
                servable, outputs = servables.predict(request.model_spec.name, requested_version(request.model_spec),
                                                      request.model_spec.signature_name, inputs)
            except ServingError as error:
                failure = error
            except Exception as error:  # a failure no check foresaw: still a status with a message
                print(f"error: gRPC Predict: {type(error).__name__}: {console_text(str(error)[:300])}", file=sys.stderr,
                      flush=True)
                failure = ServingError(code="INTERNAL", message=f"internal error: {type(error).__name__}: "
                                       f"{str(error)[:300]}")
            else:
                failure = None
            if failure is not None:
                context.abort(getattr(grpc.StatusCode, failure.code), failure.message)
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = request.model_spec.signature_name or "serving_default"
            wanted = set(request.output_filter) or set(outputs)
            for key, value in outputs.items():
                if key in wanted:
                    response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

        def GetModelMetadata(self, request, context):  # noqa: N802
            try:
                if list(request.metadata_field) != ["signature_def"]:
                    raise ServingError(code="INVALID_ARGUMENT", message="Metadata field signature_def must be requested alone")
                servable, defs = servables.signature_defs(request.model_spec.name,
                                                          requested_version(request.model_spec))
            except ServingError as error:
                context.abort(getattr(grpc.StatusCode, error.code), error.message)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.metadata["signature_def"].Pack(defs)
            return response

    return Servicer()


def _bind_error(kind: str, host: str, port: int, error: BaseException) -> OSError:
    in_use = isinstance(error, OSError) and error.errno == errno.EADDRINUSE
    reason = "address already in use (is another server running there?)" if in_use else str(error)
    return OSError(f"cannot bind the {kind} port {host}:{port}: {reason}")


class StandIn:
    """Both servers over one set of loaded SavedModels, on `host` (127.0.0.1 by default); port 0 = any free.

    Args:
        root: DIR/serving of an export.
        max_pixels: largest request image (pixels); None: no limit.
        idle_timeout: seconds a REST connection may stay silent (idle keep-alive, or a body shorter than
            its Content-Length) before it is closed.
        workers: gRPC handler threads (REST uses a thread per connection).
    """

    def __init__(self, root: str, *, host: str = DEFAULT_HOST, rest_port: int = 0, grpc_port: int = 0,
                 workers: int = 8, max_pixels: int | None = DEFAULT_MAX_PIXELS, idle_timeout: float = IDLE_TIMEOUT_S):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.servables = Servables(root, max_pixels)
        self.host = host
        try:
            self.http = _RestServer((host, rest_port), _make_handler(self.servables, idle_timeout))
        except OSError as error:
            raise _bind_error("REST", host, rest_port, error) from None
        # No SO_REUSEPORT: a second server on a taken port must fail, not share it.
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES), ("grpc.so_reuseport", 0)]
        self.grpc = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=workers), options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_make_servicer(self.servables), self.grpc)
        try:
            with stderr_captured(replay_on_error=False):  # gRPC's C core logs a failed bind; our error says it
                self.grpc_port = self.grpc.add_insecure_port(f"{host}:{grpc_port}")
        except RuntimeError as error:
            self.http.server_close()
            in_use = "bind" in str(error).lower()
            raise _bind_error("gRPC", host, grpc_port, OSError(errno.EADDRINUSE, str(error)) if in_use else error) from None
        if not self.grpc_port:
            self.http.server_close()
            raise _bind_error("gRPC", host, grpc_port, OSError(errno.EADDRINUSE, "in use"))
        self._thread = threading.Thread(target=self.http.serve_forever, name="standin-rest", daemon=True)

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.http.server_address[1]}"

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def start(self) -> StandIn:
        self.grpc.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.grpc.stop(grace=None)

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.standin", description=__doc__.split("\n\n")[0])
    parser.add_argument("root", metavar="DIR/serving", help="the serving folder written by python -m export")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1)")
    parser.add_argument("--rest-port", type=int, default=8501, help="REST port (TF Serving's default 8501)")
    parser.add_argument("--grpc-port", type=int, default=8500, help="gRPC port (TF Serving's default 8500)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"refuse request images with more pixels (default {DEFAULT_MAX_PIXELS:,}; 0: no limit)")
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT_S,
                        help=f"close REST connections silent for this many seconds (default {IDLE_TIMEOUT_S:g})")
    args = parser.parse_args(argv)
    if args.max_pixels < 0 or args.idle_timeout <= 0:
        parser.error("--max-pixels must be >= 0 and --idle-timeout > 0")
    quiet_tensorflow()
    try:
        server = StandIn(args.root, host=args.host, rest_port=args.rest_port, grpc_port=args.grpc_port,
                         max_pixels=args.max_pixels or None, idle_timeout=args.idle_timeout).start()
    except (OSError, ValueError) as error:
        return fail(error, EXIT_USAGE)
    print(f"serving {', '.join(server.servables.models)}: REST {server.rest_url}  gRPC {server.grpc_target} "
          "(Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
