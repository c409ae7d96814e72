"""How fast each command-line tool answers `--help`, and whether it imported TensorFlow to do so.

    python bench/cli_startup.py [--repeats 3]

Prints a table: command, median wall time of `python -m <tool> --help` (a fresh process each time),
whether TensorFlow was imported, and how many lines went to stderr (should be 0). Run it on a quiet
machine; it names the machine (`bench/machine.py`) and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = ["keras_durbm.train", "keras_durbm.evaluate", "keras_durbm.restore", "keras_durbm.model_card", "keras_durbm.study",
         "keras_durbm.app", "tfrecords_tools.convert", "tfrecords_tools.inspect_shards", "export", "serving.client",
         "serving.standin"]
# Runs the tool's `--help` in-process and reports whether TensorFlow ended up in sys.modules.
PROBE = ("import runpy, sys; sys.argv = [{tool!r}, '--help']\n"
         "try:\n    runpy.run_module({tool!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "print('TF=' + str('tensorflow' in sys.modules), file=sys.stderr)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import machine  # bench/machine.py, beside this script

    print(machine.header(), flush=True)  # before the work: the load average at start
    print(f"run: median of {args.repeats} fresh processes per command")
    print(f"{'command':<34} {'--help ms':>10} {'imports TF':>11} {'stderr lines':>13}")
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    for tool in TOOLS:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", tool, "--help"], cwd=ROOT, env=env, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        probe = subprocess.run([sys.executable, "-c", PROBE.format(tool=tool)], cwd=ROOT, env=env,
                               capture_output=True, text=True)
        lines = probe.stderr.strip().splitlines()
        imported = lines[-1] == "TF=True" if lines else False
        print(f"python -m {tool:<24} {1000 * statistics.median(times):>10.0f} {'yes' if imported else 'no':>11} "
              f"{len(lines) - 1:>13}")


if __name__ == "__main__":
    main()
