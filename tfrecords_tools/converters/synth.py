"""Clean photographs + a synthesized degradation (tfrecords_tools.synthesis) -> records of that task.

Used for the embedded default dataset (scikit-image's sample photographs, docs/design.md §1.8) and for any folder
of clean images. Each example's seed is derived from the conversion seed, the task, the image name and
the variant number, so it does not depend on the order or number of images.

Two options widen the clean images (both off by default, which gives the records of the photographs alone):
`procedural` adds that many dead leaves images (`synthesis.dead_leaves`) after the photographs, the same for
every task of one seed; `photometric` varies each clean image's exposure, white balance, gamma and saturation
(`synthesis.photometric.vary_photometry`, seeded per example) before it is degraded: the record's target is
the varied image and its input the degradation of that target.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from keras_durbm.config.engine import option
from keras_durbm.config.tasks import Task
from keras_durbm.errors import BadImageError
from keras_durbm.images.pairs import Pair
from keras_durbm.images.pixels import to_float, to_uint8
from keras_durbm.seeding import derive_seed
from tfrecords_tools.converters.common import Converter, probe_rgb8, read_source, require_images
from tfrecords_tools.manifest import Group
from tfrecords_tools.synthesis import get_synthesizer, resolve_params
from tfrecords_tools.writer import ExampleSpec, WriteConfig, write_dataset

KIND = "synth"
#: SRC on the command line when every clean image is procedural (`--procedural N`, no photographs).
NO_SOURCE = "-"
LAYOUT = f"""\
SRC/                          <- any folder of clean photographs (8-bit RGB)
  a.png  b.jpg ...            target = the photograph, input = its synthesized degradation
