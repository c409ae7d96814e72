"""Model card: `python -m keras_durbm.model_card --preset paper --topology "R>B>J>H" [--plot FILE]`.

Prints parameters, weight layers and multiply-adds per megapixel of the whole network and of each
head's path (what a one-head export or a training step of that task runs). Exit status 0, or 2 on a
bad preset, topology or `--set` override.
"""

from __future__ import annotations

import argparse
import sys

from keras_durbm.cli import EXIT_OK, fail, quiet_tensorflow
from keras_durbm.config.engine import apply_overrides
from keras_durbm.config.model import MODEL_PRESETS, model_preset


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m keras_durbm.model_card", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="paper", choices=sorted(MODEL_PRESETS))
    parser.add_argument("--topology", help="where the heads sit, e.g. 'R>B>J>H' (default: the preset's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a ModelConfig field")
    parser.add_argument("--plot", metavar="FILE", help="write a diagram of the topology (.png or .svg)")
    parser.add_argument("--measure-size", type=int, default=256, help="image side used to count multiply-adds")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides = ([f"topology={args.topology}"] if args.topology else []) + args.set
        config = apply_overrides(model_preset(args.preset), assignments=overrides)
        quiet_tensorflow()
        from keras_durbm.models.card import card_for, format_card, plot_topology  # heavy: Keras, after --help

        card = card_for(config, args.measure_size)
    except (KeyError, ValueError, TypeError) as error:
        return fail(error)
    print(format_card(card, args.preset))
    if args.plot:
        plot_topology(card, args.plot)
        print(f"wrote {args.plot}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
