"""Training speed of the custom loop per preset: median step time per head, steps/s and crops/s.

    python bench/train_speed.py [--presets small paper demo] [--crop 256] [--batch 4] [--steps 5]
        [--topology R>B>J>H] [--set key=value ...]

Runs the real train step (`keras_durbm.training.Trainer`, default strategy, one
head per step as in training) on random in-memory crops, so data loading is not
measured. Each head is traced and warmed up first; the table gives the median of
`--steps` timed steps per head and the cycle-weighted rate of the pattern
(`BBBHRJ`: 3 of 6 steps run the B head).
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

from keras_durbm.config.experiment import build_config  # noqa: E402
from keras_durbm.config.tasks import get_task  # noqa: E402
from keras_durbm.models import count_parameters  # noqa: E402
from keras_durbm.training.trainer import Trainer  # noqa: E402


def head_step_seconds(trainer: Trainer, task: str, crop: int, batch: int, steps: int) -> float:
    """Median seconds of one train step of `task`'s head (after a trace and a warm-up step)."""
    rng = np.random.default_rng(0)
    element = {"input": tf.constant(rng.random((batch, crop, crop, 3), dtype=np.float32)),
               "target": tf.constant(rng.random((batch, crop, crop, 3), dtype=np.float32)),
               "task": tf.constant(trainer.task_names.index(task), tf.int32)}
    trainer.train_step(element)
    trainer.train_step(element)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.train_step(element)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["small", "paper"],
                        help="model presets (paper, small, demo, tiny)")
    parser.add_argument("--topology", default="R>B>J>H")
    parser.add_argument("--pattern", default="BBBHRJ")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4, help="global batch size of every task")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per head")
    parser.add_argument("--set", action="append", default=[], help="extra config overrides")
    args = parser.parse_args()

    print(machine.header(), flush=True)  # before the work: the load average at start
    print(f"run: TF {tf.__version__}, GPUs: {len(tf.config.list_physical_devices('GPU'))}; "
          f"crop {args.crop}², batch {args.batch}, topology {args.topology}, cycle {args.pattern}; "
          f"median of {args.steps} steps per head after warm-up; default strategy, float32")
    print(f"{'preset':<8} {'params':>9} " + " ".join(f"{get_task(t).name + ' ms':>14}" for t in dict.fromkeys(
        args.topology.replace('>', ''))) + f" {'steps/s':>8} {'crops/s':>8}")
    for preset in args.presets:
        config = build_config("paper", assignments=[
            "data.source=demo", f"model_preset={preset}", f"model.topology={args.topology}", f"data.pattern={args.pattern}", f"data.crop={args.crop}",
            f"data.batch_size={args.batch}", "runtime.strategy=default", *args.set])
        trainer = Trainer(config, tf.distribute.get_strategy())
        seconds = {t: head_step_seconds(trainer, t, args.crop, args.batch, args.steps) for t in trainer.task_names}
        cycle = sum(seconds[get_task(letter).name] for letter in args.pattern)
        steps_per_second = len(args.pattern) / cycle
        cells = " ".join(f"{1000 * seconds[get_task(t).name]:>14.0f}" for t in dict.fromkeys(
            args.topology.replace('>', '')))
        print(f"{preset:<8} {count_parameters(trainer.model):>9,} {cells} {steps_per_second:>8.2f} "
              f"{steps_per_second * args.batch:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
