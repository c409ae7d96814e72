"""Restores images through TensorFlow Serving (or the stand-in), over REST or gRPC.

    python -m serving.client (--rest http://127.0.0.1:8501 | --grpc 127.0.0.1:8500) --model haze IN... -o OUT

IN are image files or folders; each result goes to OUT/<input name> (as `keras_durbm.restore` writes
it: grayscale and alpha kept; 16-bit inputs are sent as 8 bits). Uses the `serve_png` signature
(`--signature png`, the default: encoded bytes both ways) or `serve_uint8`. Before any image is sent,
the model's metadata is fetched, so a refused connection, an unknown model or a missing signature is
reported once. Each request has a timeout and is retried a bounded number of times on transient
failures (connection refused or reset, UNAVAILABLE, HTTP 502/503/504, timeouts). The gRPC channel
raises the message limits (the Python default refuses replies over 4 MB).

Exit status: 0 all restored; 1 some images failed or the server could not be used; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

import numpy as np

from export import signature_names as sig
from keras_durbm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, quiet_tensorflow
from keras_durbm.errors import ImageTooLargeError, UsageError
from keras_durbm.images.batches import collect_inputs, output_paths, prepare_output_dir
from keras_durbm.images.io import DEFAULT_MAX_PIXELS, read_image, write_image
from keras_durbm.images.pixels import decode_png, encode_png, to_float, to_uint8
from keras_durbm.restoration.routing import Classification
from serving.errors import ServerUnusable, ServingError

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 2
MAX_MESSAGE_BYTES = 2**31 - 1
SIGNATURE_CHOICES = {"png": sig.SERVE_PNG, "uint8": sig.SERVE_UINT8}
HTTP_CODES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 413: "RESOURCE_EXHAUSTED", 501: "UNIMPLEMENTED",
              500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def _backoff(attempt: int) -> float:
    return min(0.25 * 2**attempt, 4.0)


def _error_text(error: urllib.error.HTTPError) -> str:
    """TF Serving's `{"error": ...}` message of a failed REST call, else the HTTP reason."""
    try:
        body = error.read().decode("utf-8", "replace")
    except OSError:
        body = ""
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body.strip()[:300] or str(error.reason)


