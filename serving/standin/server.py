"""The stand-in server: the REST and gRPC ports over one set of loaded SavedModels, started and stopped together.

`StandIn(root).start()` (or `with StandIn(root) as server:`) binds 127.0.0.1 unless told otherwise; port
0 takes any free port (`rest_url` and `grpc_target` say which). A port that cannot be bound is an
OSError naming it.
"""

from __future__ import annotations

import concurrent.futures
import errno
import threading

from keras_durbm.cli import stderr_captured
from keras_durbm.images.io import DEFAULT_MAX_PIXELS
from serving.standin.grpc_api import MAX_MESSAGE_BYTES, make_servicer
from serving.standin.registry import Servables
from serving.standin.rest_api import IDLE_TIMEOUT_S, RestServer

DEFAULT_HOST = "127.0.0.1"


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
            self.http = RestServer((host, rest_port), self.servables, idle_timeout)
        except OSError as error:
            raise _bind_error("REST", host, rest_port, error) from None
        # No SO_REUSEPORT: a second server on a taken port must fail, not share it.
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES), ("grpc.so_reuseport", 0)]
        self.grpc = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=workers), options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(make_servicer(self.servables), self.grpc)
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
