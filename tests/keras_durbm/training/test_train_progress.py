"""What a run says about its length: the step budget before training, one estimate of the time left from
the early steps (tracing left out), and the demo's one-thread-per-op setting reaching TensorFlow."""

import pytest

from keras_durbm.config.experiment import RuntimeConfig, build_config
from keras_durbm.training.loop import step_budget
from keras_durbm.training.progress import RemainingTime, format_duration
from tests.support.processes import run_python


def test_the_estimate_comes_once_from_the_rate_after_the_traced_steps():
    remaining = RemainingTime(start=100, total=1100)
    clock = {100 + s: 2.0 * s for s in range(0, RemainingTime.SKIP + 1)}  # tracing: 2 s a step
    clock.update({110 + s: 20.0 + 0.25 * s for s in range(1, RemainingTime.WINDOW + 1)})  # then 4 steps/s
    lines = [remaining.line(step, clock[step]) for step in sorted(clock)]
    [line] = [text for text in lines if text]
    left = 1100 - 150
    assert line == f"step 150: 4.0 steps/s, {left} steps left: about {format_duration(left / 4.0)} more"
    assert format_duration(left / 4.0) == "3m58s" and format_duration(3723) == "1h02m03s"


def test_no_estimate_when_the_run_ends_first_or_resumes_at_its_end():
    short = RemainingTime(start=0, total=30)
    assert [short.line(step, float(step)) for step in range(1, 31)] == [None] * 30
    assert RemainingTime(start=0, total=50).line(50, 50.0) is None


def test_the_budget_line_names_steps_batch_and_crop():
    config = build_config("demo")
    assert step_budget(config, 0, 1750) == (
        "step budget: 1750 steps (1600 joint, 150 classifier-only), global batch 8 of 48² crops; the time left "
        "is estimated after 50 steps")
    assert ", 750 left from step 1000," in step_budget(config, 1000, 1750)
    smoke = build_config("smoke", assignments=["data.batch_sizes={H: 4}", "model.classifier=false"])
    assert step_budget(smoke, 0, smoke.schedule.total_steps).startswith(
        f"step budget: {smoke.schedule.total_steps} steps ({smoke.schedule.total_steps} joint), global batch ")


def test_intra_op_threads_reaches_tensorflow_before_it_starts():
    assert build_config("demo").runtime.intra_op_threads == 1
    with pytest.raises(ValueError, match="runtime.intra_op_threads must be >= 0"):
        RuntimeConfig(intra_op_threads=-1)
    done = run_python(["-c", "import tensorflow as tf\n"
                       "from keras_durbm.config.experiment import RuntimeConfig\n"
                       "from keras_durbm.training.strategy import make_strategy\n"
                       "make_strategy(RuntimeConfig(intra_op_threads=1))\n"
                       "print('threads', tf.config.threading.get_intra_op_parallelism_threads())"], timeout=300)
    assert done.returncode == 0 and "threads 1" in done.stdout, done.stderr[-2000:]
