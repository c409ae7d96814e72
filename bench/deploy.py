"""How fast each deploy runtime runs a head, how close that is to this machine's limit, and what it costs.

    python bench/deploy.py --model M [--size 256 512] [--threads 2] [--json OUT.json] [--heads rain]

M is a `.keras` file, a training run folder, or a model preset (`demo`, `paper`, ...: random weights, for
speed only). The model is exported into a temporary folder with `export.bundle.export_bundle` (SavedModel,
TFLite fp32/fp16/dynamic_int8/int8, ONNX fp32 and static int8; mixed_bfloat16 Keras and SavedModel where the CPU
has AVX512_BF16/AMX), int8 calibrated on the demo's
training photographs. Then, per size, one table:

* **ms**: median of `--runs` calls on one random image after a warm-up (`export.parity.median_latency_ms`).
* **GFLOP/s**: 2 × the head's multiply-adds (`keras_durbm.models.cost`, as the model card counts them)
  per second.
* **% limit**: of the machine's limit measured in the same run at the same size and thread count: one
  chain of 3×3 convolutions between 1×1 ones from and to RGB, C → C (C = the model's width, at least 64: narrower is memory-bound), in float32 (the faster of Keras and TFLite/XNNPACK),
  and for int8 variants as a full-int8 TFLite convolution (XNNPACK), for bf16 ones as Keras under
  mixed_bfloat16.
* **speed-up** over Keras float32, **XNNPACK partitions** (TFLite; "+ ops" run outside).
* **PSNR loss dB**: fp32's PSNR minus the variant's, each against the clean truth of the held-out
  degraded/clean pairs (the demo's held-out photographs degraded as `keras_durbm.training.demo` does),
  in the task's protocol colour space. Blank for random weights.

It names the machine (`bench/machine.py`: CPU, cores, vector extensions, load average at start) and warns
when the load shows other work: timings taken on a shared machine are several times off. After each size's
table, ONNX Runtime fp32 and int8 beside TFLite fp32 and int8 per head. `--json` writes the rows (keys `variant`,
`size`, `ms`, `speedup_vs_keras_fp32`, `psnr_loss_db`, `partitions` (null where not TFLite), and `head`,
`gflops`, `percent_of_limit`, `psnr_db`, `cpu`, `vector_extensions`, `load_average`, ...) as a list of objects.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

#: The limit's convolution is at least this wide: narrower ones are bound by memory, not arithmetic.
MIN_LIMIT_CHANNELS = 64
#: ... and a chain of this many (ReLU between, 1×1 convolutions from and to RGB around it).
LIMIT_DEPTH = 6
INT8_VARIANTS = ("tflite_dynamic_int8", "tflite_int8", "onnx_int8")


def machine_info(load_average: list[float] | None = None) -> dict:
    """`bench/machine.py`'s description of this machine (CPU model, cores, vector extensions, load average;
    `load_average` taken before the work started, if given) and its bf16 units, which decide the bf16 rows."""
    import machine  # bench/machine.py, beside this script

    from keras_durbm.models.precision import cpu_bf16_flags

    info = machine.describe()
    if load_average is not None:
        info["load_average"] = list(load_average)
    return {**info, "bf16_flags": list(cpu_bf16_flags())}


def load_model(name: str, seed: int = 0):
    """(model, trained): a `.keras` file or run folder, or a preset's network with random weights."""
    import keras

    from keras_durbm.config.model import MODEL_PRESETS, model_preset
    from keras_durbm.models import build_durbm, load_durbm, resolve_model_path

    if not os.path.exists(name) and name in MODEL_PRESETS:
        keras.utils.set_random_seed(seed)
        return build_durbm(model_preset(name)), False
    return load_durbm(resolve_model_path(name)), True


def variant_name(artifact) -> str:
    """`keras_fp32`, `keras_bf16`, `savedmodel`, `savedmodel_bf16`, `tflite_<variant>`, `onnx_fp32`, ..."""
    if artifact.format == "savedmodel":
        return "savedmodel" + (f"_{artifact.variant}" if artifact.variant else "")
    return f"{artifact.format}_{artifact.variant or 'fp32'}"


def held_out_pairs(task_name: str) -> list[tuple[str, object, object]]:
    """`(photo, degraded float32, clean uint8)` of the demo's held-out photographs, degraded with the demo's
    held-out synthesis and seeds (what `keras_durbm.training.demo` writes as its test split)."""
    from keras_durbm.config.experiment import DemoDataConfig
    from keras_durbm.config.tasks import get_task
    from keras_durbm.images.pixels import to_float, to_uint8
    from keras_durbm.seeding import derive_seed
    from tfrecords_tools.photos import load_photo
    from tfrecords_tools.synthesis import get_synthesizer, resolve_params

    demo = DemoDataConfig()
    task = get_task(task_name)
    params = resolve_params(task, {**demo.synthesis.get(task.name, {}), **demo.held_out_synthesis.get(task.name, {})})
    synthesize = get_synthesizer(task)
    pairs = []
    for name in demo.held_out_photos:
        clean = load_photo(name, demo.max_side)
        degraded = to_uint8(synthesize(to_float(clean), derive_seed(demo.seed + 1, task.name, name, 0), **params))
        pairs.append((name, to_float(degraded), clean))
    return pairs