class RestClient:
    """TF Serving's REST API: `POST {url}/v1/models/{model}[/versions/N]:predict` with JSON bodies."""

    def __init__(self, url: str, model: str, *, version: int | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                 retries: int = DEFAULT_RETRIES):
        self.url, self.model, self.version = url.rstrip("/"), model, version
        self.timeout, self.retries = timeout, max(0, retries)
        self.base = f"{self.url}/v1/models/{model}" + (f"/versions/{version}" if version is not None else "")

    def __str__(self) -> str:
        return f"REST {self.url}"

    def _call(self, path: str, payload: dict | None = None) -> dict:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.base + path, data=data, method="GET" if data is None else "POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                text = _error_text(error)
                if error.code in (502, 503, 504) and attempt < self.retries:
                    time.sleep(_backoff(attempt))
                    continue
                code = HTTP_CODES.get(error.code, "UNKNOWN")
                if error.code == 404:
                    raise ServerUnusable(f"model {self.model!r} not found on {self}: {text}", code) from None
                if error.code == 413:
                    raise ServingError(f"{self} refused the request as too large: {text}", code) from None
                raise ServingError(f"{self} answered HTTP {error.code}: {text}", code) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                reason = getattr(error, "reason", error)
                timed_out = isinstance(error, TimeoutError) or isinstance(reason, TimeoutError)
                if attempt < self.retries:
                    time.sleep(_backoff(attempt))
                    continue
                if timed_out:  # the server is there but slow: this request fails, the next may not
                    raise ServingError(f"{self} did not answer within {self.timeout:g} s (tried {attempt + 1} "
                                       "time(s)); raise --timeout for large images", "DEADLINE_EXCEEDED") from None
                if isinstance(reason, ConnectionRefusedError):
                    raise ServerUnusable(f"cannot reach {self} ({reason}; tried {attempt + 1} time(s)): "
                                         "is the server running?", "UNAVAILABLE") from None
                raise ServingError(f"{self}: the connection failed ({reason}; tried {attempt + 1} time(s))",
                                   "UNAVAILABLE") from None
        raise AssertionError("unreachable")

    def signatures(self) -> dict[str, set[str]]:
        """The served model's signatures and the names of their outputs (from its metadata)."""
        defs = self._call("/metadata").get("metadata", {}).get("signature_def", {})
        defs = defs.get("signature_def") or defs.get("signatureDef") or {}
        return {name: set(body.get("outputs") or {}) if isinstance(body, dict) else set()
                for name, body in defs.items()}

    def predict(self, signature: str, inputs: dict[str, object], output: str) -> object:
        """The `output` of a predict call (see `predict_outputs`)."""
        return self.predict_outputs(signature, inputs, (output,))[output]

    def predict_outputs(self, signature: str, inputs: dict[str, object], outputs: Sequence[str]) -> dict:
        """Columnar predict of `outputs`; numpy arrays go as nested lists, bytes as `{"b64": ...}` (and back)."""
        def encode(value):
            if isinstance(value, bytes):
                return {"b64": base64.b64encode(value).decode("ascii")}
            if isinstance(value, (list, tuple)):
                return [encode(v) for v in value]
            return np.asarray(value).tolist()

        def decode(value):
            if isinstance(value, dict) and "b64" in value:
                return base64.b64decode(value["b64"])
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return [decode(v) for v in value]
            return value

        reply = self._call(":predict", {"signature_name": signature,
                                        "inputs": {k: encode(v) for k, v in inputs.items()}})
        if "outputs" not in reply:
            raise ServingError(f"{self}: unexpected reply without outputs: {str(reply)[:200]}")
        values = reply["outputs"]
        # TF Serving omits the name when a signature has a single output.
        if not (isinstance(values, dict) and "b64" not in values):
            values = {outputs[0]: values} if len(outputs) == 1 else {}
        missing = [name for name in outputs if name not in values]
        if missing:
            raise ServingError(f"{self}: the reply has outputs {', '.join(values) or 'none named'}, not "
                               f"{', '.join(map(repr, missing))}")
        return {name: decode(values[name]) for name in outputs}


class GrpcClient:
    """TF Serving's gRPC `PredictionService`, with raised message limits, deadlines and retries."""

    RETRY = ("UNAVAILABLE", "DEADLINE_EXCEEDED")

    def __init__(self, target: str, model: str, *, version: int | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                 retries: int = DEFAULT_RETRIES, max_message_bytes: int = MAX_MESSAGE_BYTES):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.target, self.model, self.version = target, model, version
        self.timeout, self.retries = timeout, max(0, retries)
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", max_message_bytes),
                                                              ("grpc.max_send_message_length", max_message_bytes)])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def __str__(self) -> str:
        return f"gRPC {self.target}"

    def _spec(self, request, signature: str | None = None) -> None:
        request.model_spec.name = self.model
        if self.version is not None:
            request.model_spec.version.value = self.version
        if signature:
            request.model_spec.signature_name = signature

    def _call(self, method, request):
        import grpc

        for attempt in range(self.retries + 1):
            try:
                return method(request, timeout=self.timeout)
            except grpc.RpcError as error:
                code, text = error.code().name, error.details()
                if code in self.RETRY and attempt < self.retries:
                    time.sleep(_backoff(attempt))
                    continue
                if code == "UNAVAILABLE":
                    raise ServerUnusable(f"cannot reach {self} ({text}; tried {attempt + 1} time(s)): "
                                         "is the server running?", code) from None
                if code == "DEADLINE_EXCEEDED":
                    raise ServingError(f"{self} did not answer within {self.timeout:g} s "
                                       f"(tried {attempt + 1} time(s)); raise --timeout for large images", code) from None
                if code == "NOT_FOUND":
                    raise ServerUnusable(f"model {self.model!r} not found on {self}: {text}", code) from None
                if code == "RESOURCE_EXHAUSTED":
                    raise ServingError(f"{self}: message too large ({text}); send a smaller image or raise "
                                       "the gRPC message limits", code) from None
                raise ServingError(f"{self} refused the request ({code}): {text}", code) from None
        raise AssertionError("unreachable")

    def signatures(self) -> dict[str, set[str]]:
        """The served model's signatures and the names of their outputs (from its metadata)."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request)
        response = self._call(self.stub.GetModelMetadata, request)
        defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(defs)
        return {name: set(body.outputs) for name, body in defs.signature_def.items()}

    def predict(self, signature: str, inputs: dict[str, object], output: str) -> object:
        """The `output` of a predict call (see `predict_outputs`)."""
        return self.predict_outputs(signature, inputs, (output,))[output]

    def predict_outputs(self, signature: str, inputs: dict[str, object], outputs: Sequence[str]) -> dict:
        """Predict of `outputs` (asked for with `output_filter`); string tensors come back as lists of bytes."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest(output_filter=list(outputs))
        self._spec(request, signature)
        for key, value in inputs.items():
            value = np.array(value, dtype=object) if isinstance(value, list) else np.asarray(value)
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        response = self._call(self.stub.Predict, request)
        missing = [name for name in outputs if name not in response.outputs]
        if missing:
            raise ServingError(f"{self}: the reply has outputs {', '.join(response.outputs)}, not "
                               f"{', '.join(map(repr, missing))}")
        values = {name: tf.make_ndarray(response.outputs[name]) for name in outputs}
        return {name: list(v) if v.dtype == object else v for name, v in values.items()}

    def close(self) -> None:
        self.channel.close()


