"""TF Serving's REST API over the served models: `:predict`, model status and metadata, on HTTP/1.1.

`RestServer` starts a `RestHandler` thread per connection. The handler reads a body only when its
`Content-Length` is sound and within what an image at the pixel limit needs (parsing JSON costs about
43 times the body), answers every failure with TF Serving's HTTP status and `{"error": message}`, and
keeps serving after failures no check foresaw. The JSON tensor coding is in `rest_json`.
"""

from __future__ import annotations

import json
import re
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from keras_durbm.cli import console_text
from serving.errors import ServingError
from serving.standin.registry import Servables
from serving.standin.rest_json import json_to_array, rest_inputs, rest_outputs

MAX_BODY_BYTES = 1 << 30  # a REST body larger than this is refused before it is read, whatever the pixel limit
#: REST body bytes one pixel may take: three float values written out in full (`0.0019607844296842813, `).
#: With `--max-pixels` the body is bounded by what an image at the limit needs, because parsing JSON
#: costs about 43 times the body in memory and time before any pixel can be checked.
JSON_BYTES_PER_PIXEL = 80
BODY_ALLOWANCE = 1 << 20  # beside the pixels: names, brackets, the signature, small inputs
DRAIN_BYTES = 64 << 20  # a refused body up to this size is read and dropped so the client sees the answer
LISTEN_BACKLOG = 128  # pending REST connections the kernel queues (socketserver's default is 5)
IDLE_TIMEOUT_S = 30.0  # a REST connection silent this long (idle, or a body shorter than its length) is closed
HTTP_STATUS = {"NOT_FOUND": HTTPStatus.NOT_FOUND, "INVALID_ARGUMENT": HTTPStatus.BAD_REQUEST,
               "UNIMPLEMENTED": HTTPStatus.NOT_IMPLEMENTED, "INTERNAL": HTTPStatus.INTERNAL_SERVER_ERROR,
               "RESOURCE_EXHAUSTED": HTTPStatus.REQUEST_ENTITY_TOO_LARGE}

_PREDICT = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?:(?P<verb>\w+)$")
_STATUS = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<meta>/metadata)?$")


def max_body_bytes(max_pixels: int | None) -> int:
    """The largest REST body read: what an image at the pixel limit needs as JSON floats, at most 1 GiB."""
    if not max_pixels:
        return MAX_BODY_BYTES
    return min(MAX_BODY_BYTES, BODY_ALLOWANCE + JSON_BYTES_PER_PIXEL * max_pixels)


class _BadRequest(Exception):
    """A REST request the server cannot even read (its framing or size, not its content): reply and close."""

    def __init__(self, message: str, code: str = "INVALID_ARGUMENT"):
        super().__init__(message)
        self.code = code


def _predict_request(body: bytes) -> dict:
    """The JSON object of a predict body."""
    try:
        request = json.loads(body)
    except ValueError as error:
        raise ServingError(code="INVALID_ARGUMENT", message=f"JSON Parse error: {error}") from None
    if not isinstance(request, dict):
        raise ServingError(code="INVALID_ARGUMENT", message="JSON Value: not an object")
    return request


def _predict_failure(error: Exception) -> ServingError | None:
    """What a failed predict answers: TF Serving's code and message; None for a failure no check foresaw."""
    import tensorflow as tf

    if isinstance(error, ServingError):
        return error
    if isinstance(error, RecursionError):
        return ServingError(code="INVALID_ARGUMENT", message="JSON Parse error: nested too deeply "
                            "(a tensor has at most a few levels of lists)")
    if isinstance(error, (ValueError, TypeError, tf.errors.OpError)):
        return ServingError(code="INVALID_ARGUMENT", message=str(error)[:1000])
    if isinstance(error, MemoryError):
        return ServingError(code="RESOURCE_EXHAUSTED", message="out of memory for this request")
    return None


