"""Restores image files with one head of a trained network.

    python -m keras_durbm.restore --model M --task haze IN... -o OUT [--tile N] [--overlap N] [--format png]

IN are image files or folders of images (PNG, JPEG, BMP, TIFF, WebP; any size; grayscale, alpha and
16-bit kept). Each output is written to OUT (created) under the input's name, in the input's format
unless `--format png`, atomically (no partial files). Images above `--max-pixels` are restored in
overlapping tiles (see docs/evaluate-restore.md for what tiling costs in accuracy).

Exit status: 2 when nothing was done (bad arguments, unknown task, missing input, unwritable OUT, model
that cannot be loaded); 1 when some images failed (each is named; the others are still written, unless
`--fail-fast` stops at the first); 0 when every image was restored.
"""

from __future__ import annotations

import argparse
import os
import sys

from keras_durbm.atomic_files import ensure_writable_dir
from keras_durbm.inference import add_tiling_arguments

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem found before any image is restored (exit status 2)."""


def collect_inputs(paths: list[str]) -> list[str]:
    """Image files named by `paths` (folders contribute their images, sorted); missing paths are an error."""
    from tfrecords_tools.image_io import list_images

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


def output_paths(inputs: list[str], out_dir: str, fmt: str | None) -> list[str]:
    """OUT/<input name>, with the extension of `fmt` or the input's (PNG where that format cannot be
    written); two inputs landing on one output, or an output overwriting an input, is an error."""
    from keras_durbm.image_io import OUTPUT_FORMATS

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
        key = os.path.normcase(os.path.abspath(out))
        if key in seen:
            raise UsageError(f"{seen[key]} and {inp} would both be written to {out}; restore them into different folders")
        seen[key] = inp
    inputs_abs = {os.path.normcase(os.path.abspath(p)) for p in inputs}
    clash = [out for out in outputs if os.path.normcase(os.path.abspath(out)) in inputs_abs]
    if clash:
        raise UsageError(f"writing {clash[0]} would overwrite an input; choose another output folder")
    return outputs


def prepare_output_dir(out_dir: str) -> None:
    """Creates OUT and proves it writable (a temporary file is created and removed)."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"output {out_dir} exists and is not a folder")
    try:
        ensure_writable_dir(out_dir)
    except OSError as error:
        raise UsageError(f"cannot write to the output folder {out_dir}: {error.strerror or error}") from None


def _image_error_text(error: BaseException) -> str:
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
        text = f"out of memory ({type(error).__name__}); try a smaller --tile or --max-pixels"
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m keras_durbm.restore", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a .keras file or a training run folder")
    parser.add_argument("--task", required=True, help="head to use (name or letter, e.g. haze or H)")
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders of images")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created)")
    parser.add_argument("--format", choices=("png",), help="write PNG whatever the input format")
    add_tiling_arguments(parser, "whole image up to --max-pixels")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first image that fails")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag, value, low in (("--tile", args.tile, 1), ("--overlap", args.overlap, 0),
                             ("--max-pixels", args.max_pixels, 0)):
        if value is not None and value < low:
            parser.error(f"{flag} must be at least {low}, got {value}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from keras_durbm.tasks import get_task

        try:
            task = get_task(args.task).name
        except KeyError as error:
            raise UsageError(error.args[0]) from None
        inputs = collect_inputs(args.inputs)
        outputs = output_paths(inputs, args.output, args.format)

        from keras_durbm.inference import resolve_head
        from keras_durbm.models import load_durbm

        try:
            model = load_durbm(args.model)
            resolve_head(model, task)
        except KeyError as error:
            raise UsageError(error.args[0]) from None
        except (ValueError, OSError) as error:
            raise UsageError(str(error)) from None
        prepare_output_dir(args.output)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE

    import tensorflow as tf
    from tqdm import tqdm

    from keras_durbm.image_io import read_image, write_image
    from keras_durbm.inference import restore

    done, failed = 0, []
    with tqdm(total=len(inputs), desc=f"restore {task}", unit="img", file=sys.stderr,
              disable=args.no_progress) as bar:
        for inp, out in zip(inputs, outputs, strict=True):
            try:
                image, extras = read_image(inp)
                restored = restore(model, image, task, tile=args.tile, overlap=args.overlap,
                                   max_pixels=args.max_pixels or None)
                write_image(out, restored, extras)
                done += 1
            except (ValueError, TypeError, OSError, MemoryError, tf.errors.OpError) as error:
                failed.append(inp)
                text = _image_error_text(error)
                bar.write(f"error: {text if text.startswith(inp) else f'{inp}: {text}'}", file=sys.stderr)
                if args.fail_fast:
                    break
            bar.update(1)
    print(f"restored {done} of {len(inputs)} image(s) into {args.output}"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return EXIT_SOME_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
