"""How a model restores photographs it never trained on, degraded by synthesis families held out from its training.

    python bench/generalization.py --model M [--photos DIR] [--seed 0] [--max-side 256] [--json OUT.json]

M is a `.keras` file or a training run folder. A model scored on its own photographs and its own synthesis
says little about a user's photograph; this bench changes both. The photographs are the foreign set
(`bench/foreign_photos.py`: photographs shipped inside other installed packages — matplotlib, scikit-learn,
and mahotas and imgaug when installed — none of them a `skimage.data` photograph the project trains on), or
any folder of images (`--photos`). Up to 3 non-overlapping square-ish crops per photograph, downscaled (area)
to `--max-side`.

Each crop is degraded once per task by a synthesis family written here, independently of
`tfrecords_tools.synthesis` (the training synthesis), and deterministic for `--seed` and the image index:

* **jpeg**: PIL JPEG at quality 10 with 4:4:4 chroma (`subsampling=0`); training uses Pillow's default 4:2:0.
* **motion_blur**: a straight line kernel of 11 px at a random angle per image (anti-aliased: exact area
  coverage of an 11 × 1 px segment, supersampled 16×), convolved with reflect borders
  (`scipy.ndimage.convolve` per channel); training uses curved random camera trajectories.
* **haze**: paper eq. 2, I = J·t + A·(1 − t), t = exp(−β·d), with a planar-ground depth map (depth grows as
  1/(row − horizon) from the bottom of the image to a horizon at a random height, the sky above it at the
  farthest depth, times a smooth random perturbation), β in [0.8, 1.6], a tinted airlight A per channel
  in [0.75, 0.95]; training uses a random smooth depth with a linear top-far ramp and a grey airlight.
* **rain**: paper eq. 3 style, O = B + S (clipped): streaks drawn as anti-aliased line segments with PIL
  `ImageDraw` on a 4× supersampled layer (one random angle within ±25° of vertical, length 8–30 px, width
  1–2 px, brightness 0.6–0.9, until 2–5 % of the image area is covered), box-downsampled and blurred
  slightly (Gaussian σ 0.6 px); training smears random drops with line kernels.

Scores (scikit-image `peak_signal_noise_ratio`, data_range=255, uint8 images): on Y for jpeg, rain and
motion_blur — BT.601 studio-swing Y (`skimage.color.rgb2ycbcr(img)[..., 0]`, 16–235) — and on RGB for haze.
The gain of an image is PSNR(restored) − PSNR(degraded input) against the clean crop, the restored image
being `restore(model, degraded, task)` rounded to uint8. Prints per task the mean, median and worst gain
(and the image it was on) and how many images were made worse; then, when the model has a degradation
classifier, its confusion matrix over the four degradations and the clean crops, with per-class recall and
the accuracy. `--json` writes the same numbers, per image and summarised.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

#: The four degradations, in the order of the table and of the confusion matrix (clean last).
TASKS = ("motion_blur", "haze", "rain", "jpeg")
#: Fewer test images than this and the numbers mean nothing: the bench refuses.
MIN_IMAGES = 4
DEFAULT_MAX_SIDE = 256

JPEG_QUALITY = 10
BLUR_LENGTH = 11.0
BLUR_SUPERSAMPLE = 16
HAZE_BETA = (0.8, 1.6)
HAZE_AIRLIGHT = (0.75, 0.95)
HAZE_TINT = 0.03  # each channel's airlight is the common one ± this
HAZE_DEPTH = (0.1, 1.0)  # nearest (bottom row) and farthest (horizon and sky) depth
HAZE_HORIZON = (0.2, 0.6)  # horizon height, as a fraction of the image height from the top
HAZE_PERTURBATION = 0.2  # depth × (1 + this × a smooth field in [-1, 1])
RAIN_ANGLE = 25.0
RAIN_LENGTH = (8.0, 30.0)
RAIN_WIDTH = (1.0, 2.0)
RAIN_COVERAGE = (0.02, 0.05)
RAIN_BRIGHTNESS = (0.6, 0.9)
RAIN_SUPERSAMPLE = 4
RAIN_BLUR = 0.6

#: One line per held-out family: printed above the table, written into the JSON.
FAMILIES = {
    "motion_blur": f"straight line kernel, {BLUR_LENGTH:g} px, random angle, anti-aliased; reflect borders",
    "haze": (f"eq. 2 with planar-ground depth (horizon at random height, smooth perturbation), beta "
             f"{HAZE_BETA[0]:g}-{HAZE_BETA[1]:g}, tinted airlight per channel {HAZE_AIRLIGHT[0]:g}-{HAZE_AIRLIGHT[1]:g}"),
    "rain": (f"PIL-drawn anti-aliased streaks (angle ±{RAIN_ANGLE:g}° from vertical, {RAIN_LENGTH[0]:g}-{RAIN_LENGTH[1]:g} px "
             f"long, {RAIN_WIDTH[0]:g}-{RAIN_WIDTH[1]:g} px wide, "
             f"{100 * RAIN_COVERAGE[0]:g}-{100 * RAIN_COVERAGE[1]:g}% covered), blurred, added"),
    "jpeg": f"PIL JPEG quality {JPEG_QUALITY}, 4:4:4 chroma (no subsampling)",
}
SCORING = ("skimage peak_signal_noise_ratio, data_range=255, uint8; Y = BT.601 studio-swing luma "
           "(skimage rgb2ycbcr, 16-235) for motion_blur, rain, jpeg; RGB for haze")


# --- the held-out synthesis (float32 RGB in [0, 1] in and out) ---------------------------------------------


def line_kernel(length: float, angle_deg: float, supersample: int = BLUR_SUPERSAMPLE) -> np.ndarray:
    """A straight-line blur kernel (odd square, sums to 1): each cell holds the area of the cell covered by a
    `length` × 1 px rectangle centred on the kernel's centre, measured on a `supersample`× finer grid.
    `angle_deg` is counter-clockwise from the x axis, y up (rows grow downwards)."""
    size = 2 * math.ceil(length / 2) + 1
    offsets = (np.arange(size * supersample) + 0.5) / supersample - size / 2  # sub-cell centres, kernel centre 0
    x, y = offsets[None, :], -offsets[:, None]
    theta = math.radians(angle_deg)
    along = x * math.cos(theta) + y * math.sin(theta)
    across = -x * math.sin(theta) + y * math.cos(theta)
    inside = (np.abs(along) <= length / 2) & (np.abs(across) <= 0.5)
    kernel = inside.reshape(size, supersample, size, supersample).sum(axis=(1, 3)).astype(np.float64)
    return kernel / kernel.sum()


def add_line_blur(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Motion blur by a straight `BLUR_LENGTH` line at a random angle in [0, 180)."""
    from scipy import ndimage

    angle = float(rng.uniform(0.0, 180.0))
    kernel = line_kernel(BLUR_LENGTH, angle)
    out = np.stack([ndimage.convolve(image[..., c].astype(np.float64), kernel, mode="reflect")
                    for c in range(image.shape[-1])], axis=-1)
    return np.clip(out, 0.0, 1.0).astype(np.float32), {"angle": angle, "length": BLUR_LENGTH}


