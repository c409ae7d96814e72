"""A local stand-in for TensorFlow Serving over exported SavedModels: REST predict and gRPC Predict.

    python -m serving.standin DIR/serving [--rest-port 8501] [--grpc-port 8500] [--host 127.0.0.1]
        [--max-pixels P] [--idle-timeout S]

Loads the highest version of every `<name>/<version>/` folder, prints one line naming the models and
both addresses, and serves until Ctrl-C. TensorFlow is imported only after the arguments are checked,
so `--help` answers at once.

Exit status: 0 when stopped by Ctrl-C; 2 on bad arguments, a folder without models or a port that
cannot be bound (one `error:` line).
"""

from __future__ import annotations

import argparse
import threading

from keras_durbm.cli import EXIT_OK, EXIT_USAGE, fail, quiet_tensorflow
from keras_durbm.images.io import DEFAULT_MAX_PIXELS
from serving.standin.rest_api import IDLE_TIMEOUT_S
from serving.standin.server import DEFAULT_HOST, StandIn


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
