"""Model card CLI: `python -m keras_durbm.model --preset paper --topology "R>B>J>H" [--plot FILE]`."""

from __future__ import annotations

import argparse
import os
import sys

from keras_durbm.config import MODEL_PRESETS, apply_overrides, model_preset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_durbm.model", description=__doc__)
    parser.add_argument("--preset", default="paper", choices=sorted(MODEL_PRESETS))
    parser.add_argument("--topology", help="where the heads sit, e.g. 'R>B>J>H' (default: the preset's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a ModelConfig field")
    parser.add_argument("--plot", metavar="FILE", help="write a diagram of the topology (.png or .svg)")
    parser.add_argument("--measure-size", type=int, default=256, help="image side used to count multiply-adds")
    args = parser.parse_args(argv)

    try:
        config = model_preset(args.preset)
        overrides = ([f"topology={args.topology}"] if args.topology else []) + args.set
        config = apply_overrides(config, assignments=overrides)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from keras_durbm.model_card import card_for, format_card, plot_topology

        card = card_for(config, args.measure_size)
    except (KeyError, ValueError, TypeError) as error:
        print(f"error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    print(format_card(card, args.preset))
    if args.plot:
        plot_topology(card, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
