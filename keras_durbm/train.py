"""Trains a multi-head DuRB-M network: `python -m keras_durbm.train [--config FILE.yaml] [--set key=value ...]`.

With no arguments it runs the embedded demo: synthesises blur/haze/rain/JPEG pairs
from scikit-image's photographs, trains a lightened `small` network (~10 minutes on 2 CPU
cores), scores held-out photographs and writes runs/demo/{model.keras,
before_after.png, summary.json}. Rerunning the same command resumes from the last
checkpoint. Exit status: 0 done, 2 bad config or data, 1 training failed (NaN loss),
128+N when stopped by signal N (after writing a checkpoint).
"""

from __future__ import annotations

import argparse
import os
import sys

import yaml

from keras_durbm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, quiet_tensorflow
from keras_durbm.config.engine import to_dict
from keras_durbm.config.experiment import EXPERIMENTS, build_config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m keras_durbm.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="demo", choices=sorted(EXPERIMENTS),
                        help="named experiment the overrides apply to (default: demo)")
    parser.add_argument("--config", action="append", default=[], metavar="FILE.yaml",
                        help="YAML file of overrides (repeatable, applied in order)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one field, e.g. --set data.batch_size=16 (applied after --config)")
    parser.add_argument("--run-dir", help="run folder (default: runs/<experiment>)")
    parser.add_argument("--print-config", action="store_true", help="print the effective config and exit")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = build_config(args.experiment, args.config, args.set)
    except (KeyError, ValueError, TypeError) as error:
        return fail(error)
    if args.print_config:
        print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
        return EXIT_OK

    quiet_tensorflow()
    # heavy (TensorFlow, the training loop): imported once the config is known to be valid
    from keras_durbm.training.demo import closing_note
    from keras_durbm.training.loop import train

    run_dir = args.run_dir or os.path.join("runs", config.experiment)
    try:
        result = train(config, run_dir, progress=args.progress)
    except FloatingPointError as error:
        return fail(error, EXIT_FAILED)
    except (ValueError, OSError, RuntimeError, TimeoutError) as error:
        return fail(error, EXIT_USAGE)
    if result.interrupted:
        return result.exit_code
    if config.data.source == "demo" and result.summary.get("evaluation"):
        print(closing_note(result.summary))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