def protocol_psnr(restore, pairs, task_name: str) -> float:
    """Mean PSNR (dB, uint8, the task's protocol colour space) of `restore` on the pairs."""
    import numpy as np

    from keras_durbm.config.tasks import get_task
    from keras_durbm.images.pixels import to_uint8
    from keras_durbm.scoring.metrics import psnr, score_colours

    colour = score_colours(get_task(task_name))[0]
    return float(np.mean([psnr(to_uint8(np.clip(restore(x), 0.0, 1.0)), clean, colour=colour)
                          for _, x, clean in pairs]))


def write_calibration_photos(folder: str) -> str:
    """The demo's training photographs as PNG files (int8 calibration that never sees a held-out photo)."""
    from PIL import Image

    from keras_durbm.config.experiment import DemoDataConfig
    from tfrecords_tools.photos import load_photo

    demo = DemoDataConfig()
    os.makedirs(folder, exist_ok=True)
    for name in demo.train_photos:
        Image.fromarray(load_photo(name, 512)).save(os.path.join(folder, f"{name}.png"))
    return folder


def conv_limits(channels: int, sizes: list[int], threads: int, runs: int, folder: str, bf16: bool) -> dict:
    """GFLOP/s of a chain of `LIMIT_DEPTH` 3×3 C → C convolutions per size: `{size: {"keras_fp32", "tflite_fp32", "tflite_int8",
    ["keras_bf16"], "fp32", "int8", "bf16"}}` ("fp32": the faster float32 one)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from export import signature_names as sig
    from export import tflite_export
    from export.parity import median_latency_ms
    from export.tflite_runtime import LiteRunner
    from keras_durbm.models.precision import BF16_POLICY

    def conv_model(policy=None):
        # RGB in and out, like the heads: a wide float input would make the int8 model's (de)quantization
        # of it, not its convolutions, the cost
        keras.utils.set_random_seed(0)
        inputs = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(channels, 1, activation="relu", dtype=policy)(inputs)
        for _ in range(LIMIT_DEPTH):
            x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", dtype=policy)(x)
        x = keras.layers.Conv2D(3, 1, dtype=policy)(x)
        return keras.Model(inputs, keras.ops.cast(x, "float32"))

    fp32 = conv_model()
    archive = keras.export.ExportArchive()
    archive.track(fp32)
    archive.add_endpoint(sig.SERVING_DEFAULT, lambda image: {"out": fp32(image, training=False)},
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name=sig.INPUT_FLOAT)])
    source = os.path.join(folder, "conv_savedmodel")
    archive.write_out(source, verbose=False)
    rng = np.random.default_rng(0)
    calibration = [rng.random((1, 64, 64, 3), dtype=np.float32) for _ in range(4)]
    lite = {}
    for variant in ("fp32", "int8"):
        path = os.path.join(folder, f"conv_{variant}.tflite")
        with open(path, "wb") as handle:
            handle.write(tflite_export.convert(source, variant, calibration))
        lite[variant] = LiteRunner(path, num_threads=threads)
    keras_runs = {"keras_fp32": fp32}
    if bf16:
        keras_runs["keras_bf16"] = conv_model(BF16_POLICY)
        keras_runs["keras_bf16"].set_weights(fp32.get_weights())
    limits = {}
    for size in sizes:
        flop = 2.0 * size * size * channels * (9 * channels * LIMIT_DEPTH + 2 * 3)
        batch = rng.random((1, size, size, 3), dtype=np.float32)
        found = {}
        for name, model in keras_runs.items():
            fn = tf.function(lambda x, m=model: m(x, training=False))
            found[name] = flop / median_latency_ms(lambda b, f=fn: f(tf.constant(b)).numpy(), batch, runs) / 1e6
        for variant, runner in lite.items():
            found[f"tflite_{variant}"] = flop / median_latency_ms(runner, batch, runs) / 1e6
        found["fp32"] = max(found["keras_fp32"], found["tflite_fp32"])
        found["int8"] = found["tflite_int8"]
        if bf16:
            found["bf16"] = found["keras_bf16"]
        limits[size] = found
    return limits


def limit_kind(variant: str) -> str:
    if variant in INT8_VARIANTS:
        return "int8"
    return "bf16" if variant.endswith("bf16") else "fp32"


def measure(args) -> dict:
    import numpy as np
    import tensorflow as tf

    from export import bundle
    from export.artifacts import runners
    from export.options import ExportConfig
    from export.parity import median_latency_ms
    from keras_durbm.config.model import min_input_size
    from keras_durbm.models import head_model
    from keras_durbm.models.cost import multiply_adds_per_megapixel

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    model, trained = load_model(args.model)
    heads = bundle.resolve_heads(model, tuple(args.heads)) if args.heads else [model.task_names[0]]
    info = machine_info(args.load_average)
    bf16 = bool(info["bf16_flags"])
    result = {"machine": info, "model": args.model, "trained": trained, "heads": heads, "threads": args.threads,
              "runs": args.runs, "notes": [], "limits": {}, "limit_channels": max(model.config.channels, MIN_LIMIT_CHANNELS), "rows": []}
    # ONNX Runtime static int8 (QDQ, export/onnx_quantize.py), written by the export where it has the option
    onnx = "onnx" in args.formats.split(",")
    onnx_int8 = onnx and "onnx_int8" in {field.name for field in dataclasses.fields(ExportConfig)}
    if onnx and not onnx_int8:
        result["notes"].append("onnx int8 skipped: this export has no onnx_int8 option (export/onnx_quantize.py)")
    with tempfile.TemporaryDirectory(prefix="deploy-bench-") as folder:
        options = ExportConfig(
            formats=tuple(args.formats.split(",")), tflite_variants=tuple(args.tflite_variants.split(",")),
            heads=tuple(heads), auto=False, parity=False, bf16=bf16, threads=args.threads,
            calibration=write_calibration_photos(os.path.join(folder, "calibration")),
            calibration_count=args.calibration_count, calibration_size=args.calibration_size,
            latency_size=args.size[0], warmup_size=min_input_size(model.config),
            **({"onnx_int8": True} if onnx_int8 else {}))
        root = os.path.join(folder, "export")
        bundle.export_bundle(model, root, options, progress=False)
        artifacts = runners(model, root, heads, options)
        if not bf16:
            result["notes"].append("keras/savedmodel bf16 not measured: this CPU has no AVX512_BF16 or AMX")
        result["limits"] = conv_limits(result["limit_channels"], args.size, args.threads, max(args.runs, 5), folder,
                                       bf16)
        rng = np.random.default_rng(0)
        for head in heads:
            gmacs = multiply_adds_per_megapixel(head_model(model, head), 256) / 1e9
            pairs = held_out_pairs(head) if trained else []
            mine = [a for a in artifacts if a.head == head]
            psnr = {variant_name(a): protocol_psnr(a.restore, pairs, head) for a in mine} if pairs else {}
            for size in args.size:
                batch = rng.random((1, size, size, 3), dtype=np.float32)
                timed = {variant_name(a): median_latency_ms(a.batch_run, batch, args.runs) for a in mine}
                gflop = 2.0 * gmacs * size * size / 1e6
                for art in mine:
                    name = variant_name(art)
                    limit = result["limits"][size].get(limit_kind(name))
                    gflops = gflop / timed[name] * 1e3
                    xnn = art.xnnpack or {}
                    result["rows"].append({
                        "variant": name, "head": head, "size": size, "ms": round(timed[name], 2),
                        "gflops": round(gflops, 1), "limit_gflops": None if limit is None else round(limit, 1),
                        "percent_of_limit": None if limit is None else round(100.0 * gflops / limit, 1),
                        "speedup_vs_keras_fp32": round(timed["keras_fp32"] / timed[name], 2),
                        "psnr_db": round(psnr[name], 3) if psnr else None,
                        "psnr_loss_db": round(psnr["keras_fp32"] - psnr[name], 3) if psnr else None,
                        "partitions": xnn.get("partitions") if art.format == "tflite" else None,
                        "undelegated_ops": xnn.get("undelegated_ops") if art.format == "tflite" else None,
                        "note": art.note or xnn.get("error", ""),
                    })
    return result


def format_tables(result: dict) -> str:
    import machine  # bench/machine.py, beside this script

    info = result["machine"]
    lines = [machine.header(info),
             f"{result['threads']} threads; bf16 units: {', '.join(info['bf16_flags']) or 'none'}; "
             f"model {result['model']} ({'trained' if result['trained'] else 'random weights: no PSNR'}), "
             f"heads {', '.join(result['heads'])}; median of {result['runs']} runs"]
    lines += [f"note: {n}" for n in result["notes"]]
    header = ["head", "variant", "ms", "GFLOP/s", "% limit", "speed-up", "XNNPACK", "PSNR loss dB"]
    for size in sorted({r["size"] for r in result["rows"]}):
        limit = result["limits"][size]
        lines.append("")
        lines.append(f"size {size}²: limit ({LIMIT_DEPTH}× 3×3 conv {result['limit_channels']}→{result['limit_channels']}) fp32 "
                     f"{limit['fp32']:.3g} GFLOP/s (keras {limit['keras_fp32']:.3g}, tflite {limit['tflite_fp32']:.3g}), "
                     f"int8 {limit['int8']:.3g} GOP/s (tflite)"
                     + (f", bf16 {limit['bf16']:.3g} (keras)" if "bf16" in limit else ""))
        table = []
        for r in (r for r in result["rows"] if r["size"] == size):
            xnn = "" if r["partitions"] is None else str(r["partitions"]) + (
                " + " + ",".join(f"{k}×{v}" for k, v in r["undelegated_ops"].items()) if r["undelegated_ops"] else "")
            table.append([r["head"], r["variant"], f"{r['ms']:.1f}", f"{r['gflops']:.1f}",
                          "" if r["percent_of_limit"] is None else f"{r['percent_of_limit']:.0f}",
                          f"{r['speedup_vs_keras_fp32']:.2f}×", xnn,
                          "" if r["psnr_loss_db"] is None else f"{r['psnr_loss_db']:+.2f}"])
        widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip() for t in table]
        lines += side_by_side([r for r in result["rows"] if r["size"] == size])
    return "\n".join(lines)


#: (label, fp32 or int8 variant of TFLite, the same of ONNX) for the runtime comparison
RUNTIME_PAIRS = (("fp32", "tflite_fp32", "onnx_fp32"), ("int8", "tflite_int8", "onnx_int8"))


def side_by_side(rows: list[dict]) -> list[str]:
    """ONNX Runtime beside TFLite, fp32 and int8, per head (ms, ONNX's speed as a multiple of TFLite's
    and the PSNR losses); nothing when neither pair was measured."""
    found = {(r["head"], r["variant"]): r for r in rows}
    pairs = [p for p in RUNTIME_PAIRS if any((h, p[1]) in found and (h, p[2]) in found for h, _ in found)]
    if not pairs:
        return []
    header = ["head"]
    for label, _, _ in pairs:
        header += [f"tflite {label} ms", f"onnx {label} ms", f"onnx {label} speed vs tflite"]
    table = []
    for head in dict.fromkeys(h for h, _ in found):
        line = [head]
        for _, lite, onnx in pairs:
            a, b = found.get((head, lite)), found.get((head, onnx))
            loss = "" if a is None or b is None or a["psnr_loss_db"] is None else \
                f" ({a['psnr_loss_db']:+.2f} / {b['psnr_loss_db']:+.2f} dB)"
            line += ["" if a is None else f"{a['ms']:.1f}", "" if b is None else f"{b['ms']:.1f}",
                     "" if a is None or b is None else f"{a['ms'] / b['ms']:.2f}×{loss}"]
        table.append(line)
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    notes = sorted({r["note"] for r in rows if r["variant"] == "onnx_int8" and r["note"]})
    return ["", "ONNX Runtime beside TFLite (speed > 1×: ONNX faster; PSNR loss tflite / onnx in brackets)",
            *[f"onnx int8: {n}" for n in notes],
            "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), "  ".join("-" * w for w in widths),
            *["  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip() for t in table]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a .keras file, a training run folder or a preset name")
    parser.add_argument("--size", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--heads", nargs="+", default=None, help="heads to time (default: the first)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per variant and size (median)")
    parser.add_argument("--calibration-count", type=int, default=32, help="int8 calibration crops")
    parser.add_argument("--calibration-size", type=int, default=128, help="int8 calibration crop side")
    parser.add_argument("--formats", default="savedmodel,tflite,onnx", help="comma list of export formats to time")
    parser.add_argument("--tflite-variants", default=",".join(("fp32", "fp16", "dynamic_int8", "int8")),
                        help="comma list of TFLite variants")
    parser.add_argument("--json", metavar="OUT.json", help="also write the rows (and the machine) as JSON")
    args = parser.parse_args(argv)
    args.load_average = os.getloadavg()  # before this process adds its own load

    from keras_durbm.atomic_files import write_json_atomic
    from keras_durbm.cli import error_text, quiet_tensorflow

    quiet_tensorflow()
    try:
        result = measure(args)
    except (FileNotFoundError, KeyError, ValueError) as error:  # a bad model, head or variant: no traceback
        print(f"error: {error_text(error)}", file=sys.stderr)
        return 2
    print(format_tables(result))
    if args.json:  # the rows, each naming the machine it was measured on
        info = result["machine"]
        rows = [{**row, "cpu": info["cpu"], "cores": info["cores"], "vector_extensions": info["vector_extensions"],
                 "threads": result["threads"],
                 "load_average": info["load_average"], "model": result["model"]} for row in result["rows"]]
        write_json_atomic(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