SRC = {NO_SOURCE}                       <- no photographs: only the --procedural N images"""

CleanImages = str | os.PathLike | Mapping[str, np.ndarray] | Sequence[np.ndarray]
PROCEDURAL_NAME = "leaves-{:04d}"  # as `dead_leaves_images` names them


@dataclasses.dataclass(frozen=True)
class SynthOptions:
    #: The SRC that stands for "no photographs" (`tfrecords_tools.convert` passes None instead).
    NO_SOURCE: ClassVar[str] = NO_SOURCE

    seed: int = option(0, "synthesis seed")
    variants: int = option(1, "degraded copies per clean image")
    params: dict[str, Any] = option(help="synthesizer parameter, e.g. beta=[0.6, 1.8] or quality=10",
                                    default_factory=dict, flag="--param")
    procedural: int = option(0, "add N procedural clean images (dead leaves, named leaves-0000 ...) after SRC's "
                             f"photographs; SRC {NO_SOURCE} for these alone", metavar="N")
    procedural_size: int = option(256, "side of the procedural images in pixels", metavar="PX")
    photometric: bool = option(False, "vary each clean image's exposure, white balance, gamma and saturation "
                               "(seeded per example) before degrading it; the target is the varied image")


@dataclasses.dataclass(frozen=True)
class _Clean:
    """One clean image, read lazily: `probe()` -> (H, W) (header only), `read()` -> uint8 RGB."""

    name: str
    probe: Callable[[], tuple[int, int]]
    read: Callable[[], np.ndarray]
    files: tuple[str, ...] = ()
    content_id: str = ""


def _file_clean(name: str, path: str, write: WriteConfig) -> _Clean:
    return _Clean(name, lambda: probe_rgb8(path, write), lambda: read_source(path, write), files=(path,))


def _array_clean(name: str, arr: np.ndarray) -> _Clean:
    arr = np.asarray(arr)
    ok = arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    digest = hashlib.sha256(arr.tobytes() + repr((arr.shape, str(arr.dtype))).encode()).hexdigest()

    def probe() -> tuple[int, int]:
        if not ok:
            raise BadImageError(name, f"array is {arr.dtype} with shape {arr.shape}", "a uint8 (H, W, 3) RGB array")
        return arr.shape[0], arr.shape[1]

    def read() -> np.ndarray:
        probe()
        return arr

    return _Clean(name, probe, read, content_id=digest)


class _ProceduralImage:
    """A dead leaves image drawn on first use and kept until each of its `uses` (variants) has read it."""

    def __init__(self, size: int, seed: int, uses: int):
        self.size, self.seed, self._left = size, seed, uses
        self._image: np.ndarray | None = None
        self._lock = threading.Lock()

    def __call__(self) -> np.ndarray:
        from tfrecords_tools.synthesis.dead_leaves import dead_leaves  # SciPy: only when used

        with self._lock:
            image = self._image if self._image is not None else to_uint8(dead_leaves(self.size, self.seed))
            self._left -= 1
            self._image = image if self._left > 0 else None
            return image


def _procedural_cleans(count: int, size: int, seed: int, uses: int) -> list[_Clean]:
    """Image i is `dead_leaves_images(count, size, seed)["leaves-000i"]`, drawn only when a record needs it."""
    out = []
    for i in range(count):
        image_seed = derive_seed(seed, "dead_leaves", i)  # as dead_leaves_images seeds image i
        out.append(_Clean(PROCEDURAL_NAME.format(i), lambda: (size, size), _ProceduralImage(size, image_seed, uses),
                          content_id=f"dead_leaves(size={size}, seed={image_seed})"))
    return out


def _examples(cleans: Sequence[_Clean], variants: int,
              make_pair: Callable[[np.ndarray, int, str], Pair]) -> list[ExampleSpec]:
    return [ExampleSpec(source=f"{c.name}#v={v}", files=c.files, probe=c.probe, content_id=c.content_id,
                        load=lambda c=c, v=v: make_pair(c.read(), v, c.name))
            for c in cleans for v in range(variants)]


def _defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """The keyword-only parameters of `fn` and their defaults (recorded in the manifest)."""
    return {name: p.default for name, p in inspect.signature(fn).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "return_info"}


def convert_synth(clean_images_or_dir: CleanImages | None, out_dir: str | os.PathLike, *, task: Task,
                  split: str = "train", seed: int = 0, variants: int = 1, params: Mapping[str, Any] | None = None,
                  procedural: int = 0, procedural_size: int = 256, photometric: bool = False,
                  write: WriteConfig = WriteConfig()) -> Group:
    """Synthesizes `task`'s degradation on clean images and writes the pairs; returns the manifest group.

    Args:
        clean_images_or_dir: a folder of clean photographs, a `{name: uint8 (H, W, 3)}` mapping, a
            sequence of such arrays (named `image_0000`, ...), or None (only procedural images).
        task: the task whose degradation is synthesised (`keras_durbm.config.tasks`).
        seed: conversion seed; variants: degraded copies per clean image (different seeds).
        params: synthesizer parameters overriding the defaults (`synthesis.resolve_params`).
        procedural: that many dead leaves images of `procedural_size`² pixels join the clean images, after
            them: `dead_leaves_images(procedural, procedural_size, derive_seed(seed, "procedural"))`.
        photometric: each example's clean image is varied by `vary_photometry(clean, derive_seed(example
            seed, "photometric"))` first; the varied image is the target (its draws go to the record's meta).
        write: how the shards are written (`writer.WriteConfig`).
    """
    fn = get_synthesizer(task)
    resolved = resolve_params(task, params)
    if int(variants) < 1:
        raise ValueError(f"variants must be >= 1, got {variants}")
    if int(procedural) < 0:
        raise ValueError(f"procedural must be >= 0, got {procedural}")
    if int(procedural_size) < 1:
        raise ValueError(f"procedural_size must be >= 1, got {procedural_size}")
    procedural, procedural_size, variants = int(procedural), int(procedural_size), int(variants)
    if clean_images_or_dir is None and not procedural:
        raise ValueError(f"no clean images: give a folder of photographs (SRC) or procedural > 0 "
                         f"(--procedural N with SRC {NO_SOURCE})")
    if procedural and procedural_size < write.min_size_for(split):
        raise ValueError(f"procedural_size {procedural_size} is below the smallest image size "
                         f"{write.min_size_for(split)} allowed in split {split!r} (--min-size)")
    if photometric:
        from tfrecords_tools.synthesis.photometric import vary_photometry

    def make_pair(clean: np.ndarray, v: int, name: str) -> Pair:
        ex_seed = derive_seed(seed, task.name, name, v)
        meta: dict[str, Any] = {"seed": ex_seed, "variant": v}
        if photometric:
            varied, drawn = vary_photometry(to_float(clean), derive_seed(ex_seed, "photometric"), return_info=True)
            clean, meta["photometric"] = to_uint8(varied), drawn
        out, info = fn(to_float(clean), ex_seed, return_info=True, **resolved)
        return Pair(to_uint8(out), clean, name, {**meta, **info})

    source_dir = None
    if clean_images_or_dir is None:
        cleans = []
    elif isinstance(clean_images_or_dir, str | os.PathLike):
        source_dir = os.fspath(clean_images_or_dir)
        cleans = [_file_clean(n, os.path.join(source_dir, n), write) for n in require_images(source_dir, LAYOUT)]
    else:
        images = (dict(clean_images_or_dir) if isinstance(clean_images_or_dir, Mapping)
                  else {f"image_{i:04d}": a for i, a in enumerate(clean_images_or_dir)})
        cleans = [_array_clean(name, arr) for name, arr in images.items()]
    synthesis = {"task": task.name, "function": f"{fn.__module__}.{fn.__name__}", "params": resolved,
                 "seed": int(seed), "variants": variants,
                 "example_seed": "derive_seed(seed, task, image name, variant)"}
    if procedural:  # recorded only when used: the defaults keep the identity (and resumption) of before
        from tfrecords_tools.synthesis.dead_leaves import dead_leaves, dead_leaves_images

        taken = {c.name for c in cleans} & {PROCEDURAL_NAME.format(i) for i in range(procedural)}
        if taken:
            raise ValueError(f"clean image name(s) {sorted(taken)[:3]} are those of the procedural images")
        cleans += _procedural_cleans(procedural, procedural_size, derive_seed(seed, "procedural"), variants)
        synthesis["procedural"] = {
            "count": procedural, "size": procedural_size,
            "function": f"{dead_leaves_images.__module__}.{dead_leaves_images.__name__}",
            "params": _defaults(dead_leaves), "names": "leaves-0000 ...",
            "seed": "dead_leaves_images(count, size, derive_seed(seed, 'procedural'))"}
    if photometric:
        synthesis["photometric"] = {
            "function": f"{vary_photometry.__module__}.{vary_photometry.__name__}",
            "params": _defaults(vary_photometry), "seed": "derive_seed(example seed, 'photometric')",
            "target": "the varied clean image"}
    return write_dataset(out_dir, _examples(cleans, variants, make_pair), task=task, split=split, kind=KIND,
                         source_dir=source_dir, options={}, synthesis=synthesis, write=write)


CONVERTER = Converter(KIND, convert_synth, None, "clean photos + synthesized degradation -> TASK", LAYOUT, "train",
                      SynthOptions)
