"""Photographs the project never trains on, and the test crops `bench/generalization.py` cuts from them.

The project trains only on scikit-image's `skimage.data` photographs. The *foreign* set is photographs
shipped inside other installed Python packages (`FOREIGN_PHOTOS`): located with `importlib.util.find_spec`,
which finds a package's folder without importing it. Any folder of images can replace the set (`--photos`).

Each photograph gives up to `MAX_CROPS` non-overlapping, square-ish (aspect at most `MAX_ASPECT`) windows:
the image is split into a 1×3, 3×1 or 2×2 grid (whichever gives the largest windows; 1×2, 2×1 or 1×1
when the image is too small for windows of `MIN_CROP` px), each cell gives its largest centred window of
that aspect, and of a 2×2 grid the three windows with the most detail (luma standard deviation) are kept.
Each window is then downscaled (area averaging) so that its longer side is at most `max_side`.
Deterministic: the same files give the same crops.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os

import numpy as np

#: (package, path inside the package, what the photograph shows). None of these is a `skimage.data` image.
#: (imgaug also ships `lena.jpg`: deliberately not used.)
FOREIGN_PHOTOS: tuple[tuple[str, str, str], ...] = (
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "portrait (Grace Hopper)"),
    ("sklearn", "datasets/images/china.jpg", "landscape with a building (a Chinese temple)"),
    ("sklearn", "datasets/images/flower.jpg", "macro, shallow depth of field"),
    ("mahotas", "demos/data/DepartmentStore.jpg", "indoor scene (a department store)"),
    ("mahotas", "demos/data/luispedro.jpg", "portrait"),
    ("imgaug", "quokka.jpg", "animal (a quokka)"),
)
#: Crops per photograph, at most.
MAX_CROPS = 3
#: The longer side of a crop window over its shorter side, at most (before the downscale).
MAX_ASPECT = 4 / 3
#: The shortest side of a crop window (before the downscale); smaller grids are tried when it does not fit.
MIN_CROP = 32
#: Grids (rows, columns) tried, most crops first.
GRIDS = (((1, 3), (3, 1), (2, 2)), ((1, 2), (2, 1)), ((1, 1),))


@dataclasses.dataclass(frozen=True)
class Photo:
    """One photograph found: its name (file stem), source (package or folder), file and description."""

    name: str
    source: str
    path: str
    description: str = ""


@dataclasses.dataclass(frozen=True)
class TestImage:
    """One test image: a crop of a photograph, uint8 RGB."""

    name: str  # `<photo>-<k>`, k from 1
    source: str
    window: tuple[int, int, int, int]  # top, left, height, width in the photograph
    image: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


def package_folder(package: str) -> str | None:
    """The folder of an installed top-level package, found without importing it (None when not installed)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return os.path.dirname(spec.origin) if spec.origin else None


def find_foreign_photos(photos: tuple[tuple[str, str, str], ...] = FOREIGN_PHOTOS) -> tuple[list[Photo], list[str]]:
    """(the photographs found, `package/path` of those missing)."""
    found, missing = [], []
    for package, relative, description in photos:
        folder = package_folder(package)
        path = os.path.join(folder, *relative.split("/")) if folder else None
        if path and os.path.isfile(path):
            found.append(Photo(os.path.splitext(os.path.basename(relative))[0], package, path, description))
        else:
            missing.append(f"{package}/{relative}" + ("" if folder else f" ({package} not installed)"))
    return found, missing


def folder_photos(folder: str) -> list[Photo]:
    """The images directly inside `folder` (sorted by name); FileNotFoundError when it is not a folder."""
    from keras_durbm.images.io import list_images

    if not os.path.isdir(folder):
        raise FileNotFoundError(f"photo folder {folder} does not exist")
    source = os.path.basename(os.path.normpath(folder)) or folder
    return [Photo(os.path.splitext(n)[0], source, os.path.join(folder, n)) for n in list_images(folder)]


def read_rgb8(path: str) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3), read with `keras_durbm.images.io.read_image` (grey repeated,
    alpha dropped, 16-bit rounded)."""
    from keras_durbm.images.io import read_image
    from keras_durbm.images.pixels import to_uint8

    rgb, _ = read_image(path)
    return to_uint8(rgb)


def _window_in(height: int, width: int) -> tuple[int, int]:
    """The largest (h, w) window of aspect at most `MAX_ASPECT` inside a height × width cell."""
    h = min(height, int(MAX_ASPECT * width))
    w = min(width, int(MAX_ASPECT * h))
    return h, w


def crop_windows(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """Up to `MAX_CROPS` non-overlapping (top, left, h, w) windows of a height × width image, in raster order
    (a 2×2 grid gives four: `crops` keeps three). Empty when even one `MIN_CROP` window does not fit."""
    for grids in GRIDS:
        best, best_area = None, 0
        for rows, cols in grids:
            cell_h, cell_w = height // rows, width // cols
            h, w = _window_in(cell_h, cell_w)
            if min(h, w) >= MIN_CROP and h * w > best_area:  # ties: the first grid listed
                best, best_area = (rows, cols, cell_h, cell_w, h, w), h * w
        if best:
            rows, cols, cell_h, cell_w, h, w = best
            return [(r * cell_h + (cell_h - h) // 2, c * cell_w + (cell_w - w) // 2, h, w)
                    for r in range(rows) for c in range(cols)]
    return []


def downscale(image: np.ndarray, max_side: int) -> np.ndarray:
    """Area (box) downscale so that the longer side is at most `max_side`; smaller images are kept."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return np.ascontiguousarray(image)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def _detail(image: np.ndarray) -> float:
    return float(np.std(image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])))


def crops(photo: Photo, image: np.ndarray, max_side: int) -> list[TestImage]:
    """The test images of one photograph (uint8 RGB `image`): see the module docstring."""
    windows = crop_windows(*image.shape[:2])
    if len(windows) > MAX_CROPS:  # a 2×2 grid: keep the windows with the most detail, in raster order
        detail = [_detail(image[top:top + h, left:left + w]) for top, left, h, w in windows]
        keep = sorted(sorted(range(len(windows)), key=lambda i: -detail[i])[:MAX_CROPS])
        windows = [windows[i] for i in keep]
    return [TestImage(f"{photo.name}-{k + 1}", photo.source, window,
                      downscale(image[window[0]:window[0] + window[2], window[1]:window[1] + window[3]], max_side))
            for k, window in enumerate(windows)]
