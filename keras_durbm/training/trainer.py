"""The distributed train step: one compiled step per head, run with `strategy.run` (docs/design.md §1.7, §4).

A minibatch of task T goes through `head_model(model, T)`, so only the encoder,
the blocks below T and T's decoder run and receive gradients. The per-image loss
is summed and divided by the *global* batch size on each replica; the optimizer
all-reduces (sums) the gradients across replicas and workers, so the update
equals the one-device update on the whole global batch. With
`optimizer.moments=per_task` each head has its own Adam over its path.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_durbm.losses import restoration_loss
from keras_durbm.models.network import build_durbm, head_model
from keras_durbm.tasks import Task
from keras_durbm.training.config import ExperimentConfig
from keras_durbm.training.optimizer import make_optimizer
from keras_durbm.training.schedule import PlateauSchedule


def zero_output_kernels(model) -> None:
    """Sets the kernel of every head's output conv to zero: each head starts as the identity (eq. 5 with g = 0)."""
    for task in model.task_names:
        kernels = [v for v in model.weights if v.path.startswith(f"{task}_decoder_out/") and v.name == "kernel"]
        if len(kernels) != 1:
            raise RuntimeError(f"cannot find the output conv kernel of head {task}: {[v.path for v in kernels]}")
        kernels[0].assign(keras.ops.zeros_like(kernels[0]))


class Trainer:
    """Model, optimizer, schedule and step counter of a run, plus its compiled per-task steps.

    Build it after the strategy (and its device set-up) exists. Variables are created in
    `strategy.scope()`, so they are mirrored across replicas.

    Args:
        config: the experiment.
        strategy: the `tf.distribute` strategy (the default one for a single device).
    """

    def __init__(self, config: ExperimentConfig, strategy: tf.distribute.Strategy):
        self.config = config
        self.strategy = strategy
        self.tasks = config.tasks
        self.task_names = config.task_names
        with strategy.scope():
            keras.utils.set_random_seed(config.runtime.seed)
            self.model = build_durbm(config.model)
            if config.init.zero_output_kernels:
                zero_output_kernels(self.model)
            if config.optimizer.moments == "per_task":
                self.optimizers = {t: make_optimizer(config) for t in self.task_names}
                for task, optimizer in self.optimizers.items():
                    optimizer.build(head_model(self.model, task).trainable_variables)
            else:
                shared = make_optimizer(config)
                shared.build(self.model.trainable_variables)
                self.optimizers = dict.fromkeys(self.task_names, shared)
        self.schedule = PlateauSchedule(config.schedule, config.optimizer.learning_rate)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._steps = {task.name: self._make_step(task) for task in config.tasks}

    @property
    def optimizer(self) -> keras.optimizers.Optimizer:
        """The optimizer (with `optimizer.moments=per_task`: the first head's)."""
        return self.optimizers[self.task_names[0]]

    def checkpoint_objects(self) -> dict:
        """Everything a checkpoint must hold to resume this trainer exactly."""
        if self.config.optimizer.moments == "per_task":
            optimizers = {f"optimizer_{task}": opt for task, opt in self.optimizers.items()}
        else:
            optimizers = {"optimizer": self.optimizer}
        return {"model": self.model, **optimizers, "schedule": self.schedule, "step": self.step}

    @property
    def learning_rate(self) -> float:
        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))

    def sync_learning_rate(self) -> None:
        """Sets the optimizers' rate for the next step from the schedule (warm-up, plateau cuts, restore)."""
        rate = self.schedule.rate_at(int(self.step.numpy()))
        for optimizer in {id(o): o for o in self.optimizers.values()}.values():
            optimizer.learning_rate.assign(rate)

    def _make_step(self, task: Task):
        head = head_model(self.model, task.name)
        variables = head.trainable_variables
        global_batch = self.config.data.batch_size_of(task)
        weight = self.config.loss.weight_of(task)
        optimizer = self.optimizers[task.name]

        def replica_step(batch, stop):
            with tf.GradientTape() as tape:
                restored = head(batch["input"], training=True)
                per_image = restoration_loss(restored, batch["target"], reduction="none")
                loss = tf.nn.compute_average_loss(per_image, global_batch_size=global_batch)
                scaled = optimizer.scale_loss(loss * weight)
            gradients = tape.gradient(scaled, variables)
            optimizer.apply_gradients(zip(gradients, variables))
            # The stop flag rides along so all workers agree to stop at the same step.
            return tf.stack([loss, stop])

        @tf.function(autograph=False)
        def step(distributed_batch, stop):
            per_replica = self.strategy.run(replica_step, args=(distributed_batch, stop))
            return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        return step

    def task_of(self, distributed_batch) -> int:
        """The task index of a distributed minibatch (all local replicas carry the same one)."""
        tasks = {int(t) for t in self.strategy.experimental_local_results(distributed_batch["task"])}
        if len(tasks) != 1:
            raise RuntimeError(f"replicas received minibatches of different tasks {sorted(tasks)}; "
                               "the input pipeline must give every replica of a step the same task")
        return tasks.pop()

    def train_step(self, distributed_batch, stop: bool = False) -> tuple[str, float, bool]:
        """Runs one step on the batch's task; returns (task name, global mean loss, any worker asked to stop).

        `stop` is this worker's request; it is summed across workers with the loss.
        """
        name = self.task_names[self.task_of(distributed_batch)]
        flag = tf.constant(1.0 if stop else 0.0, tf.float32)
        loss, stops = self._steps[name](distributed_batch, flag).numpy()
        self.step.assign_add(1)
        return name, float(loss), bool(stops > 0)
