"""What the page does with the model: check a request, read the upload, restore it, write the PNG.

The upload is read with the pixel limit (`read_image`) and restored by the function that
`python -m keras_durbm.restore --format png` calls (`restoration.files.restore_file`, with the tiling
options, into a `.png` name: the upload copied byte for byte when `auto` judges a PNG clean), so the
page's result equals restore's, pixel for pixel. Messages name the file as the user named it, not the
upload's path in the temporary folder.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_durbm.cli import error_text
from keras_durbm.config.tasks import AUTO, get_task
from keras_durbm.errors import DataError, ImageTooLargeError
from keras_durbm.images.io import (
    READABLE,
    ImageExtras,
    ImageInfo,
    is_image_file,
    probe_image,
    read_image,
)
from keras_durbm.restoration.files import restore_file
from keras_durbm.restoration.routing import RoutingConfig, check_classifier
from keras_durbm.restoration.tiling import Progress, TilingConfig, check_head


class RequestError(Exception):
    """A request the page cannot serve: `status` is its HTTP status (4xx), the message names the file."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Request:
    """One image to restore: the file's name as uploaded, the head (None: auto) and whether to chain."""

    name: str
    head: str | None
    chain: bool = False

    @property
    def task(self) -> str:
        return self.head or AUTO


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a restoration did: `restored` or `clean`, the heads that ran, and auto's steps (dicts)."""

    outcome: str
    heads: tuple[str, ...]
    steps: tuple[dict, ...] = ()


def _renamed(text: str, path: str, name: str) -> str:
    return text.replace(path, name)


class Restorer:
    """The loaded model (from `source`) with restore's tiling options and pixel limit."""

    def __init__(self, model, source: str, tiling: TilingConfig = TilingConfig(), *, max_pixels: int | None):
        self.model = model
        self.source = source
        self.tiling = tiling
        self.max_pixels = max_pixels
        self.heads = tuple(model.task_names)
        try:
            self.classes = check_classifier(model, source, otherwise=f"choose a head ({', '.join(self.heads)})")
            self.no_auto = ""
        except KeyError as error:  # none, or one of earlier statistics: the message says how to add one
            self.classes, self.no_auto = (), error_text(error)

    @property
    def has_classifier(self) -> bool:
        return bool(self.classes)

    def describe(self) -> str:
        return (f"model {self.source}: heads {', '.join(self.heads)}; "
                + ("auto (degradation classifier)" if self.has_classifier else "no degradation classifier (no auto)"))

    def info(self) -> dict:
        """What the page needs to draw its controls; the model by its file or folder name only (a page
        on another machine, or a hostile one, has no use for this machine's paths)."""
        return {"model": os.path.basename(os.path.normpath(self.source)), "heads": list(self.heads),
                "classifier": self.has_classifier,
                "classes": list(self.classes), "default_task": AUTO if self.has_classifier else self.heads[0],
                "max_pixels": self.max_pixels, "tiling": dataclasses.asdict(self.tiling)}

    def request(self, name: str, task: str, chain: bool = False) -> Request:
        """Checks the file name and the task before any pixel is read; `RequestError` (400) says what is wrong."""
        if not name:
            raise RequestError(400, "the upload has no file name (name=...)")
        if not is_image_file(name):
            ext = os.path.splitext(name)[1] or "no extension"
            raise RequestError(400, f"{name}: unsupported format ({ext}); expected {READABLE}")
        if task.lower() == AUTO:
            if not self.has_classifier:
                raise RequestError(400, f"{name}: auto needs a usable degradation classifier: {self.no_auto}")
            return Request(name, None, chain)
        if chain:
            raise RequestError(400, f"{name}: chain needs auto (the classifier chooses each next head)")
        try:
            head = check_head(self.model, get_task(task))
        except KeyError as error:
            raise RequestError(400, f"{name}: {error_text(error)}") from None
        return Request(name, head, False)

    def probe(self, path: str, name: str) -> ImageInfo:
        """`probe_image(path)`: the size from the header, before any pixel is decoded; `RequestError` as
        `read` (a file whose size cannot be read from its header is refused)."""
        return self._checked(probe_image, path, name)

    def read(self, path: str, name: str) -> tuple[np.ndarray, ImageExtras]:
        """`read_image(path)` with the pixel limit; `RequestError` naming `name` for a corrupt, unsupported
        or too large file (413 for the pixel limit)."""
        return self._checked(read_image, path, name)

    def _checked(self, reader, path: str, name: str):
        try:
            return reader(path, max_pixels=self.max_pixels)
        except DataError as error:
            text = f"{name}: {_renamed(error.problem, path, name)}"
            if error.expected:
                text += f"; expected {error.expected}"
            raise RequestError(413 if isinstance(error, ImageTooLargeError) else 400, text) from None
        except (ValueError, TypeError, OSError) as error:
            raise RequestError(400, f"{name}: {_renamed(error_text(error), path, name)}") from None

    def run(self, request: Request, image: np.ndarray, extras: ImageExtras, upload: str, result: str,
            progress: Progress | None = None) -> Outcome:
        """Restores `image` (read from `upload`) as `request` says and writes the PNG `result`."""
        done = restore_file(self.model, upload, result, image=(image, extras), tiling=self.tiling, progress=progress,
                            **({"task": get_task(request.head)} if request.head is not None
                               else {"routing": RoutingConfig(chain=request.chain)}))
        steps = tuple({**step.to_dict(), "text": step.describe()} for step in done.routed.steps) if done.routed else ()
        return Outcome(done.outcome, done.heads, steps)

    def failure_text(self, name: str, error: BaseException, upload: str) -> str:
        """The message of a restoration that failed while running (as restore words it)."""
        if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
            return f"{name}: out of memory ({type(error).__name__}); restart the app with a smaller --tile or --tile-above"
        return f"{name}: {_renamed(error_text(error), upload, name)}"
