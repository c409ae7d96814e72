"""A minibatch of task T trains exactly the path to head T: encoder, the blocks below T, T's decoder."""

import numpy as np
import tensorflow as tf

from keras_durbm.losses import restoration_loss
from keras_durbm.models import head_model


def expected_path(model, task: str) -> set[str]:
    """Variable paths on the way to `task`'s head, from the layer names (DESIGN §1.6)."""
    depth = model.topology.depth_of(task)
    prefixes = ["encoder_", f"{task}_decoder_", *(f"extra_durbm{d}/" for d in range(1, depth + 1))]
    return {v.path for v in model.trainable_variables if v.path.startswith(tuple(prefixes))}


def test_head_model_holds_exactly_the_path(reference_run):
    model = reference_run["trainer"].model
    assert model.task_names == ("rain", "motion_blur")  # R on the encoder, B above one extra block
    for task in model.task_names:
        assert {v.path for v in head_model(model, task).trainable_variables} == expected_path(model, task)
    assert not any(p.startswith("extra_durbm") for p in expected_path(model, "rain"))
    assert any(p.startswith("extra_durbm1/") for p in expected_path(model, "motion_blur"))


def test_every_weight_on_the_path_gets_a_gradient(reference_run, rng):
    model = reference_run["trainer"].model
    images = rng.random((2, 16, 16, 3)).astype(np.float32)
    targets = np.clip(images + 0.1, 0, 1).astype(np.float32)
    for task in model.task_names:
        head = head_model(model, task)
        with tf.GradientTape() as tape:
            loss = restoration_loss(head(images, training=True), targets)
        grads = tape.gradient(loss, head.trainable_variables)
        zero = [v.path for v, g in zip(head.trainable_variables, grads) if g is None or not np.any(g.numpy())]
        assert not zero, f"{task}: no gradient for {zero}"


def test_train_step_changes_only_the_path(reference_run):
    model = reference_run["trainer"].model
    states = [reference_run["initial"], *reference_run["snapshots"]]
    assert set(reference_run["tasks"]) == {"rain", "motion_blur"}
    assert reference_run["iterations"] == len(reference_run["tasks"])
    for step, task in enumerate(reference_run["tasks"]):
        before, after = states[step], states[step + 1]
        path = expected_path(model, task)
        moved = {name for name in before if not np.array_equal(before[name], after[name])}
        assert moved == path, f"step {step + 1} ({task}): moved off path {sorted(moved - path)}, " \
                              f"still on path {sorted(path - moved)}"
