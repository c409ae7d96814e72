"""The layers are written with `keras.ops` only, so they run on Keras's other backends: the layer-vs-NumPy
reference tests, Keras's layer harness and the dtype policies (all of tests/keras_durbm/test_layers.py),
and the network's forward pass and `.keras` round trip run again under `KERAS_BACKEND=jax` (the CPU jax
wheel of the `dev` extra), in a child process. The network's other tests (parameter counts, sizes, the
gradient paths) check the model's structure, which does not depend on the backend."""

import re

import pytest

from tests.support.processes import run_python

NETWORK = "tests/keras_durbm/test_network.py::"
FILES = ["tests/keras_durbm/test_layers.py", NETWORK + "test_output_is_input_plus_compensation",
         NETWORK + "test_keras_save_and_safe_load_give_identical_outputs"]


@pytest.mark.slow
def test_layer_and_network_round_trip_tests_pass_under_jax():
    pytest.importorskip("jax", reason="the dev extra installs jax; without it the JAX backend cannot be tested")
    done = run_python(["-m", "pytest", "-q", "-p", "no:cacheprovider", *FILES], timeout=900, KERAS_BACKEND="jax")
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    skipped = int(m.group(1)) if (m := re.search(r"(\d+) skipped", summary)) else 0
    assert passed >= 70 and skipped <= 4, summary  # the TensorFlow-graph and -tape checks alone are skipped