def planar_depth(height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(depth (H, W) in `HAZE_DEPTH`, horizon row): a camera above flat ground sees the ground at a depth
    proportional to 1 / (row − horizon), the nearest at the bottom row; the sky (above the horizon) and the
    ground close to the horizon lie at the farthest depth. The depth is multiplied by 1 + a smooth random field
    (Gaussian-filtered noise, σ = an eighth of the longer side, scaled to ±`HAZE_PERTURBATION`)."""
    from scipy import ndimage

    near, far = HAZE_DEPTH
    horizon = float(rng.uniform(*HAZE_HORIZON)) * height
    below = np.arange(height) + 0.5 - horizon
    bottom = height - 0.5 - horizon
    with np.errstate(divide="ignore"):
        rows = np.where(below > 0, near * bottom / np.where(below > 0, below, 1.0), far)
    depth = np.broadcast_to(np.clip(rows, near, far)[:, None], (height, width))
    field = ndimage.gaussian_filter(rng.standard_normal((height, width)), sigma=max(height, width) / 8, mode="reflect")
    field /= max(float(np.abs(field).max()), 1e-12)
    return np.clip(depth * (1.0 + HAZE_PERTURBATION * field), near, far).astype(np.float32), horizon


def add_planar_haze(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Haze by eq. 2 on a planar-ground depth (`planar_depth`); info holds `depth`, `beta` and `airlight` (3,)."""
    beta = float(rng.uniform(*HAZE_BETA))
    base = float(rng.uniform(HAZE_AIRLIGHT[0] + HAZE_TINT, HAZE_AIRLIGHT[1] - HAZE_TINT))
    airlight = base + rng.uniform(-HAZE_TINT, HAZE_TINT, size=3)
    depth, horizon = planar_depth(*image.shape[:2], rng)
    t = np.exp(-beta * depth.astype(np.float64))[..., None]
    out = np.clip(image * t + airlight * (1.0 - t), 0.0, 1.0).astype(np.float32)
    return out, {"beta": beta, "airlight": airlight.tolist(), "horizon": horizon, "depth": depth}


def rain_layer(height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The streak layer S (H, W) float32 in [0, 1] and what was drawn.

    Streaks of one random angle (from vertical, positive: the lower end to the right) are drawn as line
    segments with PIL `ImageDraw` on a `RAIN_SUPERSAMPLE`× layer padded by the longest streak (so streaks
    enter from outside the frame), in batches until the drawn area covers the drawn target share of the
    image; the layer is then averaged down to the image's grid (anti-aliasing) and blurred by `RAIN_BLUR`."""
    from PIL import Image, ImageDraw
    from scipy import ndimage

    ss, pad = RAIN_SUPERSAMPLE, math.ceil(RAIN_LENGTH[1])
    padded_h, padded_w = height + 2 * pad, width + 2 * pad
    angle = float(rng.uniform(-RAIN_ANGLE, RAIN_ANGLE))
    target = float(rng.uniform(*RAIN_COVERAGE))
    dx, dy = math.sin(math.radians(angle)), math.cos(math.radians(angle))
    layer = Image.new("L", (padded_w * ss, padded_h * ss), 0)
    draw = ImageDraw.Draw(layer)
    mean_area = np.mean(RAIN_LENGTH) * np.mean(RAIN_WIDTH)
    batch = max(1, round(target * padded_h * padded_w / mean_area / 4))
    streaks, coverage = 0, 0.0
    while coverage < target and streaks < 100 * batch:
        for _ in range(batch):
            length, line_width = rng.uniform(*RAIN_LENGTH), rng.uniform(*RAIN_WIDTH)
            brightness = rng.uniform(*RAIN_BRIGHTNESS)
            cx, cy = rng.uniform(0, padded_w), rng.uniform(0, padded_h)
            ends = [((cx + s * dx * length / 2) * ss, (cy + s * dy * length / 2) * ss) for s in (-1, 1)]
            draw.line(ends, fill=round(255 * brightness), width=max(1, round(line_width * ss)))
        streaks += batch
        drawn = np.asarray(layer)[pad * ss:(pad + height) * ss, pad * ss:(pad + width) * ss]
        coverage = float(np.mean(drawn > 0))
    fine = np.asarray(layer, dtype=np.float32) / np.float32(255.0)
    coarse = fine.reshape(padded_h, ss, padded_w, ss).mean(axis=(1, 3))[pad:pad + height, pad:pad + width]
    streak = ndimage.gaussian_filter(coarse.astype(np.float64), sigma=RAIN_BLUR, mode="reflect")
    return np.clip(streak, 0.0, 1.0).astype(np.float32), {"angle": angle, "target_coverage": target,
                                                          "coverage": coverage, "streaks": streaks}


def add_drawn_rain(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Rain by O = B + S, clipped to [0, 1] (S: `rain_layer`, the same in every channel)."""
    streak, info = rain_layer(*image.shape[:2], rng)
    return np.clip(image + streak[..., None], 0.0, 1.0).astype(np.float32), info


def jpeg_444(image_u8: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """uint8 RGB → PIL JPEG at `quality` with 4:4:4 chroma (`subsampling=0`) → decoded uint8 RGB."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image_u8, "RGB").save(buffer, "JPEG", quality=quality, subsampling=0)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8).copy()


def add_jpeg_444(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """JPEG artefacts (`jpeg_444`) of the image rounded to uint8."""
    from keras_durbm.images.pixels import to_float, to_uint8

    return to_float(jpeg_444(to_uint8(image))), {"quality": JPEG_QUALITY, "subsampling": "4:4:4"}


SYNTHESIS = {"motion_blur": add_line_blur, "haze": add_planar_haze, "rain": add_drawn_rain, "jpeg": add_jpeg_444}


def degrade(task: str, clean_u8: np.ndarray, seed: int, index: int) -> tuple[np.ndarray, dict]:
    """`clean_u8` degraded by `task`'s held-out family, rounded to uint8 (what a user's file holds), and
    the values drawn; deterministic for (`seed`, `index`, `task`)."""
    from keras_durbm.images.pixels import to_float, to_uint8
    from keras_durbm.seeding import derive_seed

    rng = np.random.default_rng(derive_seed(seed, "generalization", task, index))
    degraded, info = SYNTHESIS[task](to_float(clean_u8), rng)
    return to_uint8(degraded), info


# --- scoring ----------------------------------------------------------------------------------------------


def psnr_db(image_u8: np.ndarray, clean_u8: np.ndarray, colour: str) -> float:
    """PSNR (dB) of a uint8 RGB image against the clean one: on studio-swing BT.601 Y (`colour="y"`) or RGB."""
    from skimage.color import rgb2ycbcr
    from skimage.metrics import peak_signal_noise_ratio

    if colour == "y":
        return float(peak_signal_noise_ratio(rgb2ycbcr(clean_u8)[..., 0], rgb2ycbcr(image_u8)[..., 0], data_range=255))
    return float(peak_signal_noise_ratio(clean_u8, image_u8, data_range=255))


def score_colour(task: str) -> str:
    return "rgb" if task == "haze" else "y"


def summarize(records: list[dict], task: str) -> dict:
    """Mean, median and worst gain (and its image) and how many images were made worse, over the images
    with a finite gain for `task`."""
    scored = [(r["name"], r["tasks"][task]["gain_db"]) for r in records
              if r["tasks"][task].get("gain_db") is not None]
    if not scored:
        return {"images": 0}
    names, gains = zip(*scored, strict=True)
    gains = np.asarray(gains, dtype=np.float64)
    worst = int(np.argmin(gains))
    return {"images": len(gains), "mean_gain_db": float(np.mean(gains)), "median_gain_db": float(np.median(gains)),
            "worst_gain_db": float(gains[worst]), "worst_image": names[worst], "made_worse": int(np.sum(gains < 0)),
            "score_on": score_colour(task)}


def _json_values(info: dict) -> dict:
    """The drawn values worth writing (the depth map and other arrays are left out)."""
    return {k: v for k, v in info.items() if isinstance(v, int | float | str | list)}


def evaluate(model, images, seed: int, progress=None) -> dict:
    """Degrades, restores, scores and classifies every test image; returns the per-image records, the
    per-task summaries and the confusion matrix (None without a classifier)."""
    from keras_durbm.config.tasks import CLEAN, get_task
    from keras_durbm.images.pixels import to_float, to_uint8
    from keras_durbm.restoration.routing import check_classifier, classify
    from keras_durbm.restoration.tiling import restore
    from keras_durbm.scoring.confusion import ConfusionMatrix

    try:
        model_classes = check_classifier(model)
    except KeyError:
        model_classes = None
    truth, predicted, records = [], [], []
    for index, test in enumerate(images):
        started = time.perf_counter()
        record = {"name": test.name, "source": test.source, "size": list(test.size), "window": list(test.window),
                  "tasks": {}, "classified": {}}
        cases = [(CLEAN, test.image)]
        for task in TASKS:
            degraded, info = degrade(task, test.image, seed, index)
            entry = {"params": _json_values(info), "score_on": score_colour(task), "head": task in model.task_names}
            if entry["head"]:
                restored = to_uint8(restore(model, to_float(degraded), get_task(task)))
                before, after = psnr_db(degraded, test.image, entry["score_on"]), psnr_db(restored, test.image,
                                                                                         entry["score_on"])
                entry.update(degraded_psnr_db=before, restored_psnr_db=after,
                             gain_db=after - before if math.isfinite(after - before) else None)
            record["tasks"][task] = entry
            cases.append((task, degraded))
        if model_classes is not None:
            for label, image in cases:
                found = classify(model, to_float(image))
                truth.append(label)
                predicted.append(found.best)
                record["classified"][label] = {"predicted": found.best, "probabilities": found.probabilities,
                                               **routed_gain(model, label, image, test.image, found.best)}
        records.append(record)
        if progress:
            progress(index + 1, len(images), test.name, time.perf_counter() - started)
    matrix = None
    if model_classes is not None:
        extra = [c for c in model_classes if c not in TASKS and c != CLEAN]
        matrix = ConfusionMatrix.from_labels((*TASKS, *extra, CLEAN), truth, predicted)
    return {"images": records, "summary": {task: summarize(records, task) for task in TASKS}, "confusion": matrix}


def routed_gain(model, label: str, image: np.ndarray, clean_u8: np.ndarray, best: str) -> dict:
    """What `--task auto` (one step, no threshold) does to `image`: restored by the head the classifier
    named, or left as it is when it named `clean`. A degraded image's gain is scored like its task's row;
    a clean image has no gain, only whether it was altered and its PSNR then (on Y)."""
    from keras_durbm.config.tasks import CLEAN, get_task
    from keras_durbm.images.pixels import to_float, to_uint8
    from keras_durbm.restoration.tiling import restore

    if best == CLEAN or best not in model.task_names:
        return {"routed_gain_db": 0.0, "altered": False}
    output = to_uint8(restore(model, to_float(image), get_task(best)))
    if label == CLEAN:
        return {"routed_gain_db": 0.0, "altered": True, "routed_psnr_db": psnr_db(output, clean_u8, "y")}
    colour = score_colour(label)
    return {"routed_gain_db": psnr_db(output, clean_u8, colour) - psnr_db(image, clean_u8, colour), "altered": True}


#: Top-probability thresholds of the routing table: below one, an image would be left unchanged.
THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)


def routing_table(records: list[dict], model_threshold: float = 0.0) -> str:
    """What blind restoration gains per true class, and what a top-probability threshold would cost and
    save (an image below it is left unchanged: gain 0); the row marked `model` is the model's own
    calibrated threshold, what `--task auto` applies by default. Informational otherwise: a threshold
    chosen while looking at this table is chosen on its test set."""
    from keras_durbm.config.tasks import CLEAN

    lines = ["blind restoration (--task auto, one step) per true class: mean gain dB / images made worse; "
             "clean: images altered (of a clean input)",
             "if images whose top probability is below the threshold were left unchanged:",
             f"{'threshold':<10}" + "".join(f"{c:>16}" for c in (*TASKS, CLEAN))]
    rows_at = sorted({*THRESHOLDS, model_threshold})
    for threshold in rows_at:
        cells = []
        for label in (*TASKS, CLEAN):
            rows = [r["classified"][label] for r in records if label in r["classified"]]
            acted = [row for row in rows if max(row["probabilities"].values()) >= threshold and row["altered"]]
            if not rows:
                cells.append("-")
            elif label == CLEAN:
                cells.append(f"{len(acted)}/{len(rows)}")
            else:
                gains = [row["routed_gain_db"] for row in acted] + [0.0] * (len(rows) - len(acted))
                cells.append(f"{np.mean(gains):+.2f} / {sum(g < 0 for g in gains):>2}")
        label = f"{threshold:.2f}" + (" model" if threshold == model_threshold and threshold > 0 else "")
        lines.append(f"{label:<10}" + "".join(f"{c:>16}" for c in cells))
    return "\n".join(lines)


# --- output -----------------------------------------------------------------------------------------------


def format_table(summary: dict, count: int) -> str:
    """One row per task: images, mean, median and worst gain (image), made worse."""
    lines = [f"PSNR gain on held-out synthesis (restored − degraded input, dB) over {count} foreign test images",
             f"{'task':<12} {'score on':<9} {'images':>6} {'mean gain':>10} {'median':>8}  "
             f"{'worst (photo)':<26} {'made worse':>10}"]
    for task, row in summary.items():
        colour = "RGB" if score_colour(task) == "rgb" else "Y"
        if not row["images"]:
            lines.append(f"{task:<12} {colour:<9} {0:>6}  (no {task} head in this model: not scored)")
            continue
        worst = f"{row['worst_gain_db']:+.2f} ({row['worst_image']})"
        made_worse = f"{row['made_worse']}/{row['images']}"
        lines.append(f"{task:<12} {colour:<9} {row['images']:>6} {row['mean_gain_db']:>+10.2f} "
                     f"{row['median_gain_db']:>+8.2f}  {worst:<26} {made_worse:>10}")
    lines.append("made worse: images whose restored PSNR is below the degraded input's (gain < 0)")
    return "\n".join(lines)


def _finite(value):
    """JSON-safe: NaN and infinities become null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def load_test_images(photos: str | None, max_side: int) -> tuple[list, list[str], str]:
    """(test images, what is missing, where they came from); FileNotFoundError for a missing folder,
    BadImageError for an unreadable image."""
    import foreign_photos  # bench/foreign_photos.py, beside this script

    if photos is None:
        found, missing = foreign_photos.find_foreign_photos()
        where = "the foreign set (photographs shipped inside other installed packages)"
    else:
        found, missing, where = foreign_photos.folder_photos(photos), [], f"folder {photos}"
    images = []
    for photo in found:
        images += foreign_photos.crops(photo, foreign_photos.read_rgb8(photo.path), max_side)
    return images, missing, where


def _progress(done: int, total: int, name: str, seconds: float) -> None:
    print(f"[{done}/{total}] {name}: {seconds:.1f} s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a .keras file or a training run folder")
    parser.add_argument("--photos", metavar="DIR", help="a folder of photographs (default: the foreign set)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthesis (default 0)")
    parser.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE,
                        help=f"crops are downscaled to this longer side (default {DEFAULT_MAX_SIDE})")
    parser.add_argument("--json", metavar="OUT.json", help="also write the per-image numbers and the summary")
    args = parser.parse_args(argv)

    import machine  # bench/machine.py, beside this script

    info = machine.describe()  # before the work: the load average at start
    print(machine.header(info), flush=True)

    from keras_durbm.atomic_files import write_json_atomic
    from keras_durbm.cli import EXIT_OK, EXIT_USAGE, fail, quiet_tensorflow
    from keras_durbm.config.model_file import resolve_model_path

    if args.max_side < 16:
        return fail(f"--max-side must be at least 16, got {args.max_side}")
    try:
        model_path = resolve_model_path(args.model)
        images, missing, where = load_test_images(args.photos, args.max_side)
    except (OSError, ValueError) as error:  # a missing model or folder, an unreadable image
        return fail(error)
    if len(images) < MIN_IMAGES:
        lacking = f"; missing: {', '.join(missing)}" if missing else ""
        return fail(f"{len(images)} test image(s) from {where}, at least {MIN_IMAGES} needed{lacking}", EXIT_USAGE)
    print(f"test images ({len(images)}, from {where}; at most 3 crops per photograph, longer side "
          f"<= {args.max_side}):")
    for test in images:
        print(f"  {test.name:<22} {test.source:<12} {test.size[1]}x{test.size[0]}")
    if missing:
        print(f"not installed or not found (skipped): {', '.join(missing)}")
    print("held-out synthesis (written in bench/generalization.py, not tfrecords_tools.synthesis), seed "
          f"{args.seed}:")
    for task, text in FAMILIES.items():
        print(f"  {task:<12} {text}")
    print(f"scoring: {SCORING}", flush=True)

    quiet_tensorflow()
    from keras_durbm.models import load_durbm

    try:
        model = load_durbm(model_path)
    except (OSError, ValueError) as error:
        return fail(error)
    result = evaluate(model, images, args.seed, progress=_progress)
    threshold = float(getattr(model, "routing_threshold", 0.0))  # the do-no-harm threshold of --task auto
    print(format_table(result["summary"], len(images)))
    matrix = result["confusion"]
    if matrix is None:
        print("no degradation classifier in this model: no confusion matrix")
    else:
        print(f"degradation classifier on held-out synthesis (rows: true class, columns: predicted; "
              f"{len(images)} images x {len(TASKS) + 1} classes):")
        print(matrix.format_table())
        print(f"the model's do-no-harm threshold (applied by --task auto): {threshold:g}")
        print(routing_table(result["images"], threshold))
    if args.json:
        write_json_atomic(args.json, _finite({
            "model": model_path, "routing_threshold": threshold, "seed": args.seed, "max_side": args.max_side,
            "photos": where,
            "missing_photos": missing, "machine": info, "families": FAMILIES, "scoring": SCORING,
            "images": result["images"], "summary": result["summary"],
            "confusion": matrix.to_dict() if matrix is not None else None}))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
