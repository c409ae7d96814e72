"""CLI: `python -m tfrecords_tools.convert <kind> SRC OUT [options]` converts one split of a dataset into
TFRecord shards + `OUT/manifest.json`. Run `... convert <kind> --help` for the folder tree each kind expects.
`synth` also takes SRC `-` (no photographs) with `--procedural N` (only procedural clean images).

Exit status 0 on success, 2 on bad input (the message names the file and what was expected; nothing
half-written stays behind), 130 when interrupted (rerun the same command: it resumes).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence

from keras_durbm.cli import EXIT_OK, fail, quiet_tensorflow
from keras_durbm.config.engine import add_arguments, from_arguments
from keras_durbm.config.tasks import get_task
from keras_durbm.errors import DataError
from tfrecords_tools.converters import CONVERTERS
from tfrecords_tools.manifest import Group
from tfrecords_tools.writer import WriteConfig

_WRITE = "write."  # argparse destinations of the WriteConfig flags
_KIND = "kind."  # ... and of the kind's own options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tfrecords_tools.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    for converter in CONVERTERS.values():
        p = sub.add_parser(converter.kind, help=converter.help, description=f"{converter.help}.",
                           epilog=f"expected layout:\n{converter.layout}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        no_source = getattr(converter.options, "NO_SOURCE", None)
        p.add_argument("src", metavar="SRC", help="dataset folder (see the layout below)"
                       + (f", or {no_source} for none" if no_source else ""))
        p.add_argument("out", metavar="OUT", help="output folder for shards and manifest.json")
        p.add_argument("--split", help=f"split name written to the manifest and shard names "
                                       f"(default: {converter.default_split})")
        if converter.task is None:
            p.add_argument("--task", required=True, help="task name or letter (motion_blur/B, haze/H, rain/R, jpeg/J)")
        if converter.options is not None:
            add_arguments(p.add_argument_group(f"{converter.kind} options"), converter.options, dest_prefix=_KIND)
        add_arguments(p.add_argument_group("writing"), WriteConfig, dest_prefix=_WRITE)
        p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    return parser


def run(args: argparse.Namespace) -> Group:
    """Calls the converter of `args.kind` with the parsed options; returns the manifest group."""
    converter = CONVERTERS[args.kind]
    write = from_arguments(WriteConfig(), args, dest_prefix=_WRITE)
    options = {}
    if converter.options is not None:
        given = from_arguments(converter.options(), args, dest_prefix=_KIND)
        options = {f.name: getattr(given, f.name) for f in dataclasses.fields(given)}
    if converter.task is None:
        options["task"] = get_task(args.task)
    src = None if args.src == getattr(converter.options, "NO_SOURCE", None) else args.src
    return converter.function(src, args.out, split=args.split or converter.default_split, write=write,
                              **options)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s",
                        stream=sys.stderr)
    quiet_tensorflow()
    try:
        group = run(args)
    except (DataError, ValueError, KeyError, TypeError) as error:
        return fail(error)
    except KeyboardInterrupt:
        print("interrupted: finished shards are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    print(f"{group.task}/{group.split}: {group.num_examples} examples in {len(group.shards)} "
          f"shard(s), {group.num_bytes / 1e6:.1f} MB, {len(group.skipped)} skipped -> "
          f"{os.path.join(args.out, 'manifest.json')}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
