"""Pieces of the loop's state: plateau schedule, fused Adam, checkpoint contents, signals, data sharding."""

import os
import signal
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_durbm.config.experiment import ScheduleConfig, build_config
from keras_durbm.models import head_model
from keras_durbm.training.checkpoints import RunCheckpoint
from keras_durbm.training.data import ArrayData
from keras_durbm.training.loop import prepare_run_dir
from keras_durbm.training.optimizer import FusedAdam
from keras_durbm.training.schedule import PlateauSchedule
from keras_durbm.training.signals import StopRequest
from keras_durbm.training.strategy import make_strategy
from keras_durbm.training.trainer import Trainer


def schedule(**overrides) -> PlateauSchedule:
    config = ScheduleConfig(**{"plateau_window": 2, "plateau_patience": 2, "plateau_factor": 0.1,
                               "plateau_min_delta": 0.01, "min_learning_rate": 1e-7, **overrides})
    return PlateauSchedule(config, 1e-3)


def cuts(plateau: PlateauSchedule, losses) -> list[int]:
    """1-based positions of the losses at which the rate was cut."""
    return [i + 1 for i, loss in enumerate(losses) if plateau.update(loss)]


def test_plateau_cuts_after_patience_windows_without_improvement():
    # Windows of 2 losses: [1, 1] is the first best; two windows no better → cut at the 6th loss.
    plateau = schedule()
    assert cuts(plateau, [1.0] * 6) == [6]
    assert plateau.current == pytest.approx(1e-4)
    assert cuts(plateau, [1.0] * 4) == [4]  # counting restarts after a cut
    assert plateau.current == pytest.approx(1e-5)
    assert int(plateau.reductions.numpy()) == 2


def test_plateau_keeps_the_rate_while_the_loss_falls_by_more_than_min_delta():
    plateau = schedule()
    assert cuts(plateau, [1.0 * 0.95**i for i in range(40)]) == []
    assert plateau.current == pytest.approx(1e-3)
    # 0.5% per window is below the 1% relative margin: a plateau.
    slow = schedule()
    assert cuts(slow, [1.0 * 0.9975**i for i in range(6)]) == [6]


def test_plateau_respects_the_floor_and_ignores_nan():
    plateau = schedule(min_learning_rate=5e-5)
    assert cuts(plateau, [1.0, float("nan")] + [1.0] * 5) == [7]
    assert cuts(plateau, [1.0] * 4) == [4]
    assert plateau.current == pytest.approx(5e-5)
    assert cuts(plateau, [1.0] * 8) == []  # already at the floor


def test_warmup_ramps_the_rate_linearly_then_follows_the_plateau_rule():
    plateau = schedule(warmup_steps=4)
    assert [plateau.rate_at(step) for step in range(6)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    cuts(plateau, [1.0] * 6)
    assert plateau.rate_at(0) == pytest.approx(2.5e-5) and plateau.rate_at(10) == pytest.approx(1e-4)


def test_fused_adam_equals_keras_adam_when_every_variable_updates():
    rng = np.random.default_rng(0)
    start = rng.standard_normal((4, 3)).astype(np.float32)
    grads = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(5)]
    finals = []
    for cls in (keras.optimizers.Adam, FusedAdam):
        weight = keras.Variable(start)
        optimizer = cls(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-7)
        for g in grads:
            optimizer.apply_gradients([(tf.constant(g), weight)])
        finals.append(weight.numpy())
    np.testing.assert_allclose(finals[1], finals[0], atol=1e-6)
    assert np.abs(finals[0] - start).max() > 0.01


def numpy_adam(weight, grads, lr=0.01, beta_1=0.9, beta_2=0.999, eps=1e-7):
    """Kingma & Ba with the bias correction of this variable's own update count n = 1, 2, ..."""
    m = v = 0.0
    for n, g in enumerate(grads, start=1):
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        weight = weight - lr * np.sqrt(1 - beta_2**n) / (1 - beta_1**n) * m / (np.sqrt(v) + eps)
    return weight


