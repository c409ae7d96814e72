"""Random photometric variation of a clean image: exposure, white balance, gamma, saturation and grey.

Each step is a small function of a float32 (H, W, 3) image in [0, 1] that returns one in [0, 1];
`vary_photometry` draws the step parameters from a seed and applies them in that order. Luma uses the
ITU-R BT.601 weights (0.299, 0.587, 0.114).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_durbm.images.pixels import check_float_rgb
from tfrecords_tools.synthesis._common import Range, sample

#: ITU-R BT.601 luma weights of R, G and B.
LUMA_WEIGHTS_BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma `Y = 0.299 R + 0.587 G + 0.114 B` of an (H, W, 3) image, as (H, W)."""
    return np.asarray(image, dtype=np.float32) @ LUMA_WEIGHTS_BT601


def adjust_exposure(image: np.ndarray, stops: float) -> np.ndarray:
    """Multiplies by `2**stops` (one stop doubles the light) and clips to [0, 1]."""
    return np.clip(image * np.float32(2.0 ** float(stops)), 0.0, 1.0).astype(np.float32)


def apply_white_balance(image: np.ndarray, gains: Sequence[float]) -> np.ndarray:
    """Multiplies R, G and B by their `gains` and clips to [0, 1]."""
    gains = np.asarray(gains, dtype=np.float32)
    if gains.shape != (3,) or not (gains > 0).all():
        raise ValueError(f"white balance gains must be 3 positive numbers (R, G, B), got {gains.tolist()}")
    return np.clip(image * gains, 0.0, 1.0).astype(np.float32)


def apply_gamma(image: np.ndarray, gamma: float) -> np.ndarray:
    """`image ** gamma` (gamma > 1 darkens the mid-tones, < 1 lightens them)."""
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    return np.power(np.clip(image, 0.0, 1.0), np.float32(gamma)).astype(np.float32)


def adjust_saturation(image: np.ndarray, factor: float) -> np.ndarray:
    """Mixes each pixel with its luma: `Y + factor (RGB - Y)`; 0 gives grey, 1 the image, > 1 more colour."""
    if not factor >= 0:
        raise ValueError(f"saturation factor must be >= 0, got {factor}")
    y = luma(image)[..., None]
    return np.clip(y + np.float32(factor) * (image - y), 0.0, 1.0).astype(np.float32)


def to_grey(image: np.ndarray) -> np.ndarray:
    """The luma repeated in R, G and B."""
    return np.repeat(np.clip(luma(image), 0.0, 1.0)[..., None], 3, axis=-1)


def vary_photometry(image: np.ndarray, seed: int, *, exposure: Range = (-1.0, 1.0), gamma: Range = (0.7, 1.4),
                    saturation: Range = (0.3, 1.5), white_balance: Range = (0.85, 1.15),
                    grey_probability: float = 0.1, return_info: bool = False):
    """Random exposure, white balance, gamma, saturation and sometimes grey; deterministic for `seed`.

    Args:
        exposure: stops (`2**stops` times the light), a number or a `(low, high)` range sampled uniformly.
        gamma: exponent applied to the values, a number or a range.
        saturation: factor of the colour around the luma, a number or a range.
        white_balance: gain of each of R, G and B, drawn independently from this number or range.
        grey_probability: chance that the result is grey (its luma in the three channels).
        return_info: also return the drawn `{"exposure", "white_balance", "gamma", "saturation", "grey"}`.
    """
    img = check_float_rgb(image, tolerance=0.0)
    if not 0.0 <= grey_probability <= 1.0:
        raise ValueError(f"grey_probability must be a probability in [0, 1], got {grey_probability}")
    rng = np.random.default_rng(seed)
    info = {"exposure": sample(rng, exposure, "exposure"),
            "white_balance": [sample(rng, white_balance, "white_balance") for _ in range(3)],
            "gamma": sample(rng, gamma, "gamma"),
            "saturation": sample(rng, saturation, "saturation"),
            "grey": bool(rng.random() < grey_probability)}
    out = adjust_exposure(img, info["exposure"])
    out = apply_white_balance(out, info["white_balance"])
    out = apply_gamma(out, info["gamma"])
    out = to_grey(out) if info["grey"] else adjust_saturation(out, info["saturation"])
    return (out, info) if return_info else out
