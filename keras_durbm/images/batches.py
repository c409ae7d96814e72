"""Batches of image files in, image files out: which inputs a command was given and where each result goes.

Shared by every command that restores files (`keras_durbm.restore`, the serving client, the demo
page), so they agree on what a folder argument means, on output names, and on never writing over an
input or, without `overwrite`, over an existing file.
"""

from __future__ import annotations

import errno
import os
import stat

from keras_durbm.atomic_files import ensure_writable_dir
from keras_durbm.errors import UsageError
from keras_durbm.images.io import IMAGE_EXTENSIONS, OUTPUT_FORMATS, READABLE, is_image_file

#: How many skipped entries a note names before "and N more".
_NAMED = 5


def skip_reason(path: str) -> str | None:
    """Why `path` is not an input image (None: it is one): the one rule of what a command accepts.

    An input is a regular file (or a link to one) whose extension is one of `image_io.IMAGE_EXTENSIONS`;
    the reader then checks that its content is such an image. Folders, FIFOs, devices, broken links and
    link loops are not inputs.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symbolic link loop"
        if os.path.islink(path):
            return "a broken symbolic link"
        return f"cannot be read ({error.strerror})"
    if stat.S_ISDIR(mode):
        return "a folder"
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, socket or device)"
    if not is_image_file(path):
        return f"not an accepted image format ({os.path.splitext(path)[1].lower() or 'no extension'})"
    return None


def describe_skipped(folder: str, skipped: list[tuple[str, str]]) -> str:
    """One line naming the entries of `folder` that were not taken as inputs, and why (at most five named)."""
    named = "; ".join(f"{os.path.basename(path)}: {reason}" for path, reason in skipped[:_NAMED])
    more = f" and {len(skipped) - _NAMED} more" if len(skipped) > _NAMED else ""
    return f"skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} of {folder}: {named}{more}"


def collect_inputs(paths: list[str], skipped: dict[str, list[tuple[str, str]]] | None = None) -> list[str]:
    """Image files named by `paths` (folders contribute their images, sorted), by the rule of `skip_reason`.

    A path named directly that is missing or not an input is an error (`UsageError`). Entries of a folder
    that are not inputs are skipped; hidden ones (`.name`) silently, the others are recorded in
    `skipped` as `{folder: [(path, reason), ...]}` for the command to report (`describe_skipped`).
    """
    found, missing, refused = [], [], []
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.startswith("."):
                    continue
                entry = os.path.join(path, name)
                reason = skip_reason(entry)
                if reason is None:
                    found.append(entry)
                elif skipped is not None:
                    skipped.setdefault(path, []).append((entry, reason))
        elif not os.path.lexists(path):
            missing.append(path)
        elif (reason := skip_reason(path)) is not None:
            refused.append(f"{path} is {reason}" if reason.startswith("a ") else f"{path}: {reason}")
        else:
            found.append(path)
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    if refused:
        raise UsageError(f"{'; '.join(refused)}; expected {READABLE} file ({', '.join(IMAGE_EXTENSIONS)}) or a "
                         "folder of them")
    if not found:
        raise UsageError(f"no images found in {', '.join(paths)} (expected PNG, JPEG, BMP, TIFF or WebP files)")
    return found


def _key(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def output_paths(inputs: list[str], out_dir: str, fmt: str | None = None, *, overwrite: bool = False,
                 skip_existing: bool | None = None) -> list[str]:
    """OUT/<input name>, with the extension of `fmt` or the input's (PNG where that format cannot be written).

    Errors (`UsageError`): two inputs landing on one output, an output that would overwrite an input, and,
    unless `overwrite` or `skip_existing` (the caller then leaves those inputs out), outputs that already
    exist (all of them are listed). `skip_existing=None`: the command has no such option.
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
    if existing and not (overwrite or skip_existing):
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        skip = ", --skip-existing to restore only the others" if skip_existing is not None else ""
        raise UsageError(f"{shown} already exist(s); pass --overwrite to replace{skip}, or choose another output "
                         "folder")
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
