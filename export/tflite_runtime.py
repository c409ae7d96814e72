"""Running the TFLite models with LiteRT (`ai_edge_litert`), and what XNNPACK runs of them.

Imports no TensorFlow, so `python -m export.tflite_runtime MODEL H W` can probe a model in a fresh
process: XNNPACK has been seen to abort the whole process ("double free") on some int8 graphs rather
than raise, so the export probes each model in a child process before running it in its own.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys

import numpy as np

PROBE_TIMEOUT_S = 300


def _interpreter(path: str, num_threads: int | None, xnnpack: bool):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs = {} if xnnpack else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    return Interpreter(model_path=path, num_threads=num_threads or os.cpu_count(), **kwargs)


class LiteRunner:
    """Runs a dynamic-shape TFLite model on float32 NHWC batches; re-allocates when the shape changes.

    With dynamic H and W the input must be resized before `allocate_tensors` (the placeholder is
    1×1×1×3, too small for the network). `xnnpack=False` uses the built-in kernels only.
    """

    def __init__(self, path: str, *, num_threads: int | None = None, xnnpack: bool = True):
        self.path = path
        self.interpreter = _interpreter(path, num_threads, xnnpack)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.shape: tuple[int, ...] | None = None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.shape != self.shape:
            self.interpreter.resize_tensor_input(self.input, list(batch.shape), strict=False)
            self.interpreter.allocate_tensors()
            self.shape = batch.shape
        self.interpreter.set_tensor(self.input, batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output).copy()


def execution_plan(interpreter) -> collections.Counter:
    """Op names of the nodes the interpreter runs, delegate kernels counted as `DELEGATE`.

    After delegation the node list holds the original nodes and, appended, one `DELEGATE` node per
    partition; walking back from the outputs through each tensor's last producer visits exactly the
    executed nodes.
    """
    producer = {}
    for op in interpreter._get_ops_details():  # delegate nodes come last and replace the nodes they cover
        for tensor in op["outputs"]:
            producer[int(tensor)] = op
    seen: set[int] = set()
    plan: collections.Counter = collections.Counter()
    stack = [int(d["index"]) for d in interpreter.get_output_details()]
    while stack:
        op = producer.get(stack.pop())
        if op is None or op["index"] in seen:
            continue
        seen.add(op["index"])
        plan[op["op_name"]] += 1
        stack.extend(int(t) for t in op["inputs"] if t >= 0)
    return plan


def delegate_summary(runner: LiteRunner) -> dict:
    """`{"partitions": XNNPACK partitions, "undelegated_ops": {op: count}}` of an allocated runner."""
    plan = execution_plan(runner.interpreter)
    partitions = plan.pop("DELEGATE", 0)
    return {"partitions": partitions, "undelegated_ops": dict(sorted(plan.items()))}


def probe(path: str, height: int, width: int, *, num_threads: int | None = None) -> dict:
    """Prepares and runs `path` under XNNPACK in a child process: its delegate summary, or the failure.

    Returns `{"ok": True, "partitions": n, "undelegated_ops": {...}}` or `{"ok": False, "error": text}`.
    """
    command = [sys.executable, "-m", "export.tflite_runtime", path, str(height), str(width),
               str(num_threads or os.cpu_count())]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"XNNPACK probe timed out after {PROBE_TIMEOUT_S} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        return {"ok": True, **json.loads(lines[-1])}
    detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    how = f"crashed (signal {-done.returncode})" if done.returncode < 0 else "failed"
    return {"ok": False, "error": f"XNNPACK {how}: {detail}"}


def _main(argv: list[str]) -> int:
    path, height, width, threads = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    runner = LiteRunner(path, num_threads=threads)
    runner(np.full((1, height, width, 3), 0.5, np.float32))
    print(json.dumps(delegate_summary(runner)))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
