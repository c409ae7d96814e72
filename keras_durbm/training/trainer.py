"""The distributed train step: one compiled step per head, run with `strategy.run` (docs/design.md §1.7, §4).

A minibatch of task T goes through `head_model(model, T)`, so only the encoder,
the blocks below T and T's decoder run and receive gradients. The per-image loss
is summed and divided by the *global* batch size on each replica; the optimizer
all-reduces (sums) the gradients across replicas and workers, so the update
equals the one-device update on the whole global batch. With
`optimizer.moments=per_task` each head has its own Adam over its path.

With a degradation classifier (`model.classifier`) every step also trains it: the minibatch's inputs
are labelled with its task and its targets as `clean`, and its class-balanced cross-entropy (times
`loss.classifier_weight`) joins the head's loss. Its gradient stops at the encoder unless
`model.classifier_backprop`. The `schedule.classifier_steps` after the joint ones run the classifier
alone: only its own weights change.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf

from keras_durbm.config.experiment import ExperimentConfig
from keras_durbm.config.tasks import CLEAN, Task, get_task
from keras_durbm.models.network import build_durbm, classifier_model, head_model
from keras_durbm.models.saving import load_durbm
from keras_durbm.training.losses import restoration_loss
from keras_durbm.training.optimizer import make_optimizer
from keras_durbm.training.schedule import PlateauSchedule


def zero_output_kernels(model) -> None:
    """Sets the kernel of every head's output conv to zero: each head starts as the identity (eq. 5 with g = 0)."""
    for task in model.task_names:
        kernels = [v for v in model.weights if v.path.startswith(f"{task}_decoder_out/") and v.name == "kernel"]
        if len(kernels) != 1:
            raise RuntimeError(f"cannot find the output conv kernel of head {task}: {[v.path for v in kernels]}")
        kernels[0].assign(keras.ops.zeros_like(kernels[0]))


CLASSIFIER_LAYER = "degradation_classifier"


def copy_weights(source, target) -> list[str]:
    """Copies every layer's weights from `source` into the same-named layer of `target` (same shapes);
    returns the names of `target`'s weighted layers left as they were (no such layer in `source`)."""
    by_name = {layer.name: layer for layer in source.layers}
    fresh = []
    for layer in target.layers:
        if not layer.weights:
            continue
        twin = by_name.get(layer.name)
        if twin is None or [w.shape for w in twin.weights] != [w.shape for w in layer.weights]:
            fresh.append(layer.name)
            continue
        layer.set_weights(twin.get_weights())
    return fresh


class StepResult(NamedTuple):
    """One step, reduced over replicas: the task, its restoration loss (NaN when the heads are not
    trained), the classifier's cross-entropy and accuracy (NaN without one), any worker asked to stop."""

    task: str
    loss: float
    classifier_loss: float
    classifier_accuracy: float
    stop: bool


