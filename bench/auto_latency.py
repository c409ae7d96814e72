"""What blind restoration costs at serving time: the `auto` SavedModel beside one head and every head.

    python bench/auto_latency.py --model runs/demo [--size 256 512] [--repeats 7] [--threads 2]

Exports, into a temporary folder, the model's `auto` SavedModel (classifier + `tf.switch_case` over the
heads' tails), the SavedModel of the head that `auto` picks for the benchmark image, and the multi-head
SavedModel (every head from one encoder pass), then times `serving_default` on one image per size
(median of `--repeats` calls after one warm-up) and prints a table with the ratio to the single head.
The image is a bundled photograph hazed by the project's synthesis, so `auto` routes it to a real head;
the table says which. Run it on a quiet machine; it names the machine and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: tracing and allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/demo", help="a trained model with a degradation classifier")
    parser.add_argument("--size", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import machine  # bench/machine.py, beside this script

    print(machine.header(), flush=True)  # before the work: the load average at start

    from keras_durbm.cli import quiet_tensorflow

    quiet_tensorflow()
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from export import saved_model
    from export import signature_names as sig
    from keras_durbm.models import load_durbm
    from keras_durbm.restoration.routing import check_classifier, classify
    from tfrecords_tools.photos import load_photos
    from tfrecords_tools.synthesis import add_haze

    model = load_durbm(args.model)
    check_classifier(model, args.model)
    print(f"run: TF {tf.__version__}, {args.threads} threads; model {args.model}; "
          f"median of {args.repeats} calls")
    with tempfile.TemporaryDirectory(prefix="auto-bench-") as folder:
        auto = tf.saved_model.load(saved_model.export_auto(model, os.path.join(folder, "auto")))
        every = tf.saved_model.load(saved_model.export_multihead(model, os.path.join(folder, "every")))
        heads = {}
        print(f"{'size':>6} {'auto picks':>12} {'one head ms':>12} {'auto ms':>9} {'every head ms':>14} "
              f"{'auto/one':>9} {'every/one':>10}")
        for size in args.size:
            [(_, photo)] = load_photos(("astronaut",), size)
            image = add_haze(photo[:size, :size].astype(np.float32) / np.float32(255.0), 0)[None]
            picked = classify(model, image[0], tile_above=None).best
            if picked == "clean":
                picked = model.task_names[0]  # a clean verdict costs less than any head; time a head anyway
            if picked not in heads:
                heads[picked] = tf.saved_model.load(
                    saved_model.export_head(model, picked, os.path.join(folder, picked)))
            x = tf.constant(image)
            timings = {}
            for name, loaded in (("one", heads[picked]), ("auto", auto), ("every", every)):
                function = loaded.signatures[sig.SERVING_DEFAULT]
                timings[name] = median_seconds(lambda f=function, x=x: f(**{sig.INPUT_FLOAT: x}), args.repeats)
            print(f"{size:>6} {picked:>12} {1000 * timings['one']:>12.1f} {1000 * timings['auto']:>9.1f} "
                  f"{1000 * timings['every']:>14.1f} {timings['auto'] / timings['one']:>9.2f} "
                  f"{timings['every'] / timings['one']:>10.2f}")


if __name__ == "__main__":
    main()
