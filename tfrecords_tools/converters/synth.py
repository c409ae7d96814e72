"""Clean photographs + a synthesized degradation (tfrecords_tools.synthesis) -> records of that task.

Used for the embedded default dataset (scikit-image's sample photographs, docs/design.md §1.8) and for any folder
of clean images. Each example's seed is derived from the conversion seed, the task, the image name and
the variant number, so it does not depend on the order or number of images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from keras_durbm.config.engine import option
from keras_durbm.config.tasks import Task
from keras_durbm.errors import BadImageError
from keras_durbm.images.pairs import Pair
from keras_durbm.images.pixels import to_float, to_uint8
from keras_durbm.seeding import derive_seed
from tfrecords_tools.converters.common import Converter, clean_image_examples, require_images
from tfrecords_tools.manifest import Group
from tfrecords_tools.synthesis import get_synthesizer, resolve_params
from tfrecords_tools.writer import ExampleSpec, WriteConfig, write_dataset

KIND = "synth"
LAYOUT = """\
SRC/                          <- any folder of clean photographs (8-bit RGB)
  a.png  b.jpg ...            target = the photograph, input = its synthesized degradation"""

CleanImages = str | os.PathLike | Mapping[str, np.ndarray] | Sequence[np.ndarray]


@dataclasses.dataclass(frozen=True)
class SynthOptions:
    seed: int = option(0, "synthesis seed")
    variants: int = option(1, "degraded copies per clean image")
    params: dict[str, Any] = option(help="synthesizer parameter, e.g. beta=[0.6, 1.8] or quality=10",
                                    default_factory=dict, flag="--param")


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
                return Pair(degraded, arr, name, meta)

            out.append(ExampleSpec(source=f"{name}#v={v}", files=(), probe=probe, load=load, content_id=digest))
    return out


def convert_synth(clean_images_or_dir: CleanImages, out_dir: str | os.PathLike, *, task: Task,
                  split: str = "train", seed: int = 0, variants: int = 1, params: Mapping[str, Any] | None = None,
                  write: WriteConfig = WriteConfig()) -> Group:
    """Synthesizes `task`'s degradation on clean images and writes the pairs; returns the manifest group.

    Args:
        clean_images_or_dir: a folder of clean photographs, a `{name: uint8 (H, W, 3)}` mapping, or a
            sequence of such arrays (named `image_0000`, ...).
        task: the task whose degradation is synthesised (`keras_durbm.config.tasks`).
        seed: conversion seed; variants: degraded copies per clean image (different seeds).
        params: synthesizer parameters overriding the defaults (`synthesis.resolve_params`).
        write: how the shards are written (`writer.WriteConfig`).
    """
    fn = get_synthesizer(task)
    resolved = resolve_params(task, params)
    if int(variants) < 1:
        raise ValueError(f"variants must be >= 1, got {variants}")

    def degrade(clean: np.ndarray, v: int, name: str) -> tuple[np.ndarray, dict[str, Any]]:
        ex_seed = derive_seed(seed, task.name, name, v)
        out, info = fn(to_float(clean), ex_seed, return_info=True, **resolved)
        return to_uint8(out), {"seed": ex_seed, "variant": v, **info}

    source_dir = None
    if isinstance(clean_images_or_dir, str | os.PathLike):
        source_dir = os.fspath(clean_images_or_dir)
        names = require_images(source_dir, LAYOUT)
        examples = clean_image_examples([(n, os.path.join(source_dir, n)) for n in names],
                                        variants=range(int(variants)), write=write, half=False,
                                        degrade=degrade, suffix=lambda v: f"#v={v}")
    else:
        images = (dict(clean_images_or_dir) if isinstance(clean_images_or_dir, Mapping)
                  else {f"image_{i:04d}": a for i, a in enumerate(clean_images_or_dir)})
        examples = _array_examples(images, int(variants), degrade)
    synthesis = {"task": task.name, "function": f"{fn.__module__}.{fn.__name__}", "params": resolved,
                 "seed": int(seed), "variants": int(variants),
                 "example_seed": "derive_seed(seed, task, image name, variant)"}
    return write_dataset(out_dir, examples, task=task, split=split, kind=KIND, source_dir=source_dir,
                         options={}, synthesis=synthesis, write=write)


CONVERTER = Converter(KIND, convert_synth, None, "clean photos + synthesized degradation -> TASK", LAYOUT, "train",
                      SynthOptions)
