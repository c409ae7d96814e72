"""Reduce-on-plateau learning rate ("lr ÷ 10 when the loss plateaus", paper §5.1.2), checkpointable.

The one home of the learning rate: the optimizers are built with the schedule as their
`learning_rate` (a `keras.optimizers.schedules.LearningRateSchedule`), so each update reads the rate
of the run's current step from it; nothing copies a rate into an optimizer. The state lives in
`tf.Variable`s so a `tf.train.Checkpoint` saves and restores it with the model and the optimizer: a
resumed run continues the same schedule.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf

from keras_durbm.config.experiment import ScheduleConfig


class PlateauSchedule(keras.optimizers.schedules.LearningRateSchedule, tf.Module):
    """Averages the training loss over windows of `plateau_window` steps and cuts the rate on plateaus.

    A window's mean counts as an improvement when it is below `best · (1 − plateau_min_delta)`;
    after `plateau_patience` windows in a row without one, the rate is multiplied by
    `plateau_factor` (floored at `min_learning_rate`) and the count starts again.

    As an optimizer's learning rate it gives the rate of the run's step counter `step` (`rate_at`), not
    of the optimizer's own iteration count: with `optimizer.moments=per_task` each head's Adam counts only
    its own updates, while warm-up and the classifier's decay follow the run's steps.

    Args:
        config: the schedule section of the experiment config.
        initial_learning_rate: the optimizer's starting rate.
        step: the run's step counter (0-based index of the next step); a new one at 0 by default.
    """

    def __init__(self, config: ScheduleConfig, initial_learning_rate: float, step: tf.Variable | None = None):
        tf.Module.__init__(self, name="plateau_schedule")
        self.config = config
        self.step = step if step is not None else tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.learning_rate = tf.Variable(float(initial_learning_rate), dtype=tf.float64, trainable=False)
        self.best = tf.Variable(math.inf, dtype=tf.float64, trainable=False)
        self.bad_windows = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.window_sum = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.window_count = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.reductions = tf.Variable(0, dtype=tf.int64, trainable=False)

    def update(self, loss: float) -> bool:
        """Adds one step's loss; returns True when this step lowered the learning rate."""
        if not math.isfinite(loss):
            return False
        self.window_sum.assign_add(float(loss))
        self.window_count.assign_add(1)
        if int(self.window_count.numpy()) < self.config.plateau_window:
            return False
        mean = float(self.window_sum.numpy()) / float(self.window_count.numpy())
        self.window_sum.assign(0.0)
        self.window_count.assign(0)
        if mean < float(self.best.numpy()) * (1.0 - self.config.plateau_min_delta):
            self.best.assign(mean)
            self.bad_windows.assign(0)
            return False
        self.bad_windows.assign_add(1)
        if int(self.bad_windows.numpy()) < self.config.plateau_patience:
            return False
        self.bad_windows.assign(0)
        lowered = max(float(self.learning_rate.numpy()) * self.config.plateau_factor, self.config.min_learning_rate)
        if lowered >= float(self.learning_rate.numpy()):
            return False
        self.learning_rate.assign(lowered)
        self.reductions.assign_add(1)
        return True

    @property
    def current(self) -> float:
        """The plateau rule's rate (after warm-up)."""
        return float(self.learning_rate.numpy())

    def __call__(self, iterations=None) -> tf.Tensor:
        """The rate of the run's current step (float32), as an optimizer asks for it at each update;
        `iterations`, the optimizer's own count, is not used (see the class docstring)."""
        return self._rate(self.step)

    def rate_at(self, step: int) -> float:
        """The rate for step `step` (0-based): the current rate, scaled down linearly during warm-up, and
        from the current rate linearly towards 0 over the `classifier_steps` that follow the joint ones
        (the classifier learns from small crops whose labels are often ambiguous: a decaying rate makes
        its final weights an average over many minibatches rather than the last few's)."""
        return float(self._rate(tf.constant(step, tf.int64)).numpy())

    def _rate(self, step) -> tf.Tensor:
        """`rate_at` in TensorFlow ops, so that a compiled train step reads it afresh at every call."""
        warmup, joint, last = self.config.warmup_steps, self.config.total_steps, self.config.classifier_steps
        step = tf.cast(step, tf.float64)
        rate = self.learning_rate
        if warmup:
            rate = rate * tf.minimum(tf.constant(1.0, tf.float64), (step + 1.0) / warmup)
        if last:
            rate = tf.where(step >= joint, self.learning_rate * (1.0 - (step - joint) / last), rate)
        return tf.cast(rate, tf.float32)

    def get_config(self) -> dict:
        """What Keras serialises of an optimizer's rate (the state itself is in the checkpoint)."""
        return {"initial_learning_rate": self.current, **dataclasses.asdict(self.config)}
