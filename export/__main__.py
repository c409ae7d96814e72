"""Exports a trained network for serving and for devices, and reports its parity with Keras.

    python -m export --model M --out DIR [--formats savedmodel,tflite,onnx] [--calibration DATA]

M is a `.keras` file or a training run folder. DIR must not exist (or pass --overwrite); it is
written through a temporary folder beside it and renamed at the end. See export/bundle.py for the
layout and docs/export.md for each format's contract.

Exit status: 0 on success; 2 on bad input (model, head, output folder, options), with nothing written.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from export.bundle import FORMATS, ExportOptions
from export.tflite import VARIANTS

EXIT_OK, EXIT_USAGE = 0, 2


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a .keras file or a training run folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="export folder (must not exist)")
    parser.add_argument("--formats", type=_names, default=FORMATS, help=f"comma list of {', '.join(FORMATS)} (default: all)")
    parser.add_argument("--heads", type=_names, help="comma list of heads (names or letters; default: all)")
    parser.add_argument("--version", type=int, default=1, help="SavedModel version folder (default 1)")
    parser.add_argument("--tflite-variants", type=_names, default=VARIANTS,
                        help=f"comma list of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--calibration", metavar="DATA", help="int8 calibration: a folder of TFRecord shards or "
                        "of images (default: scikit-image's bundled photographs)")
    parser.add_argument("--calibration-count", type=int, default=32, help="calibration crops (default 32)")
    parser.add_argument("--calibration-size", type=int, default=128, help="calibration crop side (default 128)")
    parser.add_argument("--multihead", action="store_true", help="also write one SavedModel with a signature per head")
    parser.add_argument("--base-path", default="/models", help="model base path in models.config (default /models, "
                        "where the Docker command mounts DIR/serving)")
    parser.add_argument("--warmup-size", type=int, default=64, help="side of the warm-up requests (default 64)")
    parser.add_argument("--no-parity", action="store_true", help="skip the parity report (faster)")
    parser.add_argument("--parity-max-side", type=int, default=256,
                        help="parity photographs are downscaled to this longer side (default 256)")
    parser.add_argument("--latency-size", type=int, default=512, help="latency is timed at this square size")
    parser.add_argument("--latency-runs", type=int, default=5, help="timed runs per artifact (median)")
    parser.add_argument("--threads", type=int, help="TFLite/onnxruntime threads (default: all cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace DIR if it exists (after success only)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = "python -m export " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        options = ExportOptions(
            formats=args.formats, heads=args.heads or None, version=args.version,
            tflite_variants=args.tflite_variants, calibration=args.calibration,
            calibration_count=args.calibration_count, calibration_size=args.calibration_size,
            multihead=args.multihead, base_path=args.base_path, warmup_size=args.warmup_size,
            parity=not args.no_parity, parity_max_side=args.parity_max_side, latency_size=args.latency_size,
            latency_runs=args.latency_runs, threads=args.threads, overwrite=args.overwrite)
        from export.bundle import check_output_dir, resolve_heads

        check_output_dir(args.out, args.overwrite)
        if args.calibration is not None and not os.path.isdir(args.calibration):
            raise ValueError(f"--calibration {args.calibration}: not a folder of TFRecord shards or images")
        from keras_durbm.models import load_durbm

        model = load_durbm(args.model)
        resolve_heads(model, options.heads)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE

    from export.bundle import export_bundle
    from export.parity import format_table

    try:
        report = export_bundle(model, args.out, options, progress=not args.no_progress,
                               provenance={"model": args.model, "command": command})
    except (ValueError, OSError) as error:  # e.g. unreadable calibration data; nothing is left behind
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if report["rows"]:
        print(format_table(report["rows"], report["latency_size"]))
    print(f"exported {', '.join(report['heads'])} ({', '.join(options.formats)}) to {args.out}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
