"""Restoring images of any size with one head: reflect padding, crop back, and overlapping tiles.

The network takes H and W that are multiples of 4 and at least `min_input_size` (docs/design.md §1.4),
so an image is reflect-padded at the bottom and right and the output cropped back. Images larger than a
pixel budget (`tile_above`) are restored in overlapping tiles blended with a raised-cosine window.
Because the attention pools over the whole input (GAP and TV statistics, paper eq. 6; docs/design.md
§4), a tiled result is not identical to the whole-image one: the tiles see local statistics.
`bench/tiling.py` measures the gap.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Callable

import numpy as np

from keras_durbm.config.engine import option
from keras_durbm.config.model import SIZE_MULTIPLE, min_input_size
from keras_durbm.config.tasks import Task
from keras_durbm.images.pixels import check_float_rgb

#: Tile overlap when none is given (capped at a quarter of the tile); bench/tiling.py shows 64 beats 32.
DEFAULT_OVERLAP = 64
#: Largest image (in pixels) restored in one pass before `restore` switches to tiles (≈ 2048²).
DEFAULT_TILE_ABOVE = 2048 * 2048


@dataclasses.dataclass(frozen=True)
class TilingConfig:
    """How images are split into tiles (the `--tile`, `--overlap`, `--tile-above` flags of every restorer)."""

    tile: int | None = option(None, "restore in tiles of this side (default: whole images up to --tile-above)")
    overlap: int | None = option(None, f"tile overlap in pixels (default {DEFAULT_OVERLAP}, at most a quarter of "
                                       "the tile)")
    tile_above: int = option(DEFAULT_TILE_ABOVE, "tile automatically above this many pixels (0: never)")

    def __post_init__(self):
        if self.tile is not None and self.tile < 1:
            raise ValueError(f"--tile must be at least 1, got {self.tile}")
        if self.overlap is not None and self.overlap < 0:
            raise ValueError(f"--overlap must be at least 0, got {self.overlap}")
        if self.tile_above < 0:
            raise ValueError(f"--tile-above must be at least 0, got {self.tile_above}")
        if self.tile is not None and self.overlap is not None and 2 * self.overlap > _round_up(self.tile, SIZE_MULTIPLE):
            raise ValueError(f"--overlap {self.overlap} is more than half of --tile {self.tile}; expected 0 to "
                             f"{_round_up(self.tile, SIZE_MULTIPLE) // 2}")


Runner = Callable[[np.ndarray], np.ndarray]  # float32 (N, H, W, 3) → (N, H, W, 3)
Progress = Callable[[int, int], None]  # (passes done, passes in all): called after each tile or whole-image pass
_RUNNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def pad_to_multiple(image: np.ndarray, multiple: int = SIZE_MULTIPLE,
                    min_size: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pads the bottom and right of an (…, H, W, C) array so that H and W are multiples of
    `multiple` and at least `min_size`; returns the padded array and the original (H, W) to crop back to.

    Uses `np.pad(mode="reflect")` (the edge pixel is not repeated). When a pad is larger than the image
    numpy keeps reflecting back and forth, and a one-pixel axis is repeated; so tiny images still pad.
    """
    image = np.asarray(image)
    if image.ndim < 3:
        raise ValueError(f"expected an (..., H, W, C) array, got shape {image.shape}")
    h, w = image.shape[-3], image.shape[-2]
    if h < 1 or w < 1:
        raise ValueError(f"cannot pad an empty image of shape {image.shape}")
    target_h = _round_up(max(h, min_size), multiple)
    target_w = _round_up(max(w, min_size), multiple)
    if (target_h, target_w) == (h, w):
        return image, (h, w)
    pads = [(0, 0)] * (image.ndim - 3) + [(0, target_h - h), (0, target_w - w), (0, 0)]
    return np.pad(image, pads, mode="reflect"), (h, w)


def check_head(model, task: Task) -> str:
    """The head name of `task` in `model`; a KeyError listing the model's heads when it has none."""
    if task.name not in model.task_names:
        raise KeyError(f"this model has no {task.name!r} head; its heads: {', '.join(model.task_names)}")
    return task.name


def head_runner(model, task: Task) -> Runner:
    """A cached, traced-once function running `task`'s head on a float32 NHWC batch of any size."""
    from keras_durbm.models.network import head_model  # heavy (Keras): on first use, for --help speed

    name = check_head(model, task)
    return cached_runner(model, name, lambda: head_model(model, name))


def cached_runner(model, key: str, make_submodel: Callable[[], object]) -> Runner:
    """The traced-once function of `model`'s sub-model `key` (built by `make_submodel` on first use):
    float32 NHWC batch of any size → NumPy output. Cached per model, forgotten with it."""
    import tensorflow as tf  # heavy (with Keras): imported on first use so that CLIs answer --help without it

    per_model = _RUNNERS.setdefault(model, {})
    if key not in per_model:
        submodel = make_submodel()
        fn = tf.function(lambda x: submodel(x, training=False), autograph=False, reduce_retracing=True,
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        per_model[key] = lambda batch: fn(tf.constant(batch, tf.float32)).numpy()
    return per_model[key]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering `length` with stride `tile − overlap`; the last
    tile is moved back to end at the border (it then overlaps its neighbour by more)."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return [*starts, length - tile]


def tile_window(size: int, overlap: int, *, left: bool, right: bool) -> np.ndarray:
    """1-D blending weights of one tile: raised-cosine ramps over `overlap` pixels on the sides that
    have a neighbour, 1 elsewhere. Ramps of neighbours overlapping by exactly `overlap` sum to 1."""
    weights = np.ones(size, dtype=np.float64)
    if overlap:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)
        if left:
            weights[:overlap] = ramp
        if right:
            weights[size - overlap:] = ramp[::-1]
    return weights


