"""Restores image files with one head of a trained network, or with the head its classifier chooses.

    python -m keras_durbm.restore --model M --task haze IN... -o OUT [--tile N] [--overlap N] [--format png]
    python -m keras_durbm.restore --model M --task auto IN... -o OUT [--chain [--max-steps K]]
        [--min-confidence P [--fallback-task T]] [--report OUT/report.json]

IN are image files or folders of images (PNG, JPEG, BMP, TIFF, WebP; any size; grayscale, alpha and
16-bit kept). Each output is written to OUT (created) under the input's name, in the input's format
unless `--format png`, atomically (no partial files). A file already in OUT is not replaced unless
`--overwrite` is given (`--skip-existing` leaves those inputs out: it continues an interrupted batch); an
input is never overwritten. Folder entries that are not images (other formats, FIFOs, link loops) are
skipped and named. Images above `--tile-above` pixels are restored
in overlapping tiles (see docs/evaluate-restore.md for what tiling costs in accuracy); files above
`--max-pixels` are refused from their header (decompression bombs), failing that image only.

`--task auto` (a model with a degradation classifier) prints each image's class probabilities and
restores it with the most probable head; an image judged clean is written unchanged. Do no harm: an
image whose top probability is below the model's calibrated threshold (or `--min-confidence`; 0 routes
every image) is written unchanged and listed, or goes to `--fallback-task`. `--chain` then classifies
the result again and restores again with the most probable head that has not run yet, until it is
judged clean (or clean is the most probable class left) or `--max-steps` heads have run. `--report`
writes per input (its path as given) the chosen `task`, the `probabilities` and every step
(docs/evaluate-restore.md "Blind restoration").

Exit status: 2 when nothing was done (bad arguments, unknown task, missing input, existing or unwritable
output, model that cannot be loaded); 1 when some images failed (each is named; the others are still
written, unless `--fail-fast` stops at the first) or the report could not be written (a full disk);
130 when stopped by Ctrl-C (the summary says what was written); 0 when every image was restored.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from keras_durbm.atomic_files import write_json_atomic
from keras_durbm.cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ArgumentParser,
    error_text,
    interrupted,
    quiet_tensorflow,
)
from keras_durbm.config.engine import add_arguments, from_arguments
from keras_durbm.config.model_file import read_model_config
from keras_durbm.config.tasks import AUTO, Task, get_task
from keras_durbm.errors import UsageError
from keras_durbm.images.batches import (
    check_report_path,
    collect_inputs,
    describe_skipped,
    output_paths,
    prepare_output_dir,
)
from keras_durbm.images.io import DEFAULT_MAX_PIXELS
from keras_durbm.restoration.files import FileRestored, restore_file
from keras_durbm.restoration.routing import CLEAN_STOP, KEPT, RESTORED, RoutingConfig, check_classifier
from keras_durbm.restoration.tiling import TilingConfig, check_head

_TILING = "tiling."
_ROUTING = "routing."


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m keras_durbm.restore", description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="a .keras file, a training run folder, or starter (the pretrained model that ships)")
    parser.add_argument("--task", required=True, help="head to use (name or letter, e.g. haze or H), or auto: "
                        "the model's degradation classifier chooses")
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders of images")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created)")
    parser.add_argument("--format", choices=("png",), help="write PNG whatever the input format")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace files that already exist in OUT")
    existing.add_argument("--skip-existing", action="store_true",
                          help="leave out inputs whose output already exists in OUT (continues an interrupted batch)")
    add_arguments(parser.add_argument_group("tiling"), TilingConfig, dest_prefix=_TILING)
    add_arguments(parser.add_argument_group("blind restoration (--task auto)"), RoutingConfig, dest_prefix=_ROUTING)
    parser.add_argument("--report", metavar="FILE.json", help="with --task auto: write what was chosen per image")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"refuse image files with more pixels (default {DEFAULT_MAX_PIXELS:,}; 0: no limit)")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first image that fails")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _say_failure(bar, inp: str, error: BaseException) -> str:
    """Prints on stderr (above the progress bar) why image `inp` failed; returns the message."""
    if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
        text = f"out of memory ({type(error).__name__}); try a smaller --tile or --tile-above"
    else:
        text = error_text(error)
    bar.write(f"error: {text if text.startswith(inp) else f'{inp}: {text}'}", file=sys.stderr)
    return text


def _write_report(path: str, data: dict) -> str | None:
    """Writes the `--report` JSON; returns the error line's text when it cannot be written (a full disk)."""
    try:
        write_json_atomic(path, data)
    except OSError as error:
        return f"cannot write the report {path}: {error.strerror or error}"
    return None


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before the batch started (loading the model): nothing was written
        return interrupted("nothing was written")


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_pixels < 0:
        parser.error(f"--max-pixels must be at least 0, got {args.max_pixels}")
    auto = args.task.lower() == AUTO
    try:
        tiling = from_arguments(TilingConfig(), args, dest_prefix=_TILING)
        routing = from_arguments(RoutingConfig(), args, dest_prefix=_ROUTING)
        if not auto and (routing != RoutingConfig() or args.report):
            raise UsageError("--chain, --max-steps, --min-confidence, --fallback-task and --report need --task auto")
        task = None if auto else get_task(args.task)
        # a report inside OUT (e.g. OUT/report.json) is fine: OUT is created below
        if args.report and os.path.dirname(os.path.abspath(args.report)) != os.path.abspath(args.output):
            check_report_path(args.report, "--report")
        skipped: dict[str, list[tuple[str, str]]] = {}
        inputs = collect_inputs(args.inputs, skipped)
        outputs = output_paths(inputs, args.output, args.format, overwrite=args.overwrite,
                               skip_existing=args.skip_existing)
        read_model_config(args.model)  # a wrong file or a zip bomb is refused before TensorFlow starts
        quiet_tensorflow()
        from keras_durbm.models import load_durbm  # heavy (Keras): after the arguments are checked

        model = load_durbm(args.model)
        if auto:
            check_classifier(model, args.model)
            if routing.fallback_task:
                check_head(model, get_task(routing.fallback_task))
        else:
            check_head(model, task)
        prepare_output_dir(args.output)
    except (UsageError, KeyError, ValueError, OSError) as error:
        print(f"error: {error_text(error)}", file=sys.stderr)
        return EXIT_USAGE
    for folder, entries in skipped.items():
        print(f"note: {describe_skipped(folder, entries)}")
    if args.skip_existing:
        pending = [(inp, out) for inp, out in zip(inputs, outputs, strict=True) if not os.path.exists(out)]
        if len(pending) < len(inputs):
            print(f"note: --skip-existing: {len(inputs) - len(pending)} of {len(inputs)} image(s) already in "
                  f"{args.output}, left out")
        inputs, outputs = [inp for inp, _ in pending], [out for _, out in pending]
    return _restore_all(model, inputs, outputs, args, task=task, routing=routing if auto else None, tiling=tiling)


