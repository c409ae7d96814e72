"""MirroredStrategy (2 logical CPUs) and MultiWorkerMirroredStrategy (2 local workers) against one device.

All runs see the same global minibatches from the same initial weights (see
dist_run.py), so after a few steps the weights must agree up to float summation
order: the gradients of the two halves of a batch are summed instead of computed
at once. Tolerance: 1e-5 absolute after 4 Adam steps of lr 1e-3 (a wrong batch
split or loss scale would differ by ~1e-3).
"""

import json
import socket

import numpy as np
import pytest

ATOL = 1e-5


def assert_close_weights(result: dict, reference: dict) -> None:
    assert result["tasks"] == reference["tasks"]
    assert result["iterations"] == reference["iterations"]
    for name, value in reference["initial"].items():
        np.testing.assert_array_equal(result["initial"][name], value, err_msg=f"initial {name}")
    worst = max(float(np.max(np.abs(result["final"][n] - v))) for n, v in reference["final"].items())
    moved = max(float(np.max(np.abs(reference["final"][n] - v))) for n, v in reference["initial"].items())
    assert moved > 100 * ATOL, "the reference run barely trained; the comparison would prove nothing"
    assert worst < ATOL, f"largest weight difference to the one-device run: {worst:g}"
    np.testing.assert_allclose(result["losses"], reference["losses"], rtol=1e-5)


@pytest.mark.slow
def test_mirrored_two_logical_cpus_equals_one_device(tmp_path, reference_run, dist_run, child_python):
    out = tmp_path / "mirrored.npz"
    done = child_python.run_python(["-m", "tests.support.dist_run", "--strategy", "mirrored", "--logical-devices", "2",
                                    "--out", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    result = dist_run.load(str(out))
    assert result["replicas"] == 2
    assert_close_weights(result, reference_run)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_two_processes_agree_with_one_device(tmp_path, reference_run, dist_run, child_python):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        procs.append(child_python.start_python(["-m", "tests.support.dist_run", "--strategy", "multi_worker",
                                                "--out", str(tmp_path / f"worker{index}.npz")], TF_CONFIG=tf_config))
    try:
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    first, second = (dist_run.load(str(tmp_path / f"worker{i}.npz")) for i in range(2))
    assert first["replicas"] == second["replicas"] == 2
    for name, value in first["final"].items():
        np.testing.assert_array_equal(second["final"][name], value, err_msg=f"workers disagree on {name}")
    assert_close_weights(first, reference_run)
