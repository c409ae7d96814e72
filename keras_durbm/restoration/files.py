"""Restoring one image file into another: read, run a head or route, write atomically, copy a clean image as is.

The one home of "restore this file" for the `restore` command and the page (`keras_durbm.app`): both
call `restore_file`, so the page's result equals restore's, pixel for pixel. With a head (`task`) the
image goes through `tiling.restore`; without one (`routing`) through `routing.route`, and an image
judged clean, or left unchanged because the classifier is not sure enough (do no harm), is written
unchanged: the very source file is copied when the destination has its extension (same format, no
re-encoding), otherwise its pixels are written in the destination's format.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_durbm.atomic_files import copy_file_atomic
from keras_durbm.config.tasks import Task
from keras_durbm.images.io import DEFAULT_MAX_PIXELS, ImageExtras, read_image, write_image
from keras_durbm.restoration.routing import CLEAN_STOP, KEPT, RESTORED, Routed, RoutingConfig, route
from keras_durbm.restoration.tiling import Progress, TilingConfig, restore


@dataclasses.dataclass(frozen=True)
class FileRestored:
    """What `restore_file` did: `outcome` (`restored`, `clean`, or `kept`: below the confidence threshold,
    written unchanged), the heads that ran, and with routing its classification and steps (`routed`)."""

    outcome: str
    heads: tuple[str, ...]
    routed: Routed | None = None


def same_format(source: str, destination: str) -> bool:
    """Whether `destination` has `source`'s extension (case aside), so the file itself can stand for it."""
    return os.path.splitext(source)[1].lower() == os.path.splitext(destination)[1].lower()


def restore_file(model, source: str, destination: str, *, task: Task | None = None,
                 routing: RoutingConfig | None = None, tiling: TilingConfig = TilingConfig(),
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, image: tuple[np.ndarray, ImageExtras] | None = None,
                 progress: Progress | None = None) -> FileRestored:
    """Restores the image file `source` into `destination` with the head of `task`, or as `routing` decides.

    Exactly one of `task` and `routing` is given. `image` is `source` already read (pixels and extras),
    for a caller that read it earlier; otherwise it is read here with `max_pixels`. `destination` is
    written atomically (complete or absent); below the routing threshold without a fallback head
    the image is written unchanged (`kept`). Errors of reading, restoring and writing propagate.
    """
    if (task is None) == (routing is None):
        raise ValueError("restore_file needs a head (task) or a routing config, not both")
    pixels, extras = image if image is not None else read_image(source, max_pixels=max_pixels)
    if task is not None:
        write_image(destination, restore(model, pixels, task, **dataclasses.asdict(tiling), progress=progress), extras)
        return FileRestored(RESTORED, (task.name,))
    routed = route(model, pixels, routing, tiling, progress=progress)
    if routed.outcome in (CLEAN_STOP, KEPT) and same_format(source, destination):
        copy_file_atomic(source, destination)  # unchanged: the very same file
    else:
        write_image(destination, routed.image, extras)
    return FileRestored(routed.outcome, routed.heads, routed)
