"""The natural photographs that ship inside scikit-image: the embedded default's data and the export's
calibration and parity images (no dataset can be downloaded on the project's machines)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def load_photo(name: str, max_side: int) -> np.ndarray:
    """A `skimage.data` photograph as uint8 RGB, area-downscaled so its longer side is <= `max_side`.

    Grey images are repeated to three channels, an alpha channel is dropped;
    `motorcycle` is the left view of `stereo_motorcycle`.
    """
    import skimage.data  # loads its sample registry; only callers that need photographs pay for it

    if name == "motorcycle":
        image = skimage.data.stereo_motorcycle()[0]
    else:
        loader = getattr(skimage.data, name, None)
        if loader is None or not callable(loader):
            raise ValueError(f"{name!r} is not an image of skimage.data")
        image = loader()
    image = np.asarray(image)
    if image.dtype == bool or image.dtype != np.uint8:
        raise ValueError(f"skimage.data.{name} is {image.dtype}, expected a uint8 photograph")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))
    return np.ascontiguousarray(image)


def load_photos(names: tuple[str, ...], max_side: int) -> list[tuple[str, np.ndarray]]:
    """`(name, uint8 RGB)` of several photographs."""
    return [(name, load_photo(name, max_side)) for name in names]
