"""Exports a trained network for serving and for devices, and reports its parity with Keras.

    python -m export --model M --out DIR [--formats savedmodel,tflite,onnx] [--calibration DATA]

M is a `.keras` file or a training run folder. DIR must not exist (or pass --overwrite), and must not
be, contain or lie inside M's folder; it is written through a temporary folder beside it and renamed at
the end (temporaries left by an interrupted export are removed first). See export/layout.py for the
layout and docs/export.md for each format's contract.

Exit status: 0 on success; 2 on bad input (model, head, output folder, options), with nothing written.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from export.bundle import check_output_dir, export_bundle, resolve_heads
from export.options import ExportConfig, routes
from export.parity import format_table
from keras_durbm.cli import EXIT_OK, fail, quiet_tensorflow
from keras_durbm.config.engine import add_arguments, apply_overrides, from_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="a .keras file, a training run folder, or starter (the pretrained model that ships)")
    parser.add_argument("--out", required=True, metavar="DIR", help="export folder (must not exist)")
    parser.add_argument("--config", action="append", default=[], metavar="FILE.yaml",
                        help="YAML file of ExportConfig fields (repeatable; flags apply on top)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one ExportConfig field, e.g. --set latency_runs=3")
    add_arguments(parser.add_argument_group("export"), ExportConfig)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = "python -m export " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        options = from_arguments(apply_overrides(ExportConfig(), args.config, args.set), args)
        if options.calibration is not None and not os.path.isdir(options.calibration):
            raise ValueError(f"--calibration {options.calibration}: not a folder of TFRecord shards or images")
        quiet_tensorflow()
        from keras_durbm.models import (  # heavy (Keras): after the options are checked
            load_durbm,
            resolve_model_path,
        )

        model_path = resolve_model_path(args.model)
        check_output_dir(args.out, options.overwrite, args.model)
        model = load_durbm(model_path)
        resolve_heads(model, options.heads)
        routes(model, options, args.model)  # a classifier that cannot route is named before anything is written
        report = export_bundle(model, args.out, options, progress=not args.no_progress,
                               provenance={"model": args.model, "model_path": model_path, "command": command})
    except (KeyError, ValueError, TypeError, OSError) as error:  # nothing is left behind
        return fail(error)
    for path in report["removed_temporaries"]:
        print(f"removed {path}, left by an interrupted export", file=sys.stderr)
    if report["rows"]:
        print(format_table(report["rows"], report["latency_size"]))
    print(f"exported {', '.join(report['heads'])} ({', '.join(options.formats)}) to {args.out}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
