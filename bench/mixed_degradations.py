"""Mixed degradations: one head, blind routing, and `--chain` on photographs degraded twice.

    python bench/mixed_degradations.py --model runs/demo [--pairs rain+jpeg haze+jpeg motion_blur+jpeg]
        [--photos coffee astronaut motorcycle] [--max-side 192] [--seed 1]

Each held-out photograph (scikit-image's, not one the demo trains on) is degraded by the first task's
synthesis, then by the second's (JPEG at quality 10, as the demo tests), with the demo's parameters. Per
pair of degradations the table gives the mean PSNR / SSIM against the clean photograph (the first
task's protocol: Y for B, R, J; RGB for H) of the input, of every single head, of `--task auto`
(one classified head), and of `--task auto --chain`, and the heads the chain chose per photograph; then
the mean PSNR over the pairs and the chain's gain over the best single head (the head with the best
mean) and over `auto`.
Prints the machine (`bench/machine.py`) and the load at start: the numbers do not depend on them, the
wall time does.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/demo")
    parser.add_argument("--pairs", nargs="+", default=["rain+jpeg", "haze+jpeg", "motion_blur+jpeg", "haze+rain"])
    parser.add_argument("--photos", nargs="+", default=["coffee", "astronaut", "motorcycle"])
    parser.add_argument("--max-side", type=int, default=192)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    import machine  # bench/machine.py, beside this script

    print(machine.header(), flush=True)  # before the work: the load average at start

    from keras_durbm.cli import quiet_tensorflow

    quiet_tensorflow()
    import numpy as np

    from keras_durbm.config.experiment import build_config
    from keras_durbm.config.tasks import get_task
    from keras_durbm.images.pixels import to_uint8
    from keras_durbm.models import load_durbm
    from keras_durbm.restoration.routing import RoutingConfig, check_classifier, route
    from keras_durbm.restoration.tiling import restore
    from keras_durbm.scoring import metrics
    from tfrecords_tools.photos import load_photos
    from tfrecords_tools.synthesis import get_synthesizer

    model = load_durbm(args.model)
    check_classifier(model, args.model)
    demo = build_config("demo").data.demo
    params = {name: {**demo.synthesis.get(name, {}), **demo.held_out_synthesis.get(name, {})}
              for name in ("motion_blur", "haze", "rain", "jpeg")}
    photos = load_photos(tuple(args.photos), args.max_side)
    start = time.perf_counter()
    print(f"run: model {args.model}; {len(photos)} photo(s) at max side {args.max_side}")
    print(f"{'degradations':<18} {'metric':<9} {'input':>7} " + "".join(f"{h:>12}" for h in model.task_names)
          + f" {'auto':>7} {'chain':>7}   chain's heads")
    pair_psnr: list[dict[str, float]] = []
    for pair in args.pairs:
        first, second = (get_task(name) for name in pair.split("+"))
        scores: dict[str, list[dict]] = {}
        chosen = []
        for k, (_, photo) in enumerate(photos):
            clean = photo.astype(np.float32) / np.float32(255.0)
            degraded = get_synthesizer(first)(clean, args.seed + k, **params[first.name])
            degraded = get_synthesizer(second)(degraded, args.seed + 100 + k, **params[second.name])
            outputs = {"input": degraded}
            outputs.update({h: restore(model, degraded, get_task(h)) for h in model.task_names})
            outputs["auto"] = route(model, degraded).image
            chained = route(model, degraded, RoutingConfig(chain=True))
            outputs["chain"] = chained.image
            chosen.append(">".join(chained.heads) or "clean")
            for name, image in outputs.items():
                scores.setdefault(name, []).append(metrics.score(to_uint8(image), to_uint8(clean), first))
        psnr, ssim = metrics.protocol_keys(first)
        for key in (psnr, ssim):
            digits = 2 if key == psnr else 4
            cells = {name: float(np.mean([s[key] for s in values])) for name, values in scores.items()}
            if key == psnr:
                pair_psnr.append(cells)
            print(f"{pair if key == psnr else '':<18} {key:<9} {cells['input']:>7.{digits}f} "
                  + "".join(f"{cells[h]:>12.{digits}f}" for h in model.task_names)
                  + f" {cells['auto']:>7.{digits}f} {cells['chain']:>7.{digits}f}"
                  + (f"   {', '.join(chosen)}" if key == psnr else ""))
    mean = {name: float(np.mean([cells[name] for cells in pair_psnr])) for name in pair_psnr[0]}
    print(f"{'mean of the pairs':<18} {'psnr':<9} {mean['input']:>7.2f} "
          + "".join(f"{mean[h]:>12.2f}" for h in model.task_names) + f" {mean['auto']:>7.2f} {mean['chain']:>7.2f}")
    best = max(model.task_names, key=mean.__getitem__)
    print(f"chain against the best single head ({best}): {mean['chain'] - mean[best]:+.2f} dB; "
          f"against auto: {mean['chain'] - mean['auto']:+.2f} dB (mean PSNR over the pairs)")
    print(f"wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
