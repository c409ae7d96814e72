"""The degradation classifier's accuracy on many degraded copies of the held-out photographs.

    python bench/classifier_accuracy.py --model runs/demo [--copies 8] [--photos coffee astronaut motorcycle]
        [--max-side 192] [--seed 1000]

The demo's own score (15 held-out images: one copy per photograph and task, plus the clean photographs)
moves by 6.7 points per image. This gives a steadier one: each held-out photograph degraded `--copies`
times per task with the demo's synthesis parameters (strengths drawn from their full ranges, seeds
`--seed + k`, stored as 8-bit images like the demo's shards), plus the clean photographs. Prints the
confusion matrix, per-class precision and recall, and every miss with the strength that was drawn.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/demo")
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--photos", nargs="+", default=["coffee", "astronaut", "motorcycle"])
    parser.add_argument("--max-side", type=int, default=192)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()

    import machine  # bench/machine.py, beside this script

    print(machine.header(), flush=True)  # before the work: the load average at start

    from keras_durbm.cli import error_text, quiet_tensorflow

    quiet_tensorflow()
    from keras_durbm.config.experiment import build_config
    from keras_durbm.config.tasks import CLEAN, get_task
    from keras_durbm.images.pixels import to_float, to_uint8
    from keras_durbm.models import load_durbm
    from keras_durbm.restoration.routing import check_classifier, classify
    from keras_durbm.scoring.confusion import ConfusionMatrix
    from tfrecords_tools.photos import load_photos
    from tfrecords_tools.synthesis import get_synthesizer

    try:
        model = load_durbm(args.model)
        classes = check_classifier(model, args.model)
    except (OSError, ValueError) as error:  # no such model, or one without a classifier: no traceback
        sys.exit(f"error: {error_text(error)}")
    demo = build_config("demo").data.demo
    print(f"run: model {args.model}; {len(args.photos)} photo(s) at max side {args.max_side}, "
          f"{args.copies} copies per task")
    truth, predicted, misses = [], [], []
    for name, photo in load_photos(tuple(args.photos), args.max_side):
        clean = to_float(photo)
        cases = [(CLEAN, clean, {})]
        for task_name in (c for c in classes if c != CLEAN):
            task = get_task(task_name)
            params = {**demo.synthesis.get(task_name, {}), **demo.held_out_synthesis.get(task_name, {})}
            for k in range(args.copies):
                degraded, info = get_synthesizer(task)(clean, args.seed + k, return_info=True, **params)
                drawn = {key: round(v, 2) for key, v in info.items() if isinstance(v, float)}
                cases.append((task_name, to_float(to_uint8(degraded)), drawn))
        for label, image, drawn in cases:
            result = classify(model, image)
            truth.append(label)
            predicted.append(result.best)
            if result.best != label:
                misses.append(f"  {name:<12} {label:<12} {drawn}  → {result.describe()}")
    matrix = ConfusionMatrix.from_labels(classes, truth, predicted)
    print(matrix.format_table())
    print(f"misses ({len(misses)}):", *misses, sep="\n")


if __name__ == "__main__":
    main()
