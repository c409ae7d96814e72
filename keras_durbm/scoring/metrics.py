"""PSNR and SSIM as the paper scores them (docs/design.md §1.8), in NumPy.

Conventions, written once for the whole project (BasicSR-style):

* Images are scored as **uint8 HWC RGB in [0, 255]**. Network outputs (float, [0, 1], unclipped) go
  through `keras_durbm.images.pixels.to_uint8` first: clip to [0, 1], scale by 255, round half to even. (The authors' test code
  truncates with `astype(np.uint8)` instead, which costs them a little PSNR; rounding is the common
  convention.) Passing float images where uint8 is expected is an error, so an image in [0, 1] can
  never be scored as if its peak were 255.
* All arithmetic is float64; the peak value is 255 on RGB and on Y.
* **Y** is ITU-R BT.601 luma. `luma="opencv"` (the default, `DEFAULT_LUMA`) is what the authors' test
  code used (`cv2.COLOR_RGB2YCR_CB`): full swing `0.299 R + 0.587 G + 0.114 B`, rounded to uint8, so
  scores compare with the paper's tables. `luma="matlab"` is MATLAB's / scikit-image's `rgb2ycbcr`
  (BasicSR's `test_y_channel`): studio swing, `Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`, in
  [16, 235], not rounded. Studio-swing Y compresses the differences by 219/255, which reads about
  20·log10(255/219) = 1.32 dB higher: compare numbers only under the same convention.
* **SSIM** is scikit-image's `structural_similarity` with its defaults, as the authors called it
  (`compare_ssim(..., data_range=255)`): a 7×7 uniform window, sample covariance (N/(N−1)),
  K1 = 0.01, K2 = 0.03, the mean over the map without its 3-pixel border; on RGB the mean of the three
  channels' SSIMs. Images need at least 7×7 pixels after `crop_border`.
* **PSNR** = 10·log10(255² / MSE), MSE over all pixels (and channels for RGB); identical images
  give `inf`.
* `crop_border` removes that many pixels from every side before scoring (BasicSR; 0 in the paper).

Which colour space a task is scored on is the task registry's business (`Task.score_on`,
`Task.also_score_on`); `score` returns all of them with the space in the key (`psnr_y`, `ssim_rgb`).
"""

from __future__ import annotations

import math

import numpy as np

from keras_durbm.config.tasks import Task

COLOURS = ("y", "rgb")
LUMAS = ("matlab", "opencv")
DEFAULT_LUMA = "opencv"  # the authors' test code (cv2.COLOR_RGB2YCR_CB)
SSIM_WINDOW = 7  # scikit-image's default window (uniform)
_PEAK = 255.0


