"""Pieces shared by the dataset converters: folder checks that explain the expected layout, paired-file
examples, and the write options every converter accepts."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tfrecords_tools import schema
from tfrecords_tools.errors import BadImageError, LayoutError
from tfrecords_tools.image_io import (
    center_crop,
    check_same_size,
    list_images,
    probe_image,
    read_rgb,
    resize_half,
)
from tfrecords_tools.writer import DEFAULT_SHARD_MB, ExampleSpec, Pair, write_dataset

#: The paper's training crop (DESIGN §1.7): training images smaller than this are bad input by default.
TRAIN_CROP = 256


@dataclasses.dataclass(frozen=True)
class WriteOptions:
    """How a converter writes (all converters accept these as keyword arguments).

    Args:
        min_size: smallest allowed height/width of an output image; None: 256 (the training crop) for
            split "train", 1 otherwise.
        encoding: "png" (default) or "raw" (uint8 bytes: ~2x the disk, much faster to decode).
        png_level: zlib level of the PNG encoder (1: fast; 6: ~10% smaller, ~4x slower).
        shard_mb: target shard size in MB; min_shards: at least this many shards (for multi-worker
            training each task needs one shard per input pipeline).
        workers: threads for decoding/synthesis/encoding (None: all cores).
        skip_bad: skip bad examples and list them in the manifest instead of failing.
        overwrite: replace a task/split converted earlier with other settings.
        progress: show tqdm bars. coerce_rgb: convert grayscale/palette/opaque RGBA/16-bit sources.
    """

    min_size: int | None = None
    encoding: str = schema.PNG
    png_level: int = 1
    shard_mb: float = DEFAULT_SHARD_MB
    min_shards: int = 1
    workers: int | None = None
    skip_bad: bool = False
    overwrite: bool = False
    progress: bool = True
    coerce_rgb: bool = False


def make_write_options(kwargs: dict[str, Any]) -> WriteOptions:
    valid = {f.name for f in dataclasses.fields(WriteOptions)}
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; write options are: {', '.join(sorted(valid))}")
    return WriteOptions(**kwargs)


def write(out_dir: str | os.PathLike, examples: Sequence[ExampleSpec], *, task: str, split: str, kind: str,
          options: dict[str, Any], opts: WriteOptions, source_dir: str | None,
          synthesis: dict[str, Any] | None = None) -> dict[str, Any]:
    """Forwards to `writer.write_dataset` with the resolved write options."""
    min_size = opts.min_size if opts.min_size is not None else (TRAIN_CROP if split == "train" else 1)
    options = {**options, "coerce_rgb": opts.coerce_rgb}
    return write_dataset(out_dir, examples, task=task, split=split, kind=kind, options=options,
                         synthesis=synthesis, source_dir=source_dir, encoding=opts.encoding,
                         png_level=opts.png_level, shard_mb=opts.shard_mb, min_shards=opts.min_shards,
                         min_size=min_size, workers=opts.workers, skip_bad=opts.skip_bad,
                         overwrite=opts.overwrite, progress=opts.progress)


def describe_folder(path: str, limit: int = 8) -> str:
    """A short listing for error messages: `sub1/, sub2/, a.png, ...`."""
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return "nothing"
    shown = [n + ("/" if os.path.isdir(os.path.join(path, n)) else "") for n in names if not n.startswith(".")]
    if not shown:
        return "nothing (empty folder)"
    return ", ".join(shown[:limit]) + (f", ... ({len(shown)} entries)" if len(shown) > limit else "")


def require_dir(path: str, layout: str, what: str = "folder") -> str:
    """Returns `path` if it is a folder; otherwise a `LayoutError` that shows the expected layout."""
    if not os.path.isdir(path):
        parent = os.path.dirname(os.path.abspath(path))
        seen = f" ({os.path.basename(parent) or parent}/ holds: {describe_folder(parent)})" if os.path.isdir(parent) else ""
        raise LayoutError(path, f"{what} does not exist{seen}", f"this layout:\n{layout}")
    return path


def require_images(folder: str, layout: str) -> list[str]:
    """Image names directly in `folder`; a `LayoutError` showing the layout when there are none."""
    require_dir(folder, layout)
    names = list_images(folder)
    if not names:
        raise LayoutError(folder, f"no images in this folder (it holds: {describe_folder(folder)})",
                          f"this layout:\n{layout}")
    return names


def subdirs(folder: str) -> list[str]:
    return sorted(n for n in os.listdir(folder) if not n.startswith(".") and os.path.isdir(os.path.join(folder, n)))


def find_by_stem(folder: str, stem: str) -> str | None:
    """The image in `folder` whose name without extension is `stem` (None if absent)."""
    for name in list_images(folder):
        if os.path.splitext(name)[0] == stem:
            return os.path.join(folder, name)
    return None


def stem_index(folder: str) -> dict[str, str]:
    """`{stem: path}` of the images in `folder`; two files with one stem are a `LayoutError`."""
    out: dict[str, str] = {}
    for name in list_images(folder):
        stem = os.path.splitext(name)[0]
        if stem in out:
            raise LayoutError(os.path.join(folder, name), f"two images share the stem {stem!r} "
                              f"({os.path.basename(out[stem])} and {name})", "one image per file stem")
        out[stem] = os.path.join(folder, name)
    return out


def paired_files(source: str, input_path: str, target_path: str | None, *, coerce: bool, half: bool = False,
                 crop_target: bool = False, meta: dict[str, Any] | None = None,
                 missing_target: str = "a target image with the same name") -> ExampleSpec:
    """An example read from two files of the same size.

    `half`: halve both (paper: GoPro and DIV2K training images). `crop_target`: a target larger than the
    input is centre-cropped to it (RESIDE ships 640x480 ground truths for 620x460 hazy images)."""
    files = (input_path,) if target_path is None else (input_path, target_path)

    def missing() -> None:
        if target_path is None:
            raise BadImageError(input_path, "no matching target image", missing_target)
        if not os.path.exists(target_path):
            raise BadImageError(target_path, f"target image missing (input: {input_path})", missing_target)

    def sizes() -> tuple[tuple[int, int], tuple[int, int]]:
        missing()
        a = probe_image(input_path, coerce=coerce)
        b = probe_image(target_path, coerce=coerce)
        return (a.height, a.width), (b.height, b.width)

    def fit_target(in_hw: tuple[int, int], tgt_hw: tuple[int, int]) -> bool:
        if crop_target and tgt_hw[0] >= in_hw[0] and tgt_hw[1] >= in_hw[1] and tgt_hw != in_hw:
            return True
        check_same_size(input_path, in_hw, target_path, tgt_hw)
        return False

    def probe() -> tuple[int, int]:
        in_hw, tgt_hw = sizes()
        fit_target(in_hw, tgt_hw)
        return (in_hw[0] // 2, in_hw[1] // 2) if half else in_hw

    def load() -> Pair:
        missing()
        x = read_rgb(input_path, coerce=coerce)
        y = read_rgb(target_path, coerce=coerce)
        extra: dict[str, Any] = {}
        if fit_target(x.shape[:2], y.shape[:2]):
            extra["target_cropped_from_hw"] = list(y.shape[:2])
            y = center_crop(y, *x.shape[:2])
        if half:
            x, y = resize_half(x), resize_half(y)
        return Pair(x, y, {**(meta or {}), **extra})

    return ExampleSpec(source=source, files=files, probe=probe, load=load)


def clean_image_examples(names_paths: Sequence[tuple[str, str]], *, variants: Sequence[Any], coerce: bool,
                         half: bool, degrade: Callable[[np.ndarray, Any, str], tuple[np.ndarray, dict[str, Any]]],
                         suffix: Callable[[Any], str]) -> list[ExampleSpec]:
    """Examples made from clean image files: target = the (optionally halved) clean image, input =
    `degrade(clean_u8, variant, name) -> (degraded_u8, meta)`; one example per image and variant."""
    out = []
    for name, path in names_paths:
        for v in variants:
            def probe(path=path) -> tuple[int, int]:
                info = probe_image(path, coerce=coerce)
                return (info.height // 2, info.width // 2) if half else (info.height, info.width)

            def load(path=path, v=v, name=name) -> Pair:
                clean = read_rgb(path, coerce=coerce)
                if half:
                    clean = resize_half(clean)
                degraded, meta = degrade(clean, v, name)
                return Pair(degraded, clean, meta)

            out.append(ExampleSpec(source=f"{name}{suffix(v)}", files=(path,), probe=probe, load=load))
    return out
