"""Input-pipeline throughput: 256x256 training crops per second from 1280x720 shards, on this machine.

Builds shards of 1280x720 pairs (scikit-image photographs resized, motion blur synthesized) in PNG and in
raw uint8 records, then times `pipeline.task_dataset` (and one `multitask_dataset`) at batch 32 and prints
a table (median of several runs) and whether the pipeline keeps up with training of the `paper` preset
(the lead's estimate: one 256x256 step of batch 32 in ~0.1 s on a GPU, i.e. ~320 crops/s).

    python bench/pipeline.py                     # ~2 min on 2 busy cores
    python bench/pipeline.py --size 640x360      # the paper's half-size GoPro / DIV2K
    python bench/pipeline.py --images 32 --runs 5 --seconds 4 --step-time 0.1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "motorcycle_left",
          "retina", "logo", "colorwheel")


def photos(n: int, width: int = 1280, height: int = 720) -> dict[str, np.ndarray]:
    """`n` RGB images of `width` x `height`: scikit-image sample photographs, centre-cropped to the aspect
    ratio and resized, each also mirrored/shifted so that no two images are identical."""
    base = []
    for name in PHOTOS:
        try:
            img = getattr(skimage.data, name)()
        except Exception:  # some samples need a download; skip those
            continue
        if img.ndim != 3 or img.shape[2] < 3:
            continue
        img = np.ascontiguousarray(img[..., :3])
        h, w = img.shape[:2]
        ch = min(h, int(w * height / width))
        cw = int(ch * width / height)
        top, left = (h - ch) // 2, (w - cw) // 2
        crop = Image.fromarray(img[top:top + ch, left:left + cw])
        base.append(np.asarray(crop.resize((width, height), Image.Resampling.BICUBIC)))
    out = {}
    for i in range(n):
        img = base[i % len(base)]
        variant = i // len(base)
        img = np.roll(img[:, ::-1] if variant % 2 else img, 97 * variant, axis=1)
        out[f"photo_{i:03d}"] = np.ascontiguousarray(img)
    return out


def measure(make_ds, seconds: float, runs: int, warmup: float) -> tuple[float, list[float], float]:
    """Median crops/s over `runs` timed windows of at least `seconds` each (whole batches), after a warm-up
    of `warmup` seconds (fills shuffle buffers and the prefetch buffers of every task). Also returns the
    median crops per CPU-second of this process (all threads), which does not depend on how busy the
    machine is."""
    it = iter(make_ds())
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warmup:
        next(it)
    rates, per_cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        crops = 0
        while True:
            crops += int(next(it)["input"].shape[0])
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                break
        rates.append(crops / elapsed)
        per_cpu.append(crops / max(time.process_time() - c0, 1e-9))
    return statistics.median(rates), rates, statistics.median(per_cpu)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=16, help="pairs per format (default 16)")
    p.add_argument("--size", default="1280x720",
                   help="WxH of the images (default 1280x720, full GoPro; 640x360 is the paper's --half)")
    p.add_argument("--batch", type=int, default=32, help="batch size (default 32, the paper preset)")
    p.add_argument("--crop", type=int, default=256, help="crop size (default 256)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per configuration (median reported)")
    p.add_argument("--seconds", type=float, default=2.0, help="minimum length of one timed run (default 2 s)")
    p.add_argument("--step-time", type=float, default=0.1,
                   help="seconds per training step of the paper preset on a GPU (default 0.1, lead's estimate)")
    p.add_argument("--workdir", help="where to write the shards (default: a temporary folder)")
    args = p.parse_args(argv)

    import machine  # bench/machine.py, beside this script

    print(machine.header(), flush=True)
    import tensorflow as tf

    from keras_durbm.config.tasks import MOTION_BLUR
    from tfrecords_tools import pipeline
    from tfrecords_tools.converters import convert_synth
    from tfrecords_tools.manifest import shard_files
    from tfrecords_tools.writer import WriteConfig

    cores = os.cpu_count() or 1
    need = args.batch / args.step_time
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(f"run: TensorFlow {tf.__version__}, {cores} CPU core(s); {args.images} pairs of {width}x{height}, "
          f"{args.crop}x{args.crop} crops, batch {args.batch}")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        images = photos(args.images, width, height)
        t0 = time.perf_counter()
        sizes = {}
        for enc in ("png", "raw"):
            out = os.path.join(tmp, enc)
            g = convert_synth(images, out, task=MOTION_BLUR, seed=0, params={"length": [5.0, 15.0]},
                              write=WriteConfig(encoding=enc, min_shards=4, progress=False))
            sizes[enc] = g.num_bytes / 1e6
        print(f"wrote {args.images} pairs as PNG ({sizes['png']:.0f} MB) and raw ({sizes['raw']:.0f} MB) "
              f"records in {time.perf_counter() - t0:.1f} s\n")
        files = {enc: shard_files(os.path.join(tmp, enc), MOTION_BLUR, "train") for enc in ("png", "raw")}

        configs = [("png", 1), ("png", 4), ("raw", 1), ("raw", 4)]
        rows = []
        for enc, k in configs:
            def make(enc=enc, k=k):
                return pipeline.task_dataset(files[enc], crop=args.crop, batch_size=args.batch, seed=0,
                                             crops_per_image=k)
            rows.append((f"task_dataset {enc}", k, *measure(make, args.seconds, args.runs, args.seconds)))

        def make_mt():
            fbt = {"motion_blur": files["png"], "haze": files["png"], "rain": files["png"]}
            return pipeline.multitask_dataset(fbt, pattern="BBBHR", crop=args.crop, seed=0, crops_per_image=4,
                                              batch_sizes={"B": args.batch, "H": args.batch, "R": args.batch})
        rows.append(("multitask BBBHR png", 4, *measure(make_mt, args.seconds, args.runs, 4 * args.seconds)))

    print(f"{'pipeline':<20} {'crops/img':>9} {'crops/s':>8} {'runs':>16} {'crops/CPU-s':>11} "
          f"{'cores for ' + format(need, '.0f') + '/s':>14}  keeps up on {cores} free cores?")
    for name, k, med, rates, per_cpu in rows:
        runs = ", ".join(f"{r:.0f}" for r in rates)
        print(f"{name:<20} {k:>9} {med:>8.0f} {runs:>16} {per_cpu:>11.0f} {need / per_cpu:>14.1f}  "
              f"{'yes' if per_cpu * cores >= need else 'NO'}")
    png1, best = rows[0], max(rows, key=lambda r: r[4])
    print(f"\ncrops/s is wall-clock on this (possibly shared) machine; crops/CPU-s is what one free core "
          f"delivers.\nThe paper preset needs ~{need:.0f} crops/s (batch {args.batch} per {args.step_time} s step).")
    print(f"PNG, one crop per decoded {width}x{height} pair: {png1[4]:.0f} crops per CPU-second -> "
          f"{'keeps up' if png1[4] * cores >= need else 'PNG decoding is the bottleneck'} on {cores} cores; "
          f"~{need / png1[4]:.1f} cores would be needed.")
    print(f"Best here: {best[0]}, {best[1]} crop(s)/image: {best[4]:.0f} crops per CPU-second, ~{need / best[4]:.1f} "
          f"cores for {need:.0f}/s. Remedies: --format raw (no decoding, ~2.7x the disk), crops_per_image > 1, "
          "--half (the paper's half-size GoPro/DIV2K: 4x fewer pixels to decode), more input cores.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