class RestHandler(BaseHTTPRequestHandler):
    """One REST connection of a `RestServer`: its requests in turn (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"
    server: RestServer

    @property
    def timeout(self) -> float:
        """The socket timeout of every read: idle and half-open connections are closed."""
        return self.server.idle_timeout

    def log_message(self, format, *args):  # noqa: A002 (quiet: tests run many requests)
        return

    def do_GET(self):  # noqa: N802
        try:
            self._reply(200, self._model_get())
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
        try:
            self._reply(200, self._predict(body))
        except Exception as error:
            failure = _predict_failure(error)
            if failure is None:  # still an answer, and the server keeps serving
                self._unexpected(error)
            else:
                self._error(failure)

    def _model_get(self) -> dict:
        """The reply to `GET /v1/models/<name>[/versions/N][/metadata]`: the model's status or signatures."""
        match = _STATUS.match(self.path)
        if not match:
            raise ServingError(code="NOT_FOUND", message=f"Malformed request: GET {self.path}")
        version = int(match["version"]) if match["version"] else None
        if match["meta"]:
            return self._metadata(match["name"], version)
        servable = self.server.servables.get(match["name"], version)
        return {"model_version_status": [{"version": str(servable.version), "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    def _metadata(self, name: str, version: int | None) -> dict:
        from google.protobuf import json_format

        servable, defs = self.server.servables.signature_defs(name, version)
        return {"model_spec": {"name": servable.name, "version": str(servable.version)},
                "metadata": {"signature_def": json_format.MessageToDict(defs, preserving_proto_field_name=True)}}

    def _predict(self, body: bytes) -> dict:
        """The reply to `POST /v1/models/<name>[/versions/N]:predict` with this body."""
        match = _PREDICT.match(self.path)
        if not match:
            raise ServingError(code="NOT_FOUND", message=f"Malformed request: POST {self.path}")
        if match["verb"] != "predict":
            raise ServingError(code="UNIMPLEMENTED", message=f"the stand-in only implements :predict, not :{match['verb']}")
        request = _predict_request(body)
        servables = self.server.servables
        version = int(match["version"]) if match["version"] else None
        signature = request.get("signature_name") or "serving_default"
        function = servables.get(match["name"], version).signature(signature)
        specs = function.structured_input_signature[1]
        inputs, row_format = rest_inputs(request, sorted(specs))
        inputs = {k: json_to_array(k, v, specs[k]) if k in specs else v for k, v in inputs.items()}
        _, outputs = servables.predict(match["name"], version, signature, inputs)
        return rest_outputs(outputs, row_format)

    def _body(self) -> bytes:
        """The request body, checked against its Content-Length (missing: empty)."""
        text = self.headers.get("Content-Length")
        if text is None:
            return b""
        if not text.strip().isdigit():
            raise _BadRequest(f"Content-Length must be a non-negative integer, got {text[:40]!r}")
        length, limit = int(text), max_body_bytes(self.server.servables.max_pixels)
        if length > limit:
            self._drain(length)
            raise _BadRequest(f"request body of {length:,} bytes is over the limit of {limit:,} (what an image "
                              "at the server's --max-pixels needs as JSON); send encoded images (serve_png) or "
                              "tiles", "RESOURCE_EXHAUSTED")
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            raise _BadRequest(f"request body shorter than its Content-Length {length} (nothing more came "
                              f"for {self.timeout:g} s)") from None
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

    def _unexpected(self, error: BaseException) -> None:
        """A failure no check foresaw: one escaped line on the console, a 500 with the message, no traceback."""
        text = f"{type(error).__name__}: {str(error)[:300]}"
        print(f"error: {self.command} {console_text(self.path[:200])}: {console_text(text)}", file=sys.stderr,
              flush=True)
        self._error(ServingError(code="INTERNAL", message=f"internal error: {text}"))


class RestServer(ThreadingHTTPServer):
    """The REST port over `servables`: a daemon thread per connection, closed after `idle_timeout` silent seconds."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True

    def __init__(self, address: tuple[str, int], servables: Servables, idle_timeout: float = IDLE_TIMEOUT_S):
        self.servables = servables
        self.idle_timeout = idle_timeout
        super().__init__(address, RestHandler)

    def handle_error(self, request, client_address) -> None:
        """A connection that failed outside a handler (the client went away mid-answer): one escaped line,
        not socketserver's traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            print(f"error: REST connection from {client_address[0]}: {type(error).__name__}: "
                  f"{console_text(str(error)[:300])}", file=sys.stderr, flush=True)
