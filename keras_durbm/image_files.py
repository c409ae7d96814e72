"""Batches of image files in, image files out: which inputs a command was given and where each result goes.

Shared by every command that restores files (`keras_durbm.restore`, the serving client, the demo
page), so they agree on what a folder argument means, on output names, and on never writing over an
input or, without `overwrite`, over an existing file.
"""

from __future__ import annotations

import os

from keras_durbm.atomic_files import ensure_writable_dir
from keras_durbm.errors import UsageError
from keras_durbm.image_io import OUTPUT_FORMATS, list_images


def collect_inputs(paths: list[str]) -> list[str]:
    """Image files named by `paths` (folders contribute their images, sorted); missing paths are an error."""
    found, missing = [], []
    for path in paths:
        if os.path.isdir(path):
            found.extend(os.path.join(path, name) for name in list_images(path))
        elif os.path.isfile(path):
            found.append(path)
        else:
            missing.append(path)
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    if not found:
        raise UsageError(f"no images found in {', '.join(paths)} (expected PNG, JPEG, BMP, TIFF or WebP files)")
    return found


def _key(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def output_paths(inputs: list[str], out_dir: str, fmt: str | None = None, *, overwrite: bool = False) -> list[str]:
    """OUT/<input name>, with the extension of `fmt` or the input's (PNG where that format cannot be written).

    Errors (`UsageError`): two inputs landing on one output, an output that would overwrite an input, and,
    unless `overwrite`, outputs that already exist (all of them are listed).
    """
    outputs = []
    for path in inputs:
        stem, ext = os.path.splitext(os.path.basename(path))
        if fmt is not None:
            ext = "." + fmt
        elif ext.lower() not in OUTPUT_FORMATS:
            ext = ".png"
        outputs.append(os.path.join(out_dir, stem + ext))
    seen: dict[str, str] = {}
    for inp, out in zip(inputs, outputs, strict=True):
        key = _key(out)
        if key in seen:
            raise UsageError(f"{seen[key]} and {inp} would both be written to {out}; restore them into different folders")
        seen[key] = inp
    inputs_abs = {_key(p) for p in inputs}
    clash = [out for out in outputs if _key(out) in inputs_abs]
    if clash:
        raise UsageError(f"writing {clash[0]} would overwrite an input; choose another output folder")
    existing = [out for out in outputs if os.path.exists(out)]
    if existing and not overwrite:
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise UsageError(f"{shown} already exist(s); pass --overwrite to replace, or choose another output folder")
    return outputs


def prepare_output_dir(out_dir: str) -> None:
    """Creates OUT and proves it writable (a temporary file is created and removed)."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"output {out_dir} exists and is not a folder")
    try:
        ensure_writable_dir(out_dir)
    except OSError as error:
        raise UsageError(f"cannot write to the output folder {out_dir}: {error.strerror or error}") from None


def check_report_path(path: str, flag: str) -> None:
    """A report file (`--json`, `--report`) must name a file in an existing folder; `UsageError` otherwise."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path} is a folder; expected a file name such as {os.path.join(path, 'report.json')}")
    if not os.path.exists(folder):
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {path}: {folder} is a file, not a folder")
