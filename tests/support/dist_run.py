"""A few train steps of one fixed tiny experiment under a chosen strategy (helper of the distributed tests).

    python dist_run.py --strategy mirrored --logical-devices 2 --out weights.npz
    TF_CONFIG=... python dist_run.py --strategy multi_worker --out worker0.npz

Every run sees the same global minibatches (`ArrayData` is a pure function of the
seed and the step) and starts from the same weights, so the final weights can be
compared across strategies. The test config uses Adam's ε = 1e-3 instead of 1e-8:
with ε ≈ 0, Adam's first steps move every weight by ±lr whatever the size of its
gradient, so a gradient of ~1e-9 whose sign flips with the summation order would
make a 2·lr difference; with ε = 1e-3 the update is a smooth function of the gradient.
The heads keep their random output kernels (init.zero_output_kernels=false) so that
every weight on a head's path gets a gradient from the first step on.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

STEPS = 4


def experiment(strategy: str, logical_devices: int = 0):
    from keras_durbm.config.experiment import build_config

    return build_config("smoke", assignments=[
        "model.topology=R>B", "data.pattern=BBR", "data.batch_size=4", "data.crop=16",
        "optimizer.learning_rate=0.001", "optimizer.epsilon=0.001", "data.seed=3", "init.zero_output_kernels=false",
        f"runtime.strategy={strategy}", f"runtime.logical_cpu_devices={logical_devices}",
    ])


def arrays(config) -> dict:
    """Fixed random training pairs per task: inputs are noisy copies of smooth targets."""
    rng = np.random.default_rng(11)
    out = {}
    for name in config.task_names:
        target = rng.random((3, 6, 6, 3)).repeat(4, axis=1).repeat(4, axis=2).astype(np.float32)
        noisy = np.clip(target + 0.1 * rng.standard_normal(target.shape), 0, 1).astype(np.float32)
        out[name] = (noisy, target)
    return out


def weights(model) -> dict[str, np.ndarray]:
    return {v.path: np.array(v.numpy()) for v in model.weights}


def run(strategy_name: str, logical_devices: int = 0, steps: int = STEPS, snapshots: bool = False) -> dict:
    """Trains `steps` steps; returns initial/final weights, tasks, losses, optimizer iterations."""
    from keras_durbm.training.data import ArrayData, distribute_training_data
    from keras_durbm.training.strategy import make_strategy
    from keras_durbm.training.trainer import Trainer

    config = experiment(strategy_name, logical_devices)
    strategy = make_strategy(config.runtime)
    trainer = Trainer(config, strategy)
    data = ArrayData(config, arrays(config))
    iterator = iter(distribute_training_data(strategy, data, config))
    result = {"initial": weights(trainer.model), "tasks": [], "losses": [], "snapshots": [],
              "replicas": strategy.num_replicas_in_sync}
    for _ in range(steps):
        step = trainer.train_step(next(iterator))
        result["tasks"].append(step.task)
        result["losses"].append(step.loss)
        if snapshots:
            result["snapshots"].append(weights(trainer.model))
    result["final"] = weights(trainer.model)
    result["iterations"] = int(trainer.optimizer.iterations.numpy())
    result["trainer"] = trainer
    return result


def save(result: dict, path: str) -> None:
    names = sorted(result["final"])
    np.savez(path, names=np.array(names), tasks=np.array(result["tasks"]), losses=np.array(result["losses"]),
             replicas=result["replicas"], iterations=result["iterations"],
             **{f"initial_{i}": result["initial"][n] for i, n in enumerate(names)},
             **{f"final_{i}": result["final"][n] for i, n in enumerate(names)})


def load(path: str) -> dict:
    with np.load(path) as f:
        names = [str(n) for n in f["names"]]
        return {"tasks": [str(t) for t in f["tasks"]], "losses": f["losses"].tolist(),
                "replicas": int(f["replicas"]), "iterations": int(f["iterations"]),
                "initial": {n: f[f"initial_{i}"] for i, n in enumerate(names)},
                "final": {n: f[f"final_{i}"] for i, n in enumerate(names)}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategy", required=True)
    parser.add_argument("--logical-devices", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    save(run(args.strategy, args.logical_devices), args.out)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