class Trainer:
    """Model, optimizers, schedule and step counter of a run, plus its compiled per-task steps.

    Build it after the strategy (and its device set-up) exists. Variables are created in
    `strategy.scope()`, so they are mirrored across replicas.

    Args:
        config: the experiment.
        strategy: the `tf.distribute` strategy (the default one for a single device).
        say: where notes go (which layers `init.model` left fresh).
    """

    def __init__(self, config: ExperimentConfig, strategy: tf.distribute.Strategy, say=print):
        self.config = config
        self.strategy = strategy
        self.tasks = config.tasks
        self.task_names = config.task_names
        self.joint_steps = config.schedule.total_steps
        self.classifying = config.model.classifier
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # the optimizers' learning rate: each update reads the rate of `step` from it
        self.schedule = PlateauSchedule(config.schedule, config.optimizer.learning_rate, self.step)
        with strategy.scope():
            keras.utils.set_random_seed(config.runtime.seed)
            self.model = build_durbm(config.model)
            if config.init.model:
                fresh = copy_weights(load_durbm(config.init.model), self.model)
                unexpected = [name for name in fresh if name != CLASSIFIER_LAYER]
                if unexpected:
                    raise ValueError(f"init.model {config.init.model}: no weights for layers {unexpected}")
                say(f"initialised from {config.init.model}" + (f" (new: {', '.join(fresh)})" if fresh else ""))
            elif config.init.zero_output_kernels:
                zero_output_kernels(self.model)
            self.optimizers = self._make_optimizers()
        self._steps = {}
        for task in config.tasks:
            if self.joint_steps:
                self._steps[True, task.name] = self._make_step(task, restoring=True)
            if self.classifying and config.schedule.classifier_steps:
                self._steps[False, task.name] = self._make_step(task, restoring=False)

    def classifier_variables(self) -> list:
        return list(self.model.get_layer(CLASSIFIER_LAYER).trainable_variables) if self.classifying else []

    @property
    def restoring(self) -> bool:
        """Whether the next step is a joint one (heads and classifier) rather than a classifier step."""
        return int(self.step.numpy()) < self.joint_steps

    def _make_optimizers(self) -> dict:
        """`{task or "classifier": optimizer}`: one shared Adam, or one per head (and one for the classifier)."""
        heads = self.task_names if self.joint_steps else ()
        names = [*heads, *(("classifier",) if self.classifying else ())]
        if self.config.optimizer.moments == "shared":
            shared = make_optimizer(self.config, self.schedule)
            shared.build(self.model.trainable_variables if heads else self.classifier_variables())
            return dict.fromkeys(names, shared)
        optimizers = {}
        for name in names:
            optimizers[name] = make_optimizer(self.config, self.schedule)
            variables = (self.classifier_variables() if name == "classifier"
                         else head_model(self.model, name).trainable_variables)
            optimizers[name].build(variables)
        return optimizers

    @property
    def optimizer(self) -> keras.optimizers.Optimizer:
        """The optimizer (with `optimizer.moments=per_task`: the first head's, or the classifier's)."""
        return next(iter(self.optimizers.values()))

    def checkpoint_objects(self) -> dict:
        """Everything a checkpoint must hold to resume this trainer exactly."""
        if self.config.optimizer.moments == "per_task":
            optimizers = {f"optimizer_{name}": opt for name, opt in self.optimizers.items()}
        else:
            optimizers = {"optimizer": self.optimizer}
        return {"model": self.model, **optimizers, "schedule": self.schedule, "step": self.step}

    @property
    def learning_rate(self) -> float:
        """The rate of the next step (what every optimizer reads from the schedule)."""
        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))

    def _make_step(self, task: Task, restoring: bool):
        """The compiled step of `task`'s minibatches: joint (`restoring`: the head and the classifier), or
        the classifier alone."""
        classifying = self.classifying
        global_batch = self.config.data.batch_size_of(task)
        weight = self.config.loss.weight_of(task)
        classifier_weight = self.config.loss.classifier_weight
        head = head_model(self.model, task.name)
        # inputs and targets in one batch: the classifier's batch normalisation must see both kinds at once
        classify = classifier_model(self.model) if classifying else None
        labels = (self.model.classes.index(task.name), self.model.classes.index(CLEAN)) if classifying else None
        head_optimizer = self.optimizers.get(task.name) if restoring else None
        class_optimizer = self.optimizers.get("classifier")
        head_variables = head.trainable_variables if restoring else []
        class_variables = self.classifier_variables()
        shared = head_optimizer is class_optimizer or not classifying or not restoring
        nan = tf.constant(float("nan"), tf.float32)

        balance = self._class_balance(task) if classifying else None

        def classifier_terms(inputs, targets):
            probabilities = classify(tf.concat([inputs, targets], axis=0), training=True)
            n = tf.shape(targets)[0]
            truth = tf.concat([tf.fill([n], labels[0]), tf.fill([n], labels[1])], axis=0)
            weights = tf.concat([tf.fill([n], balance[0]), tf.fill([n], balance[1])], axis=0)
            per_image = keras.losses.sparse_categorical_crossentropy(truth, probabilities) * weights
            loss = tf.nn.compute_average_loss(per_image, global_batch_size=2 * global_batch)
            hits = tf.cast(tf.equal(tf.argmax(probabilities, axis=-1, output_type=tf.int32), truth), tf.float32)
            return loss, tf.reduce_sum(hits) / (2.0 * global_batch)

        def replica_step(batch, stop):
            with tf.GradientTape(persistent=not shared) as tape:
                loss = class_loss = accuracy = nan
                total = tf.constant(0.0, tf.float32)
                if restoring:
                    restored = head(batch["input"], training=True)
                    per_image = restoration_loss(restored, batch["target"], reduction="none")
                    loss = tf.nn.compute_average_loss(per_image, global_batch_size=global_batch)
                    total = loss * weight
                if classifying:
                    class_loss, accuracy = classifier_terms(batch["input"], batch["target"])
                    total = total + class_loss * classifier_weight
                # scaled inside the tape, so that the scaling is differentiated too
                if shared:
                    optimizer = head_optimizer or class_optimizer
                    scaled = optimizer.scale_loss(total)
                else:  # per-task moments: the head's Adam and the classifier's own
                    scaled = head_optimizer.scale_loss(total)
                    class_scaled = class_optimizer.scale_loss(class_loss * classifier_weight)
            if shared:
                variables = head_variables + class_variables
                gradients = tape.gradient(scaled, variables)
                optimizer.apply_gradients(zip(gradients, variables))
            else:
                gradients = tape.gradient(scaled, head_variables)
                head_optimizer.apply_gradients(zip(gradients, head_variables))
                gradients = tape.gradient(class_scaled, class_variables)
                class_optimizer.apply_gradients(zip(gradients, class_variables))
            # The stop flag rides along so all workers agree to stop at the same step.
            return tf.stack([loss, class_loss, accuracy, stop])

        @tf.function(autograph=False)
        def step(distributed_batch, stop):
            per_replica = self.strategy.run(replica_step, args=(distributed_batch, stop))
            return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        return step

    def _class_balance(self, task: Task) -> tuple[float, float]:
        """Cross-entropy weights of `task`'s inputs and of the targets (`clean`) that make every class count
        the same over a training cycle: half of all images are targets, and a task's share of the inputs is
        its share of `data.pattern` (images of a class × its weight is the same for every class)."""
        pattern = [get_task(letter).name for letter in self.config.data.pattern]
        share = {name: pattern.count(name) * self.config.data.batch_size_of(get_task(name)) for name in set(pattern)}
        total = sum(share.values())
        classes = len(share) + 1
        # w_T · n_T = w_clean · total for every task, and the weights average 1 over the cycle's 2·total images
        return 2.0 * total / (classes * share[task.name]), 2.0 / classes

    def task_of(self, distributed_batch) -> int:
        """The task index of a distributed minibatch (all local replicas carry the same one)."""
        tasks = {int(t) for t in self.strategy.experimental_local_results(distributed_batch["task"])}
        if len(tasks) != 1:
            raise RuntimeError(f"replicas received minibatches of different tasks {sorted(tasks)}; "
                               "the input pipeline must give every replica of a step the same task")
        return tasks.pop()

    def train_step(self, distributed_batch, stop: bool = False) -> StepResult:
        """Runs one step on the batch's task (global means over replicas and workers).

        `stop` is this worker's request; it is summed across workers with the loss.
        """
        name = self.task_names[self.task_of(distributed_batch)]
        flag = tf.constant(1.0 if stop else 0.0, tf.float32)
        loss, class_loss, accuracy, stops = self._steps[self.restoring, name](distributed_batch, flag).numpy()
        self.step.assign_add(1)
        return StepResult(name, float(loss), float(class_loss), float(accuracy), bool(stops > 0))
