"""Serves a page that restores photos in the browser: drop images, see before/after, download the PNG.

    python -m keras_durbm.app [--model M] [--port 7860] [--host 127.0.0.1] [--tile N] [--overlap N]
        [--tile-above P] [--max-pixels P] [--max-upload-mb MB] [--max-queue N] [--max-queue-pixels P]

Open the printed URL. Each dropped image is restored with the chosen head, or with `auto` (a model with
a degradation classifier: the page shows the predicted degradation and its probabilities; `chain` for
mixed degradations), by the same code as `python -m keras_durbm.restore --format png`, so the PNG the
page downloads equals, pixel for pixel, the one restore writes with the same tiling flags (16-bit and
alpha kept). Images are restored one at a time; the others wait in a queue. The server listens on
127.0.0.1 only unless `--host` says otherwise (`--port 0`: any free port), writes nothing outside its
own temporary folder, and removes that folder when it stops (Ctrl-C or SIGTERM). docs/app.md.

Exit status: 0 when stopped by Ctrl-C or SIGTERM; 2 when it could not start (bad arguments, a model that
cannot be loaded, a port in use); 1 when the server failed while serving.
"""

from __future__ import annotations

import argparse
import signal
import sys

from keras_durbm.app.jobs import DEFAULT_QUEUE_PIXELS
from keras_durbm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error_text, quiet_tensorflow
from keras_durbm.config.engine import add_arguments, from_arguments
from keras_durbm.config.model_file import STARTER
from keras_durbm.images.io import DEFAULT_MAX_PIXELS
from keras_durbm.restoration.tiling import TilingConfig

DEFAULT_PORT = 7860
DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_UPLOAD_MB = 256
DEFAULT_MAX_QUEUE = 16
_TILING = "tiling."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m keras_durbm.app", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=STARTER,
                        help="a .keras file, a training run folder, or starter (default: the pretrained model "
                             "that ships)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT}; "
                        "0: any free port)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}: this "
                        "machine only; 0.0.0.0 lets other machines in)")
    add_arguments(parser.add_argument_group("tiling (as restore's)"), TilingConfig, dest_prefix=_TILING)
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"refuse images with more pixels (default {DEFAULT_MAX_PIXELS:,}; 0: no limit)")
    parser.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
                        help=f"refuse uploads larger than this (default {DEFAULT_MAX_UPLOAD_MB} MB)")
    parser.add_argument("--max-queue", type=int, default=DEFAULT_MAX_QUEUE,
                        help=f"refuse new images while this many wait (default {DEFAULT_MAX_QUEUE})")
    parser.add_argument("--max-queue-pixels", type=int, default=DEFAULT_QUEUE_PIXELS,
                        help="refuse a new image (from its header, before decoding) when the images being read, "
                        f"waiting and restored would hold more pixels (default {DEFAULT_QUEUE_PIXELS:,}; 0: no "
                        "limit; an image alone is always taken)")
    return parser


class _Stop(Exception):
    """SIGTERM, turned into an exception in the main thread so the server stops and cleans up."""


def _on_sigterm(signum, frame):
    raise _Stop()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    if args.max_pixels < 0:
        parser.error(f"--max-pixels must be at least 0, got {args.max_pixels}")
    if args.max_upload_mb <= 0:
        parser.error(f"--max-upload-mb must be above 0, got {args.max_upload_mb}")
    if args.max_queue < 1:
        parser.error(f"--max-queue must be at least 1, got {args.max_queue}")
    if args.max_queue_pixels < 0:
        parser.error(f"--max-queue-pixels must be at least 0, got {args.max_queue_pixels}")

    from keras_durbm.app.server import AppServer, bind_error_text
    from keras_durbm.config.model_file import read_model_config

    signal.signal(signal.SIGTERM, _on_sigterm)
    server = None
    try:
        try:
            tiling = from_arguments(TilingConfig(), args, dest_prefix=_TILING)
            read_model_config(args.model)  # a wrong path or file fails here, before TensorFlow is imported
            try:
                server = AppServer((args.host, args.port), max_upload_bytes=int(args.max_upload_mb * 2**20),
                                   max_queue=args.max_queue, max_queue_pixels=args.max_queue_pixels or None)
            except OSError as error:
                raise OSError(bind_error_text(args.host, args.port, error)) from None
            print(f"loading {args.model} ...", flush=True)
            quiet_tensorflow()
            from keras_durbm.app.restoration import Restorer
            from keras_durbm.models import load_durbm  # heavy (Keras): after the arguments are checked

            restorer = Restorer(load_durbm(args.model), args.model, tiling, max_pixels=args.max_pixels or None)
        except (KeyError, ValueError, OSError) as error:
            print(f"error: {error_text(error)}", file=sys.stderr)
            return EXIT_USAGE
        server.start(restorer)
        print(f"{restorer.describe()}\ntemporary files in {server.folder} (removed on exit)\n"
              f"serving at {server.url} (Ctrl-C to stop)", flush=True)
        server.serve_forever()
    except (KeyboardInterrupt, _Stop):
        print("\nstopping", flush=True)
        return EXIT_OK
    except Exception as error:  # the server's own failure: said without a traceback
        print(f"error: the server failed: {type(error).__name__}: {error_text(error)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if server is not None:
            server.close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
