"""Reduce-on-plateau learning rate ("lr ÷ 10 when the loss plateaus", paper §5.1.2), checkpointable.

The state lives in `tf.Variable`s so a `tf.train.Checkpoint` saves and restores it
with the model and the optimizer: a resumed run continues the same schedule.
"""

from __future__ import annotations

import math

import tensorflow as tf

from keras_durbm.config.experiment import ScheduleConfig


class PlateauSchedule(tf.Module):
    """Averages the training loss over windows of `plateau_window` steps and cuts the rate on plateaus.

    A window's mean counts as an improvement when it is below `best · (1 − plateau_min_delta)`;
    after `plateau_patience` windows in a row without one, the rate is multiplied by
    `plateau_factor` (floored at `min_learning_rate`) and the count starts again.

    Args:
        config: the schedule section of the experiment config.
        initial_learning_rate: the optimizer's starting rate.
    """

    def __init__(self, config: ScheduleConfig, initial_learning_rate: float):
        super().__init__(name="plateau_schedule")
        self.config = config
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

    def rate_at(self, step: int) -> float:
        """The rate for step `step` (0-based): the current rate, scaled down linearly during warm-up, and
        from the current rate linearly towards 0 over the `classifier_steps` that follow the joint ones
        (the classifier learns from small crops whose labels are often ambiguous: a decaying rate makes
        its final weights an average over many minibatches rather than the last few's)."""
        warmup, joint, last = self.config.warmup_steps, self.config.total_steps, self.config.classifier_steps
        if last and step >= joint:
            return self.current * (1.0 - (step - joint) / last)
        return self.current * min(1.0, (step + 1) / warmup) if warmup else self.current
