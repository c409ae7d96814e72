"""The embedded default's data: four degradations synthesised on scikit-image's bundled photographs.

No dataset of the paper can be downloaded here (docs/design.md §1.8), so `python -m
keras_durbm.train` with no arguments degrades natural photographs that ship with
scikit-image (`tfrecords_tools.photos`: motion blur, haze by eq. 2, rain streaks by eq. 3, real JPEG) with
`tfrecords_tools.synthesis`, writes them as TFRecord shards with
`convert_synth`, trains on the training photographs and scores the held-out ones.
"""

from __future__ import annotations

import json
import os
import time

from keras_durbm.atomic_files import write_json_atomic
from keras_durbm.config.engine import to_dict
from keras_durbm.config.experiment import DemoDataConfig, ExperimentConfig
from keras_durbm.config.tasks import get_task
from keras_durbm.scoring.metrics import protocol_keys
from keras_durbm.training.progress import format_duration
from tfrecords_tools.converters import convert_synth
from tfrecords_tools.photos import load_photo
from tfrecords_tools.writer import WriteConfig

READY_FILE = "demo_data.json"


def _ready_record(config: ExperimentConfig) -> dict:
    return {"demo": to_dict(config.data.demo), "tasks": list(config.task_names), "crop": config.data.crop,
            "splits": [config.data.train_split, config.data.val_split]}


def prepare_demo_data(config: ExperimentConfig, folder: str, *, rank: int = 0, num_workers: int = 1,
                      progress: bool = True, wait_seconds: float = 3600.0) -> str:
    """Synthesises the demo's shards into `folder` once (resumable); other workers wait for them.

    Training photographs, with `demo.procedural_images` dead leaves images and `demo.photometric`
    variation, give the `data.train_split` shards (`demo.variants` degraded copies each, at least
    one shard per worker); held-out photographs give one copy each in `data.val_split`, unvaried,
    with `demo.held_out_synthesis` over `demo.synthesis`. The folder is the run's own cache:
    shards made with other settings are replaced.
    """
    ready_path = os.path.join(folder, READY_FILE)
    expected = _ready_record(config)
    if rank != 0:
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if os.path.exists(ready_path):
                with open(ready_path, encoding="utf-8") as handle:
                    if json.load(handle) == json.loads(json.dumps(expected)):
                        return folder
            time.sleep(1.0)
        raise TimeoutError(f"{ready_path}: the chief did not finish the demo data within {wait_seconds:.0f} s")
    if os.path.exists(ready_path):
        with open(ready_path, encoding="utf-8") as handle:
            if json.load(handle) == json.loads(json.dumps(expected)):
                return folder
    demo: DemoDataConfig = config.data.demo
    os.makedirs(folder, exist_ok=True)
    train = {name: _photo(name, demo.max_side) for name in demo.train_photos}
    held_out = {name: _photo(name, demo.max_side) for name in demo.held_out_photos}
    for task in config.tasks:
        params = dict(demo.synthesis.get(task.name, {}))
        convert_synth(train, folder, task=task, split=config.data.train_split, seed=demo.seed,
                      variants=demo.variants, params=params, procedural=demo.procedural_images,
                      procedural_size=demo.procedural_size, photometric=demo.photometric,
                      write=WriteConfig(min_size=config.data.crop, min_shards=num_workers, overwrite=True,
                                        progress=progress))
        if config.data.val_split:
            params.update(demo.held_out_synthesis.get(task.name, {}))
            convert_synth(held_out, folder, task=task, split=config.data.val_split, seed=demo.seed + 1,
                          variants=1, params=params, write=WriteConfig(min_size=1, overwrite=True, progress=progress))
    write_json_atomic(ready_path, json.loads(json.dumps(expected)))
    return folder


def _photo(name: str, max_side: int):
    try:
        return load_photo(name, max_side)
    except ValueError as error:
        raise ValueError(f"data.demo: {error}") from None


def closing_note(summary: dict) -> str:
    """The demo's last words: how much the restored output beats the degraded input, per task."""
    evaluation = summary.get("evaluation") or {}
    if not evaluation:
        return "no held-out evaluation was run"
    parts = []
    for task, result in evaluation.items():
        p, s = protocol_keys(get_task(task))
        parts.append(f"{task} {result['restored'][p] - result['input'][p]:+.2f} dB / "
                     f"{result['restored'][s] - result['input'][s]:+.4f} SSIM")
    verdict = "beats" if summary.get("beats_input") else "does NOT beat"
    photos = max(r["n"] for r in evaluation.values())
    classification = summary.get("classification")
    routed = ""
    if classification:
        counts = classification["counts"]
        routed = (f" The degradation classifier names {sum(counts[k][k] for k in range(len(counts)))} of "
                  f"{sum(map(sum, counts))} held-out images right (accuracy {100 * classification['accuracy']:.1f}%, "
                  f"over {', '.join(classification['classes'])}; confusion matrix above and in confusion.png).")
    return (f"On {photos} held-out photo(s) per task the restored output {verdict} the degraded input on every "
            f"task (mean gain in the paper's colour space): " + "; ".join(parts) + "." + routed
            + f" Run time {format_duration(summary.get('wall_seconds', 0.0))}; model, grid and summary in {summary['run_dir']}.")
