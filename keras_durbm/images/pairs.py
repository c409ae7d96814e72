"""An input/target image pair, and pairs read from two folders matched by file stem.

`Pair` is what every part of the project passes around: a converter builds uint8 pairs for the
shards, evaluation and training validation read float pairs in [0, 1] back. Folder pairs match inputs
to targets by stem; an input `NAME_K` (K a number) also matches a target `NAME`, so the ten hazy
images per ground truth of RESIDE SOTS are each a pair.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from keras_durbm.errors import BadImageError
from keras_durbm.images.io import DEFAULT_MAX_PIXELS, list_images, read_image

_NUMBERED = re.compile(r"^(?P<base>.+)_\d+$")


@dataclasses.dataclass(frozen=True, eq=False)
class Pair:
    """A degraded `input` and its clean `target` (same H×W×3; uint8, or float32 in [0, 1]).

    Args:
        input, target: the two images.
        name: where the pair comes from (a file name, a record's source), for reports and errors.
        meta: per-pair facts (synthesis parameters, JPEG quality, ...).
    """

    input: np.ndarray
    target: np.ndarray
    name: str = ""
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


def check_same_size(input_path: str, input_hw: tuple[int, int], target_path: str,
                    target_hw: tuple[int, int]) -> None:
    """Raises `BadImageError` naming both files when an input/target pair differs in size."""
    if tuple(input_hw) != tuple(target_hw):
        raise BadImageError(
            input_path,
            f"size {input_hw[1]}x{input_hw[0]} (WxH) differs from its target {target_path} "
            f"({target_hw[1]}x{target_hw[0]})", "input and target of the same size")


def match_pairs(input_dir: str, target_dir: str) -> list[tuple[str, str, str]]:
    """(name, input path, target path) for every input, matched to a target by stem (or `stem_K` → `stem`)."""
    for folder in (input_dir, target_dir):
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{folder}: no such folder (expected a folder of images)")
    targets: dict[str, str] = {}
    for name in list_images(target_dir):
        stem = os.path.splitext(name)[0]
        if stem in targets:
            raise ValueError(f"{target_dir}: two targets share the stem {stem!r} ({targets[stem]}, {name})")
        targets[stem] = name
    matched, unmatched = [], []
    for name in list_images(input_dir):
        stem = os.path.splitext(name)[0]
        numbered = _NUMBERED.match(stem)
        key = stem if stem in targets else (numbered["base"] if numbered and numbered["base"] in targets else None)
        if key is None:
            unmatched.append(name)
        else:
            matched.append((name, os.path.join(input_dir, name), os.path.join(target_dir, targets[key])))
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
        raise ValueError(f"{input_dir}: no target in {target_dir} for {shown}; expected a target with the same "
                         "stem (or NAME for inputs NAME_K, as in SOTS)")
    if not matched:
        raise ValueError(f"{input_dir}: no images found (expected PNG/JPEG/BMP/TIFF files)")
    return matched


def read_pairs(matched: list[tuple[str, str, str]], *,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Iterator[Pair]:
    """Reads matched files lazily as float pairs; a size mismatch names both files."""
    for name, input_path, target_path in matched:
        inp, _ = read_image(input_path, max_pixels=max_pixels)
        target, _ = read_image(target_path, max_pixels=max_pixels)
        check_same_size(input_path, inp.shape[:2], target_path, target.shape[:2])
        yield Pair(inp, target, name)
