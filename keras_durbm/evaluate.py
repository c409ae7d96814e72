"""Scores a head on a test set with the paper's protocol (docs/design.md §1.8), beside the input's own scores.

    python -m keras_durbm.evaluate --model M --task haze DATA [--split test]
    python -m keras_durbm.evaluate --model M --task haze --pairs INPUT_DIR TARGET_DIR
        [--crop-border N] [--tile N] [--overlap N] [--limit N] [--luma matlab|opencv] [--json OUT]
    python -m keras_durbm.evaluate --model M --task auto DATA [--confusion-png FILE.png]

DATA is a folder converted by `tfrecords_tools` (the task's shards of `--split`). `--pairs` matches
inputs to targets by file stem; an input `NAME_K` (K a number) also matches a target `NAME`, so SOTS's
ten hazy images per ground truth are each scored as a pair. The table names the protocol it used.

`--task auto` scores blind restoration over the `--split` of every head's task found in DATA: the
degradation classifier's confusion matrix (inputs as their task, distinct targets as clean; printed
and drawn), per-class precision and recall, and PSNR/SSIM with the head it chose beside the true head.
`--limit` then applies per task.
Exit status: 0 on success, 2 on bad arguments or data (the message names the file), 1 when the scores
were printed but `--json` (or the confusion picture) could not be written (a full disk), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys

import numpy as np

from keras_durbm.atomic_files import write_json_atomic
from keras_durbm.cli import EXIT_FAILED, EXIT_OK, fail, interrupted, quiet_tensorflow
from keras_durbm.config.engine import add_arguments, from_arguments
from keras_durbm.config.model_file import read_model_config
from keras_durbm.config.tasks import AUTO, get_task
from keras_durbm.errors import UsageError
from keras_durbm.images.batches import check_report_path
from keras_durbm.images.io import DEFAULT_MAX_PIXELS
from keras_durbm.images.pairs import match_pairs, read_pairs
from keras_durbm.restoration.tiling import TilingConfig, check_head
from keras_durbm.scoring.evaluation import evaluate_pairs, format_table, jsonable
from keras_durbm.scoring.metrics import DEFAULT_LUMA, LUMAS

_TILING = "tiling."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m keras_durbm.evaluate",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="a .keras file, a training run folder, or starter (the pretrained model that ships)")
    parser.add_argument("--task", required=True, help="head to evaluate (name or letter), or auto: the "
                        "degradation classifier chooses (needs DATA)")
    parser.add_argument("data", nargs="?", metavar="DATA", help="folder converted by tfrecords_tools")
    parser.add_argument("--split", default="test", help="split of DATA to score (default: test)")
    parser.add_argument("--pairs", nargs=2, metavar=("INPUT_DIR", "TARGET_DIR"),
                        help="score image folders instead, inputs matched to targets by file stem")
    parser.add_argument("--crop-border", type=int, default=0, help="pixels cropped from each side before scoring")
    parser.add_argument("--luma", choices=LUMAS, default=DEFAULT_LUMA,
                        help="Y convention: opencv (full range, the authors' test code; default) or matlab (16..235, BasicSR)")
    add_arguments(parser.add_argument_group("tiling"), TilingConfig, dest_prefix=_TILING)
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"refuse image files with more pixels (default {DEFAULT_MAX_PIXELS:,}; 0: no limit)")
    parser.add_argument("--limit", type=int, help="score only the first N pairs")
    parser.add_argument("--json", metavar="OUT", help="also write the scores (means and per image) as JSON")
    parser.add_argument("--confusion-png", default="confusion.png", metavar="FILE.png",
                        help="with --task auto: where the confusion matrix picture goes (default: confusion.png)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _write_json(path: str, data: dict) -> int:
    """Writes the `--json` scores (after the table was printed); a full disk is one error line, status 1."""
    try:
        write_json_atomic(path, data)
    except OSError as error:
        return fail(f"cannot write the scores to {path}: {error.strerror or error}", EXIT_FAILED)
    print(f"scores written to {path}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return interrupted("nothing was written")


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.data is None) == (args.pairs is None):
        parser.error("give either DATA (a converted folder) or --pairs INPUT_DIR TARGET_DIR")
    for flag, value, low in (("--crop-border", args.crop_border, 0), ("--limit", args.limit, 1),
                             ("--max-pixels", args.max_pixels, 0)):
        if value is not None and value < low:
            parser.error(f"{flag} must be at least {low}, got {value}")
    auto = args.task.lower() == AUTO
    if auto and args.pairs:
        parser.error("--task auto needs DATA (a converted folder: its records say each image's degradation), "
                     "not --pairs")
    try:
        read_model_config(args.model)  # a wrong file or a zip bomb is refused before TensorFlow starts
    except (ValueError, OSError) as error:
        return fail(error)
    quiet_tensorflow()
    # heavy modules (Keras, tf.data), imported once the arguments are known to be usable, so --help is instant
    from keras_durbm.models import load_durbm, resolve_model_path
    from tfrecords_tools.pipeline import split_pairs

    if auto:
        return _evaluate_auto(args)
    try:
        tiling = from_arguments(TilingConfig(), args, dest_prefix=_TILING)
        task = get_task(args.task)
        if args.json:
            check_report_path(args.json, "--json")
        if args.pairs:
            matched = match_pairs(*args.pairs)[:args.limit]
            pairs, total = read_pairs(matched, max_pixels=args.max_pixels or None), len(matched)
        else:
            if not os.path.isdir(args.data):
                raise FileNotFoundError(f"{args.data}: no such folder (expected a folder converted by tfrecords_tools)")
            pairs, total = split_pairs(args.data, task, args.split, limit=args.limit)
        model_path = resolve_model_path(args.model)
        model = load_durbm(model_path)
        check_head(model, task)
        result = evaluate_pairs(model, task, itertools.islice(pairs, args.limit), crop_border=args.crop_border,
                                luma=args.luma, progress=not args.no_progress, total=total,
                                **dataclasses.asdict(tiling))
    except (UsageError, KeyError, ValueError, TypeError, OSError) as error:
        return fail(error)
    print(format_table(result, model_path))
    if args.json:
        return _write_json(args.json, jsonable({**result, "model": model_path}))
    return EXIT_OK


def _evaluate_auto(args) -> int:
    from keras_durbm.models import load_durbm, resolve_model_path
    from keras_durbm.restoration.routing import check_classifier
    from keras_durbm.scoring.confusion import ConfusionMatrix
    from keras_durbm.scoring.evaluation import evaluate_routing, format_routing
    from tfrecords_tools.manifest import group_key, load_manifest
    from tfrecords_tools.pipeline import split_pairs

    try:
        tiling = from_arguments(TilingConfig(), args, dest_prefix=_TILING)
        for path, flag in ((args.json, "--json"), (args.confusion_png, "--confusion-png")):
            if path:
                check_report_path(path, flag)
        if not os.path.isdir(args.data):
            raise FileNotFoundError(f"{args.data}: no such folder (expected a folder converted by tfrecords_tools)")
        model_path = resolve_model_path(args.model)
        model = load_durbm(model_path)
        check_classifier(model, args.model)
        groups = load_manifest(args.data).groups
        found = [t for t in model.topology.tasks if group_key(t.name, args.split) in groups]
        if not found:
            raise ValueError(f"{args.data} has no {args.split!r} split of this model's tasks "
                             f"({', '.join(model.task_names)}); it holds {', '.join(sorted(groups)) or 'nothing'}")
        pairs, total = {}, 0
        for task in found:
            pairs[task], count = split_pairs(args.data, task, args.split, limit=args.limit)
            total += count
        result = evaluate_routing(model, pairs, crop_border=args.crop_border, luma=args.luma,
                                  progress=not args.no_progress, total=total, **dataclasses.asdict(tiling))
    except (UsageError, KeyError, ValueError, TypeError, OSError) as error:
        return fail(error)
    missing = [t for t in model.task_names if t not in {task.name for task in found}]
    print(f"blind restoration: {args.data} split {args.split}, model {model_path}"
          + (f" (no data for {', '.join(missing)})" if missing else ""))
    print(format_routing(result))
    confusion = result["confusion"]
    try:
        ConfusionMatrix(tuple(confusion["classes"]), np.asarray(confusion["counts"])).write_png(
            args.confusion_png, f"{os.path.basename(os.path.normpath(args.data))} {args.split}: accuracy "
            f"{100 * confusion['accuracy']:.1f}% of {int(np.sum(confusion['counts']))}")
    except OSError as error:
        return fail(f"cannot write the confusion matrix picture {args.confusion_png}: {error.strerror or error}",
                    EXIT_FAILED)
    print(f"confusion matrix picture: {args.confusion_png}")
    if args.json:
        return _write_json(args.json, jsonable({**result, "model": model_path}))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