def test_fused_adam_bias_corrects_each_variable_by_its_own_updates():
    # `shared` is updated at every step, `head` at one step in three (a decoder of a 1-in-3 task).
    rng = np.random.default_rng(3)
    shared0, head0 = rng.standard_normal(5).astype(np.float32), rng.standard_normal(2).astype(np.float32)
    grads = [(rng.standard_normal(5).astype(np.float32), rng.standard_normal(2).astype(np.float32))
             for _ in range(9)]
    shared, head = keras.Variable(shared0), keras.Variable(head0)
    optimizer = FusedAdam(learning_rate=0.01, epsilon=1e-7)
    optimizer.build([shared, head])
    for step, (g_shared, g_head) in enumerate(grads):
        pairs = [(tf.constant(g_shared), shared)] + ([(tf.constant(g_head), head)] if step % 3 == 0 else [])
        optimizer.apply_gradients(pairs)
    np.testing.assert_allclose(shared.numpy(), numpy_adam(shared0, [g for g, _ in grads]), atol=1e-6)
    np.testing.assert_allclose(head.numpy(), numpy_adam(head0, [g for k, (_, g) in enumerate(grads) if k % 3 == 0]),
                               atol=1e-6)
    assert int(optimizer.iterations.numpy()) == 9


def tiny_trainer(seed: int = 0, topology: str = "R", moments: str = "shared") -> Trainer:
    config = build_config("smoke", assignments=[f"model.topology={topology}", f"data.pattern={topology.replace('>', '')}",
                                                 f"runtime.seed={seed}", f"optimizer.moments={moments}"])
    return Trainer(config, make_strategy(config.runtime))


def all_state(trainer: Trainer) -> dict[str, np.ndarray]:
    state = {f"model/{v.path}": np.array(v.numpy()) for v in trainer.model.weights}
    # Optimizer paths carry the optimizer's unique name; its variables keep their order.
    for task, optimizer in trainer.optimizers.items():
        state.update({f"optimizer/{task}/{i}/{v.path.split('/')[-1]}": np.array(v.numpy())
                      for i, v in enumerate(optimizer.variables)})
    state.update({f"schedule/{v.name}": np.array(v.numpy()) for v in trainer.schedule.variables})
    state["step"] = trainer.step.numpy()
    return state


@pytest.mark.parametrize("moments", ["shared", "per_task"])
def test_checkpoint_restores_model_optimizer_schedule_and_step(tmp_path, moments):
    trainer = tiny_trainer(seed=0, topology="R>H", moments=moments)
    rng = np.random.default_rng(1)
    for task in ("rain", "haze", "rain"):  # real Adam moments and update counts, per head
        variables = head_model(trainer.model, task).trainable_variables
        trainer.optimizers[task].apply_gradients(
            [(tf.constant(rng.standard_normal(v.shape).astype(np.float32)), v) for v in variables])
    for loss in (1.0, 1.0, 0.5):
        trainer.schedule.update(loss)
    trainer.schedule.learning_rate.assign(3e-5)
    trainer.step.assign(3)
    path = RunCheckpoint(str(tmp_path), 2, **trainer.checkpoint_objects()).save(3)
    assert path.endswith("ckpt-3")

    fresh = tiny_trainer(seed=5, topology="R>H", moments=moments)
    before = all_state(fresh)
    assert RunCheckpoint(str(tmp_path), 2, **fresh.checkpoint_objects()).restore_latest() == path
    saved, restored = all_state(trainer), all_state(fresh)
    assert saved.keys() == restored.keys()
    for key, value in saved.items():
        np.testing.assert_array_equal(restored[key], value, err_msg=key)
    assert any(not np.array_equal(before[k], saved[k]) for k in saved if k.startswith("model/"))
    iterations = {t: int(o.iterations.numpy()) for t, o in fresh.optimizers.items()}
    assert iterations == ({"rain": 2, "haze": 1} if moments == "per_task" else {"rain": 3, "haze": 3})
    assert fresh.learning_rate == pytest.approx(3e-5)

    other = tiny_trainer(topology="R>B>H", moments=moments)  # one block and head more: does not fit
    with pytest.raises(RuntimeError, match="does not match"):
        RunCheckpoint(str(tmp_path), 2, **other.checkpoint_objects()).restore_latest()


