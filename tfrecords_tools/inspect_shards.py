"""Shows what a converted folder holds: `python -m tfrecords_tools.inspect_shards OUT [--verify]`.

Prints examples, shards, bytes and image sizes per task and split, and writes a PNG grid of random
input/target pairs (default `OUT/inspect_grid.png`). `--verify` also checks every shard's framing and
SHA-256 against the manifest. Exit status: 0 fine, 1 `--verify` found damaged shards, 2 bad input (a
folder without a manifest, an unknown task, an undecodable record: the message names the shard).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from keras_durbm.cli import EXIT_FAILED, EXIT_OK, fail, quiet_tensorflow
from keras_durbm.config.tasks import get_task
from keras_durbm.errors import DataError
from tfrecords_tools.inspection import format_table, sample_examples, summarize, verify, write_grid
from tfrecords_tools.manifest import selection_text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tfrecords_tools.inspect_shards", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", metavar="OUT", help="a folder written by tfrecords_tools.convert")
    parser.add_argument("--grid", help="PNG grid path (default OUT/inspect_grid.png)")
    parser.add_argument("--no-grid", action="store_true", help="only print the table")
    parser.add_argument("-n", "--num", type=int, default=8, help="pairs in the grid (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random pick (default 0)")
    parser.add_argument("--task", help="only this task (name or letter) in the grid")
    parser.add_argument("--split", help="only this split in the grid")
    parser.add_argument("--verify", action="store_true", help="check framing and SHA-256 of every shard")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_tensorflow()  # records are parsed with TensorFlow's protos
    try:
        task = get_task(args.task) if args.task else None
        print(format_table(summarize(args.out)))
        status = EXIT_OK
        if args.verify:
            problems = verify(args.out)
            for p in problems:
                print(f"BAD: {p}", file=sys.stderr)
            print("verify: all shards match manifest.json" if not problems else f"verify: {len(problems)} problem(s)")
            status = EXIT_FAILED if problems else EXIT_OK
        if not args.no_grid:
            examples = sample_examples(args.out, args.num, seed=args.seed, task=task, split=args.split)
            if not examples:
                raise ValueError(f"{args.out} holds no examples of {selection_text(task, args.split)}")
            path = write_grid(examples, args.grid or os.path.join(args.out, "inspect_grid.png"))
            print(f"grid of {len(examples)} random input/target pairs -> {path}")
        return status
    except (DataError, ValueError, KeyError) as error:
        return fail(error)


if __name__ == "__main__":
    sys.exit(main())