def axis_weights(length: int, tile: int, overlap: int) -> list[tuple[int, np.ndarray]]:
    """(start, weights) of every tile along an axis, the weights normalised to sum to 1 at every pixel."""
    size = min(tile, length)
    starts = tile_starts(length, tile, overlap)
    windows = [tile_window(size, overlap, left=i > 0, right=i < len(starts) - 1) for i in range(len(starts))]
    total = np.zeros(length)
    for start, window in zip(starts, windows, strict=True):
        total[start:start + size] += window
    return [(start, window / total[start:start + size]) for start, window in zip(starts, windows, strict=True)]


def _run_padded(run: Runner, batch: np.ndarray, min_size: int) -> np.ndarray:
    padded, (h, w) = pad_to_multiple(batch, SIZE_MULTIPLE, min_size)
    return run(np.ascontiguousarray(padded, dtype=np.float32))[:, :h, :w]


def restore_with(run: Runner, image: np.ndarray, *, min_size: int = 0, tile: int | None = None,
                 overlap: int | None = None, batch_size: int = 1, progress: Progress | None = None) -> np.ndarray:
    """Restores an (H, W, 3) image with `run` (any NHWC → NHWC function): whole, or in blended tiles.

    Each pass is padded to a multiple of 4 (and `min_size`) and cropped back. With `tile`, tiles of
    `tile`×`tile` (rounded up to a multiple of 4) overlap by `overlap` pixels (default: 64, at most a
    quarter of the tile) and are blended with normalised raised-cosine weights, `batch_size` tiles per
    call. `progress`, when given, is called with (tiles done, tiles in all) after each call (with (1, 1)
    after a whole-image pass); it may raise to stop the restoration. Returns unclipped float32.
    """
    h, w = image.shape[:2]
    if tile is None or (h <= tile and w <= tile):
        restored = _run_padded(run, image[None], min_size)[0]
        if progress is not None:
            progress(1, 1)
        return restored
    tile = _round_up(max(int(tile), min_size, SIZE_MULTIPLE), SIZE_MULTIPLE)
    if overlap is None:
        overlap = min(DEFAULT_OVERLAP, tile // 4)
    if overlap < 0 or 2 * overlap > tile:
        raise ValueError(f"overlap must be between 0 and half the tile ({tile // 2}), got {overlap}")
    rows, cols = axis_weights(h, tile, overlap), axis_weights(w, tile, overlap)
    th, tw = min(tile, h), min(tile, w)
    output = np.zeros((h, w, 3), np.float32)
    jobs = [(top, wy, left, wx) for top, wy in rows for left, wx in cols]
    for first in range(0, len(jobs), max(1, batch_size)):
        chunk = jobs[first:first + max(1, batch_size)]
        batch = np.stack([image[top:top + th, left:left + tw] for top, _, left, _ in chunk])
        restored = _run_padded(run, batch, min_size)
        for (top, wy, left, wx), out in zip(chunk, restored, strict=True):
            output[top:top + th, left:left + tw] += (wy[:, None] * wx[None, :]).astype(np.float32)[..., None] * out
        if progress is not None:
            progress(first + len(chunk), len(jobs))
    return output


def auto_tile(height: int, width: int, tile_above: int | None) -> int | None:
    """Tile side for an image over `tile_above` pixels (the largest multiple of 4 whose square fits), else None."""
    if not tile_above or height * width <= tile_above:
        return None
    return max(SIZE_MULTIPLE, int(math.isqrt(int(tile_above))) // SIZE_MULTIPLE * SIZE_MULTIPLE)


def restore(model, image: np.ndarray, task: Task, *, tile: int | None = None, overlap: int | None = None,
            tile_above: int | None = DEFAULT_TILE_ABOVE, batch_size: int = 1,
            progress: Progress | None = None) -> np.ndarray:
    """Restores float RGB (H, W, 3) in [0, 1] with `model`'s `task` head; float32 (H, W, 3) clipped to [0, 1].

    Whole-image by default; in tiles when `tile` is given or the image exceeds `tile_above` pixels (then
    tiles of the largest side that fits the budget). See `restore_with` for the tiling and `progress`;
    the other keyword arguments are the fields of `TilingConfig`.
    """
    run = head_runner(model, task)
    image = check_float_rgb(image)
    if tile is None:
        tile = auto_tile(*image.shape[:2], tile_above)
    restored = restore_with(run, image, min_size=min_input_size(model.config), tile=tile, overlap=overlap,
                            batch_size=batch_size, progress=progress)
    return np.clip(restored, 0.0, 1.0)
