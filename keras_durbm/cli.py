"""What every command-line tool of the project shares: a quiet TensorFlow start and plain error messages.

CLIs parse their arguments before importing TensorFlow (so `--help` answers at once), then call
`quiet_tensorflow()`: TensorFlow's C++ start-up lines (oneDNN, CUDA stub, CPU features), which
`TF_CPP_MIN_LOG_LEVEL` does not silence because they are written before its logging starts, are kept
off the terminal. A user who sets `TF_CPP_MIN_LOG_LEVEL` gets TensorFlow's own behaviour instead.
Exit codes: 0 success, 1 the work failed (some images, a NaN loss, a full disk), 2 bad arguments or input
data, 128+N stopped by signal N (130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: The status of a command stopped by Ctrl-C (SIGINT): 128 + 2, as a shell reports it.
EXIT_INTERRUPTED = 128 + signal.SIGINT


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors also say how to name a file that begins with `-` (argparse takes
    `-dash.png` for an unknown option): `./-dash.png`, or `--` before the file names."""

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None):
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        dashed = [a for a in getattr(self, "_given", ()) if a.startswith("-") and a != "-" and os.path.lexists(a)]
        if dashed:
            message += (f" ({dashed[0]} is a file whose name begins with '-': write ./{dashed[0]}, or put -- "
                        "before the file names)")
        super().error(message)


@contextlib.contextmanager
def stderr_captured(replay_on_error: bool = True):
    """Sends file descriptor 2 (C libraries' stderr too) to a temporary file; replays it if the block raises
    (unless `replay_on_error` is False: the caller reports the failure itself)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            if replay_on_error:
                capture.seek(0)
                os.write(2, capture.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


_OURS = "KERAS_DURBM_SET_TF_LOG_LEVEL"  # marks a TF_CPP_MIN_LOG_LEVEL we set, so child processes stay quiet too


class _OwnStepRetracing(logging.Filter):
    """Drops tf.function's "frequent retracing" warning about the trainer's step functions and the cached
    per-head runners of inference: one is traced per head (and phase) by design, each once, and the warning
    counts every closure of one definition together (validation during training traces five)."""

    _OWN = ("Trainer._make_step.<locals>", "cached_runner.<locals>")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("retracing" in text and any(own in text for own in self._OWN))


class _LibraryDeprecations(logging.Filter):
    """Drops TensorFlow's "… is deprecated and will be removed" notices about calls made inside installed
    libraries (tf2onnx's and the TFLite converter's TF1 APIs): nothing a user of these tools can change. A
    deprecated call from this project's own code is still shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("is deprecated and will be removed" in text
                    and text.startswith("From ") and ("site-packages" in text or "dist-packages" in text))


def quiet_tensorflow() -> None:
    """Imports TensorFlow (and Keras) with the C++ start-up noise hidden, unless the user set TF_CPP_MIN_LOG_LEVEL."""
    logger = logging.getLogger("tensorflow")
    for kind in (_OwnStepRetracing, _LibraryDeprecations):
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
    if "tensorflow" in sys.modules:
        return
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ and _OURS not in os.environ:
        import keras  # noqa: F401  (the user chose TensorFlow's log level)
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ[_OURS] = "1"
    with stderr_captured():
        import keras  # noqa: F401  (imports TensorFlow, the backend)
        import tensorflow as tf

        # Enumerating the physical devices loads the CUDA platform (a "failed call to cuInit" line on a
        # machine without a GPU) while stderr is still captured; logical devices can still be configured.
        tf.config.list_physical_devices("GPU")


def error_text(error: BaseException) -> str:
    """The message of an error as a user should read it (KeyError's repr quotes stripped)."""
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return str(error)


#: Control characters (C0, DEL, C1) and invisible bidirectional marks, written as escapes by `console_text`.
_CONSOLE_ESCAPES = {c: ascii(chr(c))[1:-1] for c in (*range(0x20), *range(0x7F, 0xA0), 0x200E, 0x200F,
                                                        *range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def console_text(text: object) -> str:
    """`text` (a file name, a URL: anything a client sent) safe on one console line: control characters
    are written as escapes (`\\n`, `\\x1b`), so an upload's name cannot fake a log line or drive the terminal."""
    return str(text).translate(_CONSOLE_ESCAPES)


def interrupted(done: str = "") -> int:
    """Prints the one line a command stopped by Ctrl-C ends with (`done`: what was finished) and returns 130."""
    print(f"error: interrupted (Ctrl-C){': ' + done if done else ''}", file=sys.stderr)
    return EXIT_INTERRUPTED


def fail(error: BaseException | str, code: int = EXIT_USAGE) -> int:
    """Prints `error: <message>` to stderr and returns the exit code (no traceback)."""
    print(f"error: {error if isinstance(error, str) else error_text(error)}", file=sys.stderr)
    return code
