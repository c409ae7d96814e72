"""How far tiled restoration is from whole-image restoration, and what each setting costs.

    python bench/tiling.py [--model M | --preset small] [--task haze] [--size 1500 2000]
                           [--settings whole 1024:64 512:32] [--repeats 3]

The test photo is a 2x2 mosaic of scikit-image's sample photographs (astronaut, coffee, chelsea, rocket),
each resized to a quarter of `--size`, degraded with the task's synthesizer. Without `--model` the
`--preset` network (default `small`) with fixed random weights is used (say so when quoting the numbers: a trained model's
attention may react to local statistics differently). Each setting runs in its own process so that its
peak memory (`ru_maxrss`) is its own; time is the median of `--repeats` restorations after a warm-up
trace on a small image; "work" is the pixels the network processed over the image's pixels (overlaps
and padding cost that much more). PSNR (uint8 RGB, peak 255) compares each tiled output with the
whole-image one; "PSNR vs clean" scores against the undegraded mosaic (meaningless for random weights).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import machine  # bench/machine.py, beside this script

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

DEFAULT_SETTINGS = ["whole", "1024:64", "1024:32", "512:64", "512:32", "512:0", "256:32"]
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def mosaic(height: int, width: int) -> np.ndarray:
    """uint8 (height, width, 3): four sample photographs, each resized (bicubic) into one quadrant."""
    import skimage.data
    from PIL import Image

    h2, w2 = height // 2, width // 2
    out = np.zeros((height, width, 3), np.uint8)
    for i, name in enumerate(PHOTOS):
        top, left = (i // 2) * h2, (i % 2) * w2
        th, tw = (height - h2 if i // 2 else h2), (width - w2 if i % 2 else w2)
        photo = Image.fromarray(getattr(skimage.data, name)()).resize((tw, th), Image.Resampling.BICUBIC)
        out[top:top + th, left:left + tw] = np.asarray(photo)
    return out


def load_or_build(model_path: str | None, workdir: str, preset: str):
    """The model at `model_path`, or `preset` with seed-0 random weights saved into `workdir`."""
    from keras_durbm.models import load_durbm

    if model_path:
        return load_durbm(model_path), model_path
    path = os.path.join(workdir, f"{preset}-random.keras")
    if not os.path.exists(path):
        import keras

        from keras_durbm.config.model import model_preset
        from keras_durbm.models import build_durbm, save_durbm

        keras.utils.set_random_seed(0)
        save_durbm(build_durbm(model_preset(preset, topology="R>B>H")), path)
    return load_durbm(path), f"{preset} preset, random weights (seed 0)"


def tiling_work(setting: str, height: int, width: int) -> tuple[int, float]:
    """(number of passes, processed pixels / image pixels) of a setting, padding included."""
    from keras_durbm.restoration.tiling import tile_starts

    def padded(n: int) -> int:
        return -(-n // 4) * 4

    if setting == "whole":
        return 1, padded(height) * padded(width) / (height * width)
    tile, overlap = map(int, setting.split(":"))
    rows, cols = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    th, tw = padded(min(tile, height)), padded(min(tile, width))
    return len(rows) * len(cols), len(rows) * len(cols) * th * tw / (height * width)


def worker(args) -> None:
    """One setting in this process: restore `--repeats` times, save the output, print a JSON line."""
    from keras_durbm.config.tasks import get_task
    from keras_durbm.restoration.tiling import restore

    model = load_or_build(args.model_file, args.workdir, args.preset)[0]
    image = np.load(os.path.join(args.workdir, "input.npy"))
    tile, overlap = (None, 0) if args.setting == "whole" else map(int, args.setting.split(":"))
    restore(model, image[:64, :64], get_task(args.task))  # trace once (shapes are dynamic, no retrace later)
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        out = restore(model, image, get_task(args.task), tile=tile, overlap=overlap, tile_above=None)
        times.append(time.perf_counter() - start)
    np.save(os.path.join(args.workdir, f"out-{args.setting.replace(':', '_')}.npy"), out)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"setting": args.setting, "seconds": statistics.median(times), "peak_mb": peak_kb / 1024,
                      "base_mb": base_kb / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="trained .keras file or run folder (default: small preset, random weights)")
    parser.add_argument("--preset", default="small", help="preset of the random-weight model (no --model)")
    parser.add_argument("--task", default="haze")
    parser.add_argument("--size", nargs=2, type=int, default=[1500, 2000], metavar=("H", "W"))
    parser.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS, help="'whole' or TILE:OVERLAP")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setting", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--model-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    print(machine.header(), flush=True)  # before the work: the load average at start

    from keras_durbm.config.tasks import get_task
    from keras_durbm.images.pixels import to_uint8
    from keras_durbm.scoring.metrics import psnr
    from tfrecords_tools.synthesis import get_synthesizer

    settings = ["whole", *[s for s in args.settings if s != "whole"]]
    with tempfile.TemporaryDirectory(prefix="bench-tiling-") as workdir:
        clean = mosaic(*args.size).astype(np.float32) / 255
        degraded = np.clip(get_synthesizer(get_task(args.task))(clean, 0), 0, 1).astype(np.float32)
        np.save(os.path.join(workdir, "input.npy"), degraded)
        described = load_or_build(args.model, workdir, args.preset)[1]
        rows = []
        for setting in settings:
            cmd = [sys.executable, __file__, "--worker", "--setting", setting, "--workdir", workdir, "--task", args.task,
                   "--repeats", str(args.repeats), "--preset", args.preset] + (["--model-file", args.model] if args.model else [])
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode:
                sys.exit(f"setting {setting} failed:\n{proc.stderr[-3000:]}")
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"done {setting}", file=sys.stderr)
        outputs = {s: np.load(os.path.join(workdir, f"out-{s.replace(':', '_')}.npy")) for s in settings}
        target = to_uint8(clean)
        whole_u8 = to_uint8(outputs["whole"])

        print(f"run: model: {described}; task {args.task}")
        print(f"image: {args.size[0]}x{args.size[1]} mosaic of {', '.join(PHOTOS)}, degraded by the {args.task} "
              f"synthesizer (seed 0); median of {args.repeats} run(s)")
        print(f"{'setting':<10} {'tiles':>5} {'work':>5} {'seconds':>8} {'peak MB':>8} {'+MB':>7} {'PSNR vs whole':>14} "
              f"{'max |diff|':>10} {'PSNR vs clean':>14}")
        for row in rows:
            setting = row["setting"]
            out_u8 = to_uint8(outputs[setting])
            tiles, work = tiling_work(setting, *args.size)
            if setting == "whole":
                vs_whole, diff = "-", "-"
            else:
                vs_whole = f"{psnr(out_u8, whole_u8, colour='rgb'):.2f}"
                diff = f"{np.abs(outputs[setting] - outputs['whole']).max():.4f}"
            print(f"{setting:<10} {tiles:>5} {work:>5.2f} {row['seconds']:>8.2f} {row['peak_mb']:>8.0f} "
                  f"{row['peak_mb'] - row['base_mb']:>7.0f} {vs_whole:>14} {diff:>10} "
                  f"{psnr(out_u8, target, colour='rgb'):>14.2f}")
        print(f"{'input':<10} {'':>5} {'':>5} {'':>8} {'':>8} {'':>7} {'':>14} {'':>10} "
              f"{psnr(to_uint8(degraded), target, colour='rgb'):>14.2f}")


if __name__ == "__main__":
    main()
