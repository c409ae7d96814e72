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
import concurrent.futures
import dataclasses
import errno
import json
import os
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from keras_durbm.cli import EXIT_OK, EXIT_USAGE, fail, quiet_tensorflow, stderr_captured
from keras_durbm.errors import ImageTooLargeError
from keras_durbm.image_io import DEFAULT_MAX_PIXELS, check_pixel_limit
from serving.errors import ServingError

DEFAULT_HOST = "127.0.0.1"
MAX_MESSAGE_BYTES = 2**31 - 1  # TF Serving's gRPC limit (kint32max)
MAX_BODY_BYTES = 1 << 30  # a REST body larger than this is refused before it is read
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


def _image_sizes(key: str, value: np.ndarray) -> list[tuple[str, int, int]]:
    """(label, height, width) of the images a request input holds: NHWC tensors, or encoded image bytes
    (sizes read from their headers, nothing decoded)."""
    if value.dtype == object:
        import io

        from PIL import Image, UnidentifiedImageError

        sizes = []
        for i, data in enumerate(np.ravel(value)):
            try:
                with Image.open(io.BytesIO(bytes(data))) as img:
                    width, height = img.size
            except (UnidentifiedImageError, OSError, TypeError):
                continue  # not an image header: the signature's decoder will say so
            sizes.append((f"{key}[{i}]", height, width))
        return sizes
    if value.ndim == 4:
        return [(key, int(value.shape[1]), int(value.shape[2]))]
    return []


class Servables:
    """The highest version of each `<root>/<name>/<version>/saved_model.pb`, loaded once.

    `max_pixels` refuses request images larger than that (the same limit as every reader of the project):
    a whole-image request holds the image, the network's activations and the reply at once.
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
        tensors = {}
        for key, spec in specs.items():
            value = np.asarray(inputs[key], dtype=object if spec.dtype == tf.string else None)
            expected = object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype
            if value.dtype != expected:
                raise ServingError(code="INVALID_ARGUMENT", message=f"Expects arg[{key}] to be {spec.dtype.name} but "
                                   f"{value.dtype} is provided")
            self.check_sizes(key, value)
            tensors[key] = tf.constant(value, spec.dtype)
        try:
            outputs = function(**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
            raise ServingError(code="INVALID_ARGUMENT", message=getattr(error, "message", str(error))) from None
        return servable, {k: v.numpy() for k, v in outputs.items()}

    def check_sizes(self, key: str, value: np.ndarray) -> None:
        """Refuses (INVALID_ARGUMENT) an image of more than `max_pixels` pixels, naming its size and the limit."""
        for label, height, width in _image_sizes(key, value):
            try:
                check_pixel_limit(label, height, width, self.max_pixels)
            except ImageTooLargeError as error:
                raise ServingError(code="INVALID_ARGUMENT", message=f"{error.path}: {error.problem} (the server's "
                                   "--max-pixels); send tiles, e.g. python -m keras_durbm.restore --tile") from None

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


# --- REST -----------------------------------------------------------------------------------------

_PREDICT = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?:(?P<verb>\w+)$")
_STATUS = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<meta>/metadata)?$")


def _decode_json_value(value):
    """JSON tensor values → Python values; `{"b64": ...}` → bytes (TF Serving's binary encoding)."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
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
    """A REST request the server cannot even read (its framing, not its content): reply and close."""


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
                raise _BadRequest(f"Content-Length must be a non-negative integer, got {text!r}")
            length = int(text)
            if length > MAX_BODY_BYTES:
                raise _BadRequest(f"request body of {length:,} bytes is over the limit of {MAX_BODY_BYTES:,}")
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                raise _BadRequest(f"request body shorter than its Content-Length {length} (nothing more came "
                                  f"for {idle_timeout:g} s)") from None
            if len(body) != length:
                raise _BadRequest(f"request body of {len(body)} bytes is shorter than its Content-Length {length}")
            return body

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

        def do_POST(self):  # noqa: N802
            try:
                body = self._body()
            except _BadRequest as error:
                self.close_connection = True  # the stream cannot be trusted for another request
                self._error(ServingError(code="INVALID_ARGUMENT", message=str(error)))
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
            except (ValueError, TypeError, tf.errors.OpError) as error:
                self._error(ServingError(code="INVALID_ARGUMENT", message=str(error)))
            except MemoryError:
                self._error(ServingError(code="RESOURCE_EXHAUSTED", message="out of memory for this request"))

    return Handler


class _RestServer(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


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
                inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
                servable, outputs = servables.predict(request.model_spec.name, requested_version(request.model_spec),
                                                      request.model_spec.signature_name, inputs)
            except ServingError as error:
                context.abort(getattr(grpc.StatusCode, error.code), error.message)
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