Client = RestClient | GrpcClient


def check_signature(client: Client, signature: str) -> dict[str, set[str]]:
    """The model's signatures and their outputs; `ServerUnusable` unless the server answers and the model
    has `signature`."""
    available = client.signatures()
    if signature not in available:
        raise ServerUnusable(f"model {client.model!r} on {client} has no signature {signature!r}; it has: "
                             f"{', '.join(sorted(available)) or 'none'} (was it exported by python -m export?)")
    return available


#: What an `auto` model (export's blind-restoration model) returns beside the image.
ROUTED_OUTPUTS = (sig.OUTPUT_TASK, sig.OUTPUT_PROBABILITIES, sig.OUTPUT_CLASSES)


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def restore_uint8(client: Client, pixels: np.ndarray, signature: str = sig.SERVE_PNG) -> np.ndarray:
    """Restores one uint8 RGB (H, W, 3) image through `signature` (`serve_png` or `serve_uint8`)."""
    return route_uint8(client, pixels, signature, routed=False)[0]


def route_uint8(client: Client, pixels: np.ndarray, signature: str = sig.SERVE_PNG, *,
                routed: bool = True) -> tuple[np.ndarray, str | None, dict[str, float]]:
    """Restores one uint8 RGB image; with `routed` (an `auto` model) also returns the chosen task and
    the class probabilities (else None and {})."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    extras = ROUTED_OUTPUTS if routed else ()
    if signature == sig.SERVE_UINT8:
        out = client.predict_outputs(signature, {sig.INPUT_UINT8: pixels[None]}, (sig.OUTPUT_UINT8, *extras))
        restored = np.asarray(out[sig.OUTPUT_UINT8]).astype(np.uint8)[0]
    elif signature == sig.SERVE_PNG:
        out = client.predict_outputs(signature, {sig.INPUT_BYTES: [encode_png(pixels)]}, (sig.OUTPUT_BYTES, *extras))
        restored = decode_png(out[sig.OUTPUT_BYTES][0])
    else:
        raise ValueError(f"restore_uint8 uses serve_png or serve_uint8, not {signature!r}")
    if not routed:
        return restored, None, {}
    classes = [_text(c) for c in np.asarray(out[sig.OUTPUT_CLASSES], dtype=object).reshape(-1)]
    probabilities = [float(p) for p in np.asarray(out[sig.OUTPUT_PROBABILITIES], np.float64).reshape(-1)]
    task = _text(np.asarray(out[sig.OUTPUT_TASK], dtype=object).reshape(-1)[0])
    return restored, task, dict(zip(classes, probabilities, strict=True))


def restore_file(client: Client, source: str, target: str, *, signature: str = sig.SERVE_PNG,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, routed: bool = False) -> str | None:
    """Reads `source`, restores it through the server and writes `target` as `keras_durbm.restore` would;
    returns the `auto` model's description of its choice (`haze 0.97 (rain 0.02, clean 0.01)`) with `routed`.

    Files over `max_pixels` are refused from their header (a server restores whole images: use
    `python -m keras_durbm.restore --tile` for larger ones)."""
    try:
        image, extras = read_image(source, max_pixels=max_pixels)
    except ImageTooLargeError as error:
        raise ImageTooLargeError(error.path, error.problem, "a smaller image: a server restores whole images, so "
                                 "restore this one in tiles with python -m keras_durbm.restore --tile, or raise "
                                 "--max-pixels if the server has the memory") from None
    restored, task, probabilities = route_uint8(client, to_uint8(image), signature, routed=routed)
    if restored.shape != image.shape:
        raise ServingError(f"{source}: the server returned shape {restored.shape} for an image of {image.shape}")
    write_image(target, to_float(restored), extras)
    if not routed:
        return None
    if task not in probabilities:
        raise ServingError(f"{source}: the server chose {task!r}, which is not one of its classes {list(probabilities)}")
    return Classification(probabilities).describe(shown=len(probabilities))  # the graph chose the most probable


def make_client(args) -> Client:
    kwargs = {"version": args.version, "timeout": args.timeout, "retries": args.retries}
    if args.rest:
        return RestClient(args.rest, args.model, **kwargs)
    return GrpcClient(args.grpc, args.model, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serving.client", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--rest", metavar="URL", help="REST endpoint, e.g. http://127.0.0.1:8501")
    where.add_argument("--grpc", metavar="HOST:PORT", help="gRPC endpoint, e.g. 127.0.0.1:8500")
    parser.add_argument("--model", required=True, help="served model name (one per head, e.g. haze; auto: the "
                        "degradation classifier picks the head, and the chosen task is printed)")
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders of images")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created)")
    parser.add_argument("--signature", choices=tuple(SIGNATURE_CHOICES), default="png",
                        help="png: encoded bytes both ways (default); uint8: pixel tensors")
    parser.add_argument("--version", type=int, help="model version (default: the server's latest)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per request (default 60)")
    parser.add_argument("--retries", type=int, default=DEFAULT_RETRIES,
                        help="retries of a request after a transient failure (default 2)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"refuse image files with more pixels (default {DEFAULT_MAX_PIXELS:,}; 0: no limit)")
    parser.add_argument("--overwrite", action="store_true", help="replace files that already exist in OUT")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.retries < 0 or args.max_pixels < 0:
        parser.error("--timeout must be positive and --retries, --max-pixels non-negative")
    try:
        inputs = collect_inputs(args.inputs)
        outputs = output_paths(inputs, args.output, None, overwrite=args.overwrite)
        if os.path.exists(args.output) and not os.path.isdir(args.output):
            raise UsageError(f"output {args.output} exists and is not a folder")
    except UsageError as error:
        return fail(error, EXIT_USAGE)
    if args.grpc:
        quiet_tensorflow()  # the gRPC protos are TensorFlow's
    signature = SIGNATURE_CHOICES[args.signature]
    client = make_client(args)
    try:
        available = check_signature(client, signature)  # before OUT is created: an unusable server writes nothing
    except ServingError as error:
        return fail(error, EXIT_FAILED)
    routed = sig.OUTPUT_TASK in available[signature]  # an auto model: its classifier chose the head
    try:
        prepare_output_dir(args.output)
    except UsageError as error:
        return fail(error, EXIT_USAGE)

    from tqdm import tqdm

    failed = []
    with tqdm(total=len(inputs), desc=f"{args.model} via {client}", unit="img", file=sys.stderr,
              disable=args.no_progress) as bar:
        for source, target in zip(inputs, outputs, strict=True):
            try:
                chosen = restore_file(client, source, target, signature=signature,
                                      max_pixels=args.max_pixels or None, routed=routed)
                if chosen:
                    bar.write(f"{source}: task {chosen}")
            except ServerUnusable as error:
                print(f"error: {error}", file=sys.stderr)
                return EXIT_FAILED
            except (ServingError, ValueError, OSError) as error:
                failed.append(source)
                text = str(error)
                bar.write(f"error: {text if text.startswith(source) else f'{source}: {text}'}", file=sys.stderr)
            bar.update(1)
    done = len(inputs) - len(failed)
    print(f"restored {done} of {len(inputs)} image(s) into {args.output} via {client}"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