def test_run_dir_refuses_a_checkpoint_of_another_model(tmp_path):
    config = build_config("smoke")
    prepare_run_dir(config, str(tmp_path), chief=True)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')
    (tmp_path / "checkpoints" / "ckpt-1.index").write_bytes(b"")
    notes = []
    prepare_run_dir(build_config("smoke", assignments=["data.seed=9"]), str(tmp_path), True, notes.append)
    assert notes == ["note: resuming with changed settings: data.seed"]
    with pytest.raises(ValueError, match="another model config"):
        prepare_run_dir(build_config("smoke", assignments=["model.se_hidden=8"]), str(tmp_path), True)


def test_stop_request_turns_sigterm_into_a_flag():
    previous = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stop.requested and stop.signal_name == "SIGTERM" and stop.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is previous


def test_array_data_workers_and_replicas_split_the_global_batch():
    config = build_config("smoke", assignments=["model.topology=R>B", "data.pattern=BBR", "data.batch_size=8",
                                                "data.batch_sizes={R: 4}", "data.crop=8"])
    rng = np.random.default_rng(2)
    train = {t: (rng.random((3, 12, 12, 3), dtype=np.float32), rng.random((3, 12, 12, 3), dtype=np.float32))
             for t in config.task_names}
    data = ArrayData(config, train)
    # 2 workers × 2 local replicas: each worker's stream gives 2 consecutive pieces per step.
    pieces = [list(data.train_dataset(tf.distribute.InputContext(2, worker, 4), seed=5).take(6).as_numpy_iterator())
              for worker in range(2)]
    for step in range(3):
        expected = data.global_batch(5, step)
        parts = [pieces[w][2 * step + r] for w in range(2) for r in range(2)]
        assert {int(p["task"]) for p in parts} == {int(expected["task"])}
        np.testing.assert_array_equal(np.concatenate([p["input"] for p in parts]), expected["input"])
        np.testing.assert_array_equal(np.concatenate([p["target"] for p in parts]), expected["target"])
    tasks = [int(data.global_batch(5, k)["task"]) for k in range(30)]
    names = [config.task_names[t] for t in tasks]
    assert names.count("motion_blur") == 20 and names.count("rain") == 10  # BBR: 2 of 3 in every cycle


def test_fresh_heads_start_as_the_identity(rng):
    trainer = tiny_trainer(topology="R>H")
    x = rng.random((1, 16, 16, 3)).astype(np.float32)
    for task, restored in trainer.model(x).items():
        np.testing.assert_array_equal(restored.numpy(), x, err_msg=task)
    config = build_config("smoke", assignments=["init.zero_output_kernels=false"])
    random_heads = Trainer(config, make_strategy(config.runtime)).model(x)
    assert all(np.abs(v.numpy() - x).max() > 1e-3 for v in random_heads.values())


def test_mixed_float16_trains_with_loss_scaling(rng):
    config = build_config("smoke", assignments=["model.topology=R", "data.pattern=R",
                                                "runtime.precision=mixed_float16"])
    try:
        trainer = Trainer(config, make_strategy(config.runtime))
        assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
        assert trainer.model.get_layer("rain").compute_dtype == "float16"
        x = rng.random((2, 16, 16, 3)).astype(np.float32)
        element = {"input": tf.constant(x), "target": tf.constant(np.clip(x + 0.1, 0, 1)), "task": tf.constant(0)}
        losses = [trainer.train_step(element)[1] for _ in range(3)]
        assert all(np.isfinite(losses)) and losses[-1] < losses[0]
        assert all(v.dtype == "float32" for v in trainer.model.trainable_variables)  # float32 master weights
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
