"""Median forward-pass time of the network per preset, head and image size, on this machine.

    python bench/forward.py [--presets paper small] [--sizes 256] [--repeats 10]

Prints a table. Times one head's sub-model (what serving runs) and the whole
multi-head network, each traced once with `tf.function` and warmed up first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import machine  # bench/machine.py, beside this script

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_durbm.config.model import model_preset  # noqa: E402
from keras_durbm.models import build_durbm, head_model  # noqa: E402


def median_ms(fn, x, repeats: int) -> float:
    fn(x)  # trace + warm-up
    fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x).numpy()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["paper", "small"])
    parser.add_argument("--topology", default="R>B>J>H")
    parser.add_argument("--sizes", nargs="+", type=int, default=[256])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    print(machine.header(), flush=True)  # before the work: the load average at start
    print(f"run: TF {tf.__version__}; topology {args.topology}; median of {args.repeats} calls after warm-up")
    print(f"{'preset':<8} {'size':>6} {'what':<18} {'median ms':>10}")
    for preset in args.presets:
        model = build_durbm(model_preset(preset, topology=args.topology))
        for size in args.sizes:
            x = tf.constant(np.random.default_rng(0).random((1, size, size, 3), dtype=np.float32))
            first, last = model.task_names[0], model.task_names[-1]
            for label, net in ((f"head {first}", head_model(model, first)), (f"head {last}", head_model(model, last))):
                fn = tf.function(lambda t, net=net: net(t, training=False))
                print(f"{preset:<8} {size:>6} {label:<18} {median_ms(fn, x, args.repeats):>10.1f}")
            fn = tf.function(lambda t, model=model, last=last: model(t, training=False)[last])
            print(f"{preset:<8} {size:>6} {'all heads':<18} {median_ms(fn, x, args.repeats):>10.1f}")


if __name__ == "__main__":
    main()
