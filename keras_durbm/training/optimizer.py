"""The optimizer: Adam as in the paper (§5.1.2), bias-corrected per variable, with TensorFlow's fused kernel.

Two departures from `keras.optimizers.Adam`, both about multi-task training:

* **Per-variable step counts.** A minibatch of task T updates only the variables on T's
  path, so a decoder trained on 1 of 6 minibatches has seen a sixth of the updates the
  global iteration count says. Keras bias-corrects every variable with the global count,
  which underestimates such a decoder's second moment early on and makes its first few
  hundred steps ~√6 times too large; on the demo this drove three of four decoders' ReLUs
  dead (output = input). `FusedAdam` counts each variable's own updates, which is what
  PyTorch's Adam (the authors' framework) does for parameters that get no gradient.
* **One fused op per variable.** Keras's Adam builds ~40 graph ops per variable, most of
  the time spent tracing a head's train step; `ResourceApplyAdam` is one op.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_durbm.config.experiment import ExperimentConfig


class FusedAdam(keras.optimizers.Adam):
    """Adam (no amsgrad) with per-variable bias correction and `tf.raw_ops.ResourceApplyAdam`. TF backend only.

    For a variable updated for the n-th time: `m ← m + (g − m)(1 − β1)`,
    `v ← v + (g² − v)(1 − β2)`, `w ← w − lr·√(1 − β2ⁿ)/(1 − β1ⁿ) · m/(√v + ε)`.
    When every variable is updated at every step, n is the iteration count and this is
    exactly `keras.optimizers.Adam`.
    """

    def __init__(self, *args, **kwargs):
        if kwargs.get("amsgrad"):
            raise ValueError("FusedAdam does not implement amsgrad; use keras.optimizers.Adam")
        super().__init__(*args, **kwargs)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._update_counts = [
            self.add_variable(shape=(), initializer="zeros", dtype="float32",
                              name=f"{getattr(v, 'path', v.name)}_updates".replace("/", "_").replace(":", "_"))
            for v in var_list
        ]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        var = variable.value if isinstance(variable, keras.Variable) else variable
        dtype = var.dtype
        count = self._update_counts[index].value.handle
        bump = tf.raw_ops.AssignAddVariableOp(resource=count, value=tf.constant(1.0, tf.float32))
        with tf.control_dependencies([bump]):
            updates = tf.cast(tf.raw_ops.ReadVariableOp(resource=count, dtype=tf.float32), dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=var.handle,
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=tf.pow(beta_1, updates),
            beta2_power=tf.pow(beta_2, updates),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )


def make_optimizer(config: ExperimentConfig,
                   learning_rate: keras.optimizers.schedules.LearningRateSchedule | None = None) -> keras.optimizers.Optimizer:
    """Adam with the config's hyper-parameters, its rate from `learning_rate` (a schedule; by default the
    config's constant rate); wrapped for dynamic loss scaling under mixed_float16."""
    opt = config.optimizer
    optimizer = FusedAdam(learning_rate=opt.learning_rate if learning_rate is None else learning_rate, beta_1=opt.beta_1, beta_2=opt.beta_2, epsilon=opt.epsilon)
    if config.runtime.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
