"""A minibatch of task T trains exactly the path to head T: encoder, the blocks below T, T's decoder.

That every weight on the path gets a gradient is tested once, in tests/keras_durbm/test_network.py."""

import numpy as np

from keras_durbm.models import head_model


def expected_path(model, task: str) -> set[str]:
    """Variable paths on the way to `task`'s head, from the layer names (docs/design.md §1.6)."""
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