def _check_uint8_rgb(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        hint = " (float images in [0, 1] must go through keras_durbm.images.pixels.to_uint8 first)"
        raise TypeError(f"{what} must be a uint8 image in [0, 255], got dtype {image.dtype}{hint}")
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{what} must be an RGB image of shape (H, W, 3), got shape {image.shape}")
    return image


def rgb_to_y(image: np.ndarray, luma: str = DEFAULT_LUMA) -> np.ndarray:
    """ITU-R BT.601 luma of a uint8 RGB image as float64 (see the module docstring for `luma`)."""
    image = _check_uint8_rgb(image, "rgb_to_y input").astype(np.float64)
    if luma == "matlab":
        return 16.0 + image @ np.array([65.481, 128.553, 24.966]) / _PEAK
    if luma == "opencv":
        # OpenCV's 8-bit path: coefficients 4899, 9617, 1868 over 2**14, rounded to the nearest level.
        fixed = image @ np.array([4899.0, 9617.0, 1868.0]) + (1 << 13)
        return np.floor(fixed / (1 << 14))
    raise ValueError(f"luma must be one of {LUMAS}, got {luma!r}")


def _prepare(restored: np.ndarray, target: np.ndarray, colour: str, crop_border: int,
             luma: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated, cropped float64 planes (H, W, C) of the colour space being scored."""
    restored = _check_uint8_rgb(restored, "restored image")
    target = _check_uint8_rgb(target, "target image")
    if restored.shape != target.shape:
        raise ValueError(f"restored image has shape {restored.shape} but the target has {target.shape}")
    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {COLOURS}, got {colour!r}")
    if int(crop_border) != crop_border or crop_border < 0:
        raise ValueError(f"crop_border must be a non-negative int, got {crop_border!r}")
    h, w = target.shape[:2]
    if 2 * crop_border >= min(h, w):
        raise ValueError(f"crop_border={crop_border} leaves nothing of a {h}x{w} image")
    if colour == "y":
        a, b = rgb_to_y(restored, luma)[..., None], rgb_to_y(target, luma)[..., None]
    else:
        a, b = restored.astype(np.float64), target.astype(np.float64)
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    return a, b


def psnr(restored: np.ndarray, target: np.ndarray, *, colour: str = "y", crop_border: int = 0,
         luma: str = DEFAULT_LUMA) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 RGB images (`inf` when identical)."""
    a, b = _prepare(restored, target, colour, crop_border, luma)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(_PEAK**2 / mse)


def ssim(restored: np.ndarray, target: np.ndarray, *, colour: str = "y", crop_border: int = 0,
         luma: str = DEFAULT_LUMA) -> float:
    """Structural similarity of two uint8 RGB images (Wang et al. 2004; skimage's default estimator)."""
    a, b = _prepare(restored, target, colour, crop_border, luma)
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {a.shape[0]}x{a.shape[1]}"
                         + (f" after crop_border={crop_border}" if crop_border else ""))
    from skimage.metrics import structural_similarity  # on first use: keeps the CLIs' --help fast

    # the mean over channels of each channel's SSIM, each without its 3-pixel border (skimage's defaults)
    return float(structural_similarity(a, b, data_range=_PEAK, channel_axis=-1, win_size=SSIM_WINDOW))


def score_colours(task: Task) -> tuple[str, ...]:
    """Colour spaces a task is reported on: the protocol's first, then the extra ones (blur: y, rgb)."""
    return tuple(dict.fromkeys((task.score_on, *task.also_score_on)))


def protocol_keys(task: Task) -> tuple[str, str]:
    """The (PSNR, SSIM) keys of a task's protocol colour space, e.g. `("psnr_y", "ssim_y")`."""
    colour = score_colours(task)[0]
    return f"psnr_{colour}", f"ssim_{colour}"


def score(restored: np.ndarray, target: np.ndarray, task: Task, crop_border: int = 0,
          luma: str = DEFAULT_LUMA) -> dict[str, float]:
    """The task's protocol metrics plus its `also_score_on` ones: `{"psnr_y": …, "ssim_y": …, …}`."""
    result: dict[str, float] = {}
    for colour in score_colours(task):
        result[f"psnr_{colour}"] = psnr(restored, target, colour=colour, crop_border=crop_border, luma=luma)
        result[f"ssim_{colour}"] = ssim(restored, target, colour=colour, crop_border=crop_border, luma=luma)
    return result


def protocol_text(task: Task, crop_border: int = 0, luma: str = DEFAULT_LUMA) -> str:
    """One line naming the protocol `score` used, printed beside every table of scores."""
    spaces = []
    for colour in score_colours(task):
        label = ("Y (ITU-R BT.601, " + ("MATLAB rgb2ycbcr, 16..235" if luma == "matlab"
                                         else "OpenCV full range, rounded") + ")") if colour == "y" else "RGB"
        spaces.append(label + (" [paper protocol]" if colour == task.score_on else " [also reported]"))
    return (f"{task.name}: uint8 images (clip+round), PSNR peak 255, SSIM 7x7 uniform window (skimage default); "
            f"colour: {'; '.join(spaces)}; crop border {crop_border}")
