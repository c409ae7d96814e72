"""Clean photographs + a synthesized degradation (tfrecords_tools.synthesis) -> records of that task.

Used for the embedded default dataset (scikit-image's sample photographs, DESIGN §1.8) and for any folder
of clean images. Each example's seed is derived from the conversion seed, the task, the image name and
the variant number, so it does not depend on the order or number of images.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfrecords_tools.converters.common import clean_image_examples, make_write_options, require_images, write
from tfrecords_tools.errors import BadImageError
from tfrecords_tools.image_io import to_float, to_uint8
from tfrecords_tools.seeding import derive_seed
from tfrecords_tools.synthesis import get_synthesizer, resolve_params
from tfrecords_tools.writer import ExampleSpec, Pair

KIND = "synth"
LAYOUT = """\
SRC/                          <- any folder of clean photographs (8-bit RGB)
  a.png  b.jpg ...            target = the photograph, input = its synthesized degradation"""

CleanImages = str | os.PathLike | Mapping[str, np.ndarray] | Sequence[np.ndarray]


def _array_examples(images: Mapping[str, np.ndarray], variants: int, degrade) -> list[ExampleSpec]:
    out = []
    for name, arr in images.items():
        arr = np.asarray(arr)
        ok = arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
        digest = hashlib.sha256(arr.tobytes() + repr((arr.shape, str(arr.dtype))).encode()).hexdigest()
        for v in range(variants):
            def probe(arr=arr, ok=ok, name=name) -> tuple[int, int]:
                if not ok:
                    raise BadImageError(name, f"array is {arr.dtype} with shape {arr.shape}",
                                        "a uint8 (H, W, 3) RGB array")
                return arr.shape[0], arr.shape[1]

            def load(arr=arr, v=v, name=name, probe=probe) -> Pair:
                probe()
                degraded, meta = degrade(arr, v, name)
                return Pair(degraded, arr, meta)

            out.append(ExampleSpec(source=f"{name}#v={v}", files=(), probe=probe, load=load, content_id=digest))
    return out


def convert_synth(clean_images_or_dir: CleanImages, out_dir: str | os.PathLike, *, task: str,
                  split: str = "train", seed: int = 0, variants: int = 1, params: Mapping[str, Any] | None = None,
                  **write_options: Any) -> dict[str, Any]:
    """Synthesizes `task`'s degradation on clean images and writes the pairs; returns the manifest group.

    Args:
        clean_images_or_dir: a folder of clean photographs, a `{name: uint8 (H, W, 3)}` mapping, or a
            sequence of such arrays (named `image_0000`, ...).
        task: task name or letter (`haze`/`H`, `rain`/`R`, `motion_blur`/`B`, `jpeg`/`J`).
        seed: conversion seed; variants: degraded copies per clean image (different seeds).
        params: synthesizer parameters overriding the defaults (`synthesis.resolve_params`).
        write_options: see `converters.common.WriteOptions` (min_size, min_shards, workers, ...).
    """
    from keras_durbm.tasks import get_task

    task = get_task(task).name
    fn = get_synthesizer(task)
    resolved = resolve_params(task, params)
    if int(variants) < 1:
        raise ValueError(f"variants must be >= 1, got {variants}")
    opts = make_write_options(write_options)

    def degrade(clean: np.ndarray, v: int, name: str) -> tuple[np.ndarray, dict[str, Any]]:
        ex_seed = derive_seed(seed, task, name, v)
        out, info = fn(to_float(clean), ex_seed, return_info=True, **resolved)
        return to_uint8(out), {"seed": ex_seed, "variant": v, **info}

    source_dir = None
    if isinstance(clean_images_or_dir, str | os.PathLike):
        source_dir = os.fspath(clean_images_or_dir)
        names = require_images(source_dir, LAYOUT)
        examples = clean_image_examples([(n, os.path.join(source_dir, n)) for n in names],
                                        variants=range(int(variants)), coerce=opts.coerce_rgb, half=False,
                                        degrade=degrade, suffix=lambda v: f"#v={v}")
    else:
        images = (dict(clean_images_or_dir) if isinstance(clean_images_or_dir, Mapping)
                  else {f"image_{i:04d}": a for i, a in enumerate(clean_images_or_dir)})
        examples = _array_examples(images, int(variants), degrade)
    synthesis = {"task": task, "function": f"{fn.__module__}.{fn.__name__}", "params": resolved,
                 "seed": int(seed), "variants": int(variants),
                 "example_seed": "derive_seed(seed, task, image name, variant)"}
    return write(out_dir, examples, task=task, split=split, kind=KIND, opts=opts, source_dir=source_dir,
                 options={}, synthesis=synthesis)