def _restore_all(model, inputs: list[str], outputs: list[str], args, *, task: Task | None,
                 routing: RoutingConfig | None, tiling: TilingConfig) -> int:
    """Restores each input into its output (`restore_file`), prints what auto chose, the summary and the
    exit status; with `--report`, writes what was chosen per image."""
    import tensorflow as tf
    from tqdm import tqdm

    counts = {RESTORED: 0, CLEAN_STOP: 0, KEPT: 0}
    failed, kept, report = [], [], {}
    stopped = False
    try:
        with tqdm(total=len(inputs), desc=f"restore {task.name if task else AUTO}", unit="img", file=sys.stderr,
                  disable=args.no_progress) as bar:
            for inp, out in zip(inputs, outputs, strict=True):
                try:
                    done = restore_file(model, inp, out, task=task, routing=routing, tiling=tiling,
                                        max_pixels=args.max_pixels or None)
                except (ValueError, TypeError, OSError, MemoryError, tf.errors.OpError) as error:
                    failed.append(inp)
                    report[inp] = {"error": _say_failure(bar, inp, error), "output": None}
                    if args.fail_fast:
                        break
                else:
                    _say_routed(bar, inp, out, done, routing)
                    counts[done.outcome] += 1
                    if done.outcome == KEPT:
                        kept.append(inp)
                    if done.routed:
                        report[inp] = {**done.routed.to_dict(), "output": out}
                bar.update(1)
    except KeyboardInterrupt:
        stopped = True
    report_error = None
    if args.report:
        report_error = _write_report(args.report, {"model": args.model, "routing": dataclasses.asdict(routing),
                                                   "images": report, **({"interrupted": True} if stopped else {})})
    if task:
        summary = f"restored {counts[RESTORED]} of {len(inputs)} image(s) into {args.output}"
    else:
        summary = (f"restored {counts[RESTORED]} and kept {counts[CLEAN_STOP]} clean of {len(inputs)} image(s) into "
                   f"{args.output}" + (f"; left unchanged (top probability below the threshold "
                                       f"{routing.threshold(model):g}): {', '.join(kept)}" if kept else ""))
    print(summary + (f"; failed: {', '.join(failed)}" if failed else "")
          + (f"; report: {args.report}" if args.report and not report_error else ""))
    if report_error:
        print(f"error: {report_error}", file=sys.stderr)
    if stopped:
        return interrupted(f"stopped after {len(failed) + sum(counts.values())} of {len(inputs)} "
                           "image(s); the images written are complete: rerun the same command with --skip-existing "
                           "to restore the others")
    return EXIT_FAILED if failed or report_error else EXIT_OK


def _say_routed(bar, inp: str, out: str, done: FileRestored, routing: RoutingConfig | None) -> None:
    """Prints, with `--task auto`, each step's classification and choice, and where a clean image went."""
    if done.routed is None:
        return
    for k, step in enumerate(done.routed.steps, start=1):
        bar.write(f"{inp}: {f'step {k}: ' if routing.chain else ''}{step.describe()}")
    if done.outcome == CLEAN_STOP:
        bar.write(f"{inp}: judged clean, written unchanged to {out}")
    elif done.outcome == KEPT:
        bar.write(f"{inp}: not sure enough to restore, written unchanged to {out}")


if __name__ == "__main__":
    sys.exit(main())
