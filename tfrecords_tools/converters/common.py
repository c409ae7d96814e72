"""Pieces shared by the dataset converters: the converter record of the registry, folder checks that explain
the expected layout, and paired-file and clean-image examples."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from keras_durbm.config.tasks import Task
from keras_durbm.errors import BadImageError
from keras_durbm.images import io as image_io
from keras_durbm.images.io import list_images
from keras_durbm.images.pairs import Pair, check_same_size
from keras_durbm.images.pixels import center_crop, resize_half
from tfrecords_tools.errors import LayoutError
from tfrecords_tools.manifest import Group
from tfrecords_tools.writer import ExampleSpec, WriteConfig


@dataclasses.dataclass(frozen=True)
class Converter:
    """One dataset kind of `python -m tfrecords_tools.convert <kind>`: the registry's only record of it.

    Args:
        kind: the CLI name (`gopro`, `reside-its`, ...).
        function: `function(src, out_dir, *, split, **options, **write_options) -> Group`.
        task: the task it converts to (None: the user names it with `--task`).
        help: one line for `--help`.
        layout: the folder tree SRC must have, shown in `--help` and in layout errors.
        default_split: the split written unless `--split` is given.
        options: dataclass of the kind's own options (flags are derived from its fields), or None.
    """

    kind: str
    function: Callable[..., Group]
    task: Task | None
    help: str
    layout: str
    default_split: str = "train"
    options: type | None = None


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


def paired_files(source: str, input_path: str, target_path: str | None, *, write: WriteConfig, half: bool = False,
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
        return probe_rgb8(input_path, write), probe_rgb8(target_path, write)

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
        x = read_source(input_path, write)
        y = read_source(target_path, write)
        extra: dict[str, Any] = {}
        if fit_target(x.shape[:2], y.shape[:2]):
            extra["target_cropped_from_hw"] = list(y.shape[:2])
            y = center_crop(y, *x.shape[:2])
        if half:
            x, y = resize_half(x), resize_half(y)
        return Pair(x, y, source, {**(meta or {}), **extra})

    return ExampleSpec(source=source, files=files, probe=probe, load=load)


def clean_image_examples(names_paths: Sequence[tuple[str, str]], *, variants: Sequence[Any], write: WriteConfig,
                         half: bool, degrade: Callable[[np.ndarray, Any, str], tuple[np.ndarray, dict[str, Any]]],
                         suffix: Callable[[Any], str]) -> list[ExampleSpec]:
    """Examples made from clean image files: target = the (optionally halved) clean image, input =
    `degrade(clean_u8, variant, name) -> (degraded_u8, meta)`; one example per image and variant."""
    out = []
    for name, path in names_paths:
        for v in variants:
            def probe(path=path) -> tuple[int, int]:
                h, w = probe_rgb8(path, write)
                return (h // 2, w // 2) if half else (h, w)

            def load(path=path, v=v, name=name) -> Pair:
                clean = read_source(path, write)
                if half:
                    clean = resize_half(clean)
                degraded, meta = degrade(clean, v, name)
                return Pair(degraded, clean, name, meta)

            out.append(ExampleSpec(source=f"{name}{suffix(v)}", files=(path,), probe=probe, load=load))
    return out


def probe_rgb8(path: str, write: WriteConfig) -> tuple[int, int]:
    """(H, W) of a source image from its header, checked as `read_source` will read it."""
    info = image_io.probe_rgb8(path, coerce=write.coerce_rgb, max_pixels=write.max_pixels)
    return info.height, info.width


def read_source(path: str, write: WriteConfig) -> np.ndarray:
    """A source image as uint8 RGB, with the conversion's coercion and pixel limit."""
    return image_io.read_rgb8(path, coerce=write.coerce_rgb, max_pixels=write.max_pixels)
