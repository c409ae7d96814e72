"""Time from upload to result through the restoration page's HTTP API, for a 512² and a 2048² photograph.

    python bench/app_latency.py [--model runs/demo] [--task auto] [--runs 3] [--sizes 512 2048]

Starts `python -m keras_durbm.app` on a free port of 127.0.0.1 and, per size, posts scikit-image's
astronaut (512², resized with Lanczos for other sizes, hazed by the project's haze synthesis) as a PNG,
polls the job and downloads the restored PNG, as the page does. Prints the machine (`bench/machine.py`:
CPU, cores, vector extensions, load average at start), then per size the first request (which traces
the head) and the median of `--runs` more.
Without `--model`, runs/demo is used when it exists, else the demo's architecture with untrained weights
(the time does not depend on the weights).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def untrained_demo_model(folder: str) -> str:
    """The demo's network (model preset `demo`, R>B>J>H with a classifier) with fresh weights, saved in `folder`."""
    from keras_durbm.cli import quiet_tensorflow

    quiet_tensorflow()
    import keras

    from keras_durbm.config.model import model_preset
    from keras_durbm.models import build_durbm, save_durbm

    keras.utils.set_random_seed(0)
    path = os.path.join(folder, "model.keras")
    save_durbm(build_durbm(model_preset("demo", topology="R>B>J>H", classifier=True)), path)
    return path


def photo_png(size: int) -> bytes:
    import numpy as np
    import skimage.data
    from PIL import Image

    from tfrecords_tools.synthesis import add_haze

    image = Image.fromarray(skimage.data.astronaut())
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    hazy = add_haze(np.asarray(image, np.float32) / np.float32(255.0), 1)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.rint(hazy * 255), 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def upload_to_result(url: str, data: bytes, task: str) -> tuple[float, dict]:
    """Seconds from the start of the upload to the end of the result's download, and the job's JSON."""
    query = urllib.parse.urlencode({"name": "astronaut.png", "task": task})
    start = time.perf_counter()
    req = urllib.request.Request(f"{url}api/jobs?{query}", data=data, method="POST",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=600) as answer:
        job = json.loads(answer.read())
    while job["state"] not in ("done", "failed"):
        time.sleep(0.01)
        with urllib.request.urlopen(f"{url}api/jobs/{job['id']}", timeout=60) as answer:
            job = json.loads(answer.read())
    if job["state"] != "done":
        raise RuntimeError(job["error"])
    with urllib.request.urlopen(url + job["result"].lstrip("/"), timeout=600) as answer:
        answer.read()
    return time.perf_counter() - start, job


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .keras file or run folder (default: runs/demo, else the demo's "
                        "architecture untrained)")
    parser.add_argument("--task", default="auto", help="head or auto (default auto; a head when the model has "
                        "no classifier)")
    parser.add_argument("--runs", type=int, default=3, help="timed requests per size after the first")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048])
    args = parser.parse_args()

    import machine  # bench/machine.py, beside this script

    print(machine.header(), flush=True)  # before the work: the load average at start

    scratch = tempfile.mkdtemp(prefix="durbm-bench-app-")
    model = args.model or (os.path.join(ROOT, "runs", "demo") if os.path.isdir(os.path.join(ROOT, "runs", "demo"))
                           else None)
    what = model
    if model is None:
        model = untrained_demo_model(scratch)
        what = "the demo's architecture (model preset demo, R>B>J>H + classifier), untrained weights"
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-m", "keras_durbm.app", "--model", model, "--port", "0"], cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, text=True)
    try:
        url = None
        for line in child.stdout:
            if match := re.search(r"serving at (\S+)", line):
                url = match[1]
                break
            if "no degradation classifier" in line and args.task == "auto":
                args.task = ""  # the app's default: the first head
        if url is None:
            print("error: the app did not start", file=sys.stderr)
            return 1
        print(f"run: model: {what}; task {args.task or 'first head'}; first request, then median of "
              f"{args.runs} more")
        print(f"{'size':>10} {'first ms':>10} {'median ms':>10} {'min ms':>8} {'runs':>5}  routed")
        for size in args.sizes:
            data = photo_png(size)
            first, job = upload_to_result(url, data, args.task)
            times = [upload_to_result(url, data, args.task)[0] for _ in range(args.runs)]
            routed = job.get("summary", "")
            print(f"{f'{size}x{size}':>10} {1000 * first:>10.0f} {1000 * statistics.median(times):>10.0f} "
                  f"{1000 * min(times):>8.0f} {args.runs:>5}  {routed}")
        load = os.getloadavg()
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(60)
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
