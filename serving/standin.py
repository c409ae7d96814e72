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

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import argparse
import base64
import concurrent.futures
import dataclasses
import json
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from serving.errors import ServingError

DEFAULT_HOST = "127.0.0.1"
MAX_MESSAGE_BYTES = 2**31 - 1  # TF Serving's gRPC limit (kint32max)
HTTP_STATUS = {"NOT_FOUND": HTTPStatus.NOT_FOUND, "INVALID_ARGUMENT": HTTPStatus.BAD_REQUEST,
               "UNIMPLEMENTED": HTTPStatus.NOT_IMPLEMENTED, "INTERNAL": HTTPStatus.INTERNAL_SERVER_ERROR}


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


class Servables:
    """The highest version of each `<root>/<name>/<version>/saved_model.pb`, loaded once."""

    def __init__(self, root: str):
        import tensorflow as tf

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
            tensors[key] = tf.constant(value, spec.dtype)
        try:
            outputs = function(**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
            raise ServingError(code="INVALID_ARGUMENT", message=getattr(error, "message", str(error))) from None
        return servable, {k: v.numpy() for k, v in outputs.items()}

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


def _make_handler(servables: Servables):
    import tensorflow as tf

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 (quiet: tests run many requests)
            return

        def _reply(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: ServingError) -> None:
            self._reply(HTTP_STATUS.get(error.code, HTTPStatus.INTERNAL_SERVER_ERROR), {"error": error.message})

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
            match = _PREDICT.match(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
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

    return Handler


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


class StandIn:
    """Both servers over one set of loaded SavedModels, on `host` (127.0.0.1 by default); port 0 = any free."""

    def __init__(self, root: str, *, host: str = DEFAULT_HOST, rest_port: int = 0, grpc_port: int = 0,
                 workers: int = 8):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.servables = Servables(root)
        self.host = host
        self.http = ThreadingHTTPServer((host, rest_port), _make_handler(self.servables))
        self.http.daemon_threads = True
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        self.grpc = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=workers), options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_make_servicer(self.servables), self.grpc)
        self.grpc_port = self.grpc.add_insecure_port(f"{host}:{grpc_port}")
        if not self.grpc_port:
            raise OSError(f"cannot bind the gRPC port {host}:{grpc_port}")
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
    args = parser.parse_args(argv)
    try:
        server = StandIn(args.root, host=args.host, rest_port=args.rest_port, grpc_port=args.grpc_port).start()
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"serving {', '.join(server.servables.models)}: REST {server.rest_url}  gRPC {server.grpc_target} "
          "(Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
