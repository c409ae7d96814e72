"""CLI: `python -m tfrecords_tools.convert <kind> SRC OUT [options]` converts one split of a dataset into
TFRecord shards + `OUT/manifest.json`. Run `... convert <kind> --help` for the folder tree each kind expects.

Exit status 0 on success, 2 on bad input (the message names the file and what was expected; nothing
half-written stays behind), 130 when interrupted (rerun the same command: it resumes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from tfrecords_tools.converters import (
    CONVERTERS,
    convert_synth,
    didmdn,
    gopro,
    jpeg_sets,
    pairs,
    reside,
    synth,
)
from tfrecords_tools.errors import DataError

DEFAULT_SPLITS = {"gopro": "train", "reside-its": "train", "reside-sots": "test", "didmdn": "train",
                  "div2k-jpeg": "train", "live1-jpeg": "test", "pairs": "train", "synth": "train"}
LAYOUTS = {"gopro": gopro.LAYOUT, "reside-its": reside.ITS_LAYOUT, "reside-sots": reside.SOTS_LAYOUT,
           "didmdn": didmdn.LAYOUT, "div2k-jpeg": jpeg_sets.DIV2K_LAYOUT, "live1-jpeg": jpeg_sets.LIVE1_LAYOUT,
           "pairs": pairs.LAYOUT, "synth": synth.LAYOUT}
HELP = {"gopro": "GoPro (GOPRO_Large) -> motion_blur", "reside-its": "RESIDE ITS -> haze (train)",
        "reside-sots": "RESIDE SOTS indoor -> haze (test)", "didmdn": "DID-MDN side-by-side pairs -> rain",
        "div2k-jpeg": "DIV2K + PIL JPEG q=10/20/30/40 -> jpeg (train)",
        "live1-jpeg": "LIVE1 + PIL JPEG q=10 -> jpeg (test)", "pairs": "two folders matched by file stem -> TASK",
        "synth": "clean photos + synthesized degradation -> TASK"}


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        pass
    if "," in value:
        try:
            return key.strip(), [json.loads(v) for v in value.split(",")]
        except json.JSONDecodeError:
            pass
    return key.strip(), value


def _common_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("writing")
    g.add_argument("--split", help="split name written to the manifest and shard names (default per kind)")
    g.add_argument("--min-size", type=int, default=None,
                   help="smallest allowed output height/width (default: 256, the training crop, for split "
                        "train; 1 otherwise)")
    g.add_argument("--format", dest="encoding", choices=("png", "raw"), default="png",
                   help="record image encoding: png (default) or raw uint8 (2x disk, decodes much faster)")
    g.add_argument("--png-level", type=int, default=1, choices=range(0, 10), metavar="0-9",
                   help="PNG zlib level (default 1: fast; 6 is ~10%% smaller and ~4x slower)")
    g.add_argument("--shard-mb", type=float, default=150.0, help="target shard size in MB (default 150)")
    g.add_argument("--min-shards", type=int, default=1,
                   help="at least this many shards (one per input pipeline for multi-worker training)")
    g.add_argument("--workers", type=int, default=None, help="worker threads (default: all cores)")
    g.add_argument("--skip-bad", action="store_true", help="skip bad images and list them in the manifest")
    g.add_argument("--overwrite", action="store_true",
                   help="replace this task/split if OUT holds it converted with other settings")
    g.add_argument("--coerce-rgb", action="store_true",
                   help="convert grayscale/palette/opaque-RGBA/16-bit images to 8-bit RGB instead of failing")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    g.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tfrecords_tools.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    common = _common_parser()
    for kind in CONVERTERS:
        p = sub.add_parser(kind, parents=[common], help=HELP[kind], description=f"{HELP[kind]}.",
                           epilog=f"expected layout:\n{LAYOUTS[kind]}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("src", metavar="SRC", help="dataset folder (see the layout below)")
        p.add_argument("out", metavar="OUT", help="output folder for shards and manifest.json")
        if kind in ("pairs", "synth"):
            p.add_argument("--task", required=True, help="task name or letter (motion_blur/B, haze/H, rain/R, jpeg/J)")
        if kind == "gopro":
            p.add_argument("--blur", choices=gopro.BLUR_FOLDERS, default="blur", help="input folder (default blur)")
        if kind in ("gopro", "div2k-jpeg"):
            p.add_argument("--half", action="store_true",
                           help="halve width and height (the paper trains on half-size GoPro and DIV2K)")
        if kind in ("reside-its", "reside-sots"):
            p.add_argument("--no-crop-gt", dest="crop_gt", action="store_false",
                           help="fail instead of centre-cropping a ground truth larger than its hazy image")
        if kind == "didmdn":
            p.add_argument("--rainy-side", choices=("left", "right"), default="left",
                           help="half holding the rainy input (default left, as the authors' loader)")
        if kind in ("div2k-jpeg", "live1-jpeg"):
            default = "10,20,30,40" if kind == "div2k-jpeg" else "10"
            p.add_argument("--qualities", type=_ints, default=_ints(default),
                           help=f"JPEG qualities, one example per image and quality (default {default})")
        if kind == "pairs":
            p.add_argument("--input-dir", default="input", help="input folder inside SRC (default input)")
            p.add_argument("--target-dir", default="target", help="target folder inside SRC (default target)")
        if kind == "synth":
            p.add_argument("--seed", type=int, default=0, help="synthesis seed (default 0)")
            p.add_argument("--variants", type=int, default=1, help="degraded copies per clean image (default 1)")
            p.add_argument("--param", type=_param, action="append", default=[], metavar="KEY=VALUE",
                           help="synthesizer parameter, e.g. beta=0.6,1.8 or quality=10 (repeatable)")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Calls the converter of `args.kind` with the parsed options; returns the manifest group."""
    write_opts = {"min_size": args.min_size, "encoding": args.encoding, "png_level": args.png_level,
                  "shard_mb": args.shard_mb, "min_shards": args.min_shards, "workers": args.workers,
                  "skip_bad": args.skip_bad, "overwrite": args.overwrite, "progress": args.progress,
                  "coerce_rgb": args.coerce_rgb}
    split = args.split or DEFAULT_SPLITS[args.kind]
    kind_opts: dict[str, Any] = {}
    if args.kind == "gopro":
        kind_opts = {"blur": args.blur, "half": args.half}
    elif args.kind in ("reside-its", "reside-sots"):
        kind_opts = {"crop_gt": args.crop_gt}
    elif args.kind == "didmdn":
        kind_opts = {"rainy_side": args.rainy_side}
    elif args.kind == "div2k-jpeg":
        kind_opts = {"qualities": args.qualities, "half": args.half}
    elif args.kind == "live1-jpeg":
        kind_opts = {"qualities": args.qualities}
    elif args.kind == "pairs":
        kind_opts = {"task": args.task, "input_dir": args.input_dir, "target_dir": args.target_dir}
    elif args.kind == "synth":
        return convert_synth(args.src, args.out, task=args.task, split=split, seed=args.seed,
                             variants=args.variants, params=dict(args.param), **write_opts)
    return CONVERTERS[args.kind](args.src, args.out, split=split, **kind_opts, **write_opts)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s",
                        stream=sys.stderr)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        group = run(args)
    except (DataError, ValueError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished shards are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    print(f"{group['task']}/{group['split']}: {group['num_examples']} examples in {len(group['shards'])} "
          f"shard(s), {group['num_bytes'] / 1e6:.1f} MB, {len(group['skipped'])} skipped -> "
          f"{os.path.join(args.out, 'manifest.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
