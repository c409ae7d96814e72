"""Degradation synthesis, deterministic by seed (docs/design.md §1.8): haze (eq. 2), rain streaks (eq. 3), camera
motion blur and real JPEG. Every synthesizer takes a float32 (H, W, 3) image in [0, 1] and an int `seed`
plus keyword parameters, and returns the degraded float32 image in [0, 1]. NumPy and PIL only.

Each degradation comes in several families chosen by a keyword parameter whose default is the original
synthesis (same output for the same seed): motion blur `family` ("trajectory", "line", "curve"), haze
`depth_model` ("random", "noise", "ramp", "planar", "banded") and `airlight_tint`, rain `width` and
`softness`, JPEG `quality_range` and `subsampling`; a list of families draws one per image by seed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from keras_durbm.config.tasks import Task
from tfrecords_tools.synthesis.haze import add_haze
from tfrecords_tools.synthesis.jpeg import add_jpeg
from tfrecords_tools.synthesis.kernels import curve_kernel, line_kernel
from tfrecords_tools.synthesis.motion_blur import add_motion_blur
from tfrecords_tools.synthesis.rain import add_rain

#: Task name (keras_durbm.config.tasks) -> synthesizer `f(image, seed, **params) -> image`.
SYNTHESIZERS: dict[str, Callable[..., Any]] = {
    "motion_blur": add_motion_blur,
    "haze": add_haze,
    "rain": add_rain,
    "jpeg": add_jpeg,
}

_NOT_PARAMS = ("image", "seed", "return_info", "depth", "kernel")


def get_synthesizer(task: Task) -> Callable[..., Any]:
    """The synthesizer of a task; the error lists the tasks that have one."""
    if task.name not in SYNTHESIZERS:
        raise KeyError(f"no synthesizer for task {task.name!r}; available: {', '.join(SYNTHESIZERS)}")
    return SYNTHESIZERS[task.name]


def resolve_params(task: Task, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """All tunable parameters of a task's synthesizer (defaults updated by `overrides`), JSON-ready.
    Unknown parameter names raise a ValueError listing the valid ones."""
    fn = get_synthesizer(task)
    params = {name: p.default for name, p in inspect.signature(fn).parameters.items()
              if name not in _NOT_PARAMS and p.kind is inspect.Parameter.KEYWORD_ONLY}
    for key, value in (overrides or {}).items():
        if key not in params:
            raise ValueError(f"unknown {task.name} synthesis parameter {key!r}; valid: {', '.join(params)}")
        params[key] = value
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


__all__ = ["SYNTHESIZERS", "add_haze", "add_jpeg", "add_motion_blur", "add_rain", "curve_kernel",
           "get_synthesizer", "line_kernel", "resolve_params"]
