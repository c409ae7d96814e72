"""DID-MDN (Zhang & Patel 2018) -> rain records: 12,000 training pairs (4,000 per rain density) and
1,200 test pairs, each file one side-by-side pair (docs/design.md §1.8).

Which half is which: the left half is the rainy input and the right half the clean target, as read by the
authors' DuRN loader (`pietorch/data_convertors.py`, `DIDMDNdata_loader`: `rainy = left`, `label = right`).
`--rainy-side right` swaps them for copies of the data stored the other way round.
"""

from __future__ import annotations

import dataclasses
import glob
import os

from keras_durbm.config.engine import option
from keras_durbm.config.tasks import RAIN
from keras_durbm.errors import BadImageError
from keras_durbm.images.io import list_images
from keras_durbm.images.pairs import Pair
from tfrecords_tools.converters.common import Converter, describe_folder, probe_rgb8, read_source, require_dir
from tfrecords_tools.errors import LayoutError
from tfrecords_tools.manifest import Group
from tfrecords_tools.writer import ExampleSpec, WriteConfig, write_dataset

KIND = "didmdn"
RAINY_SIDES = ("left", "right")
LAYOUT = """\
DID-MDN-training/             <- SRC for the training set
  Rain_Heavy/train2018new/1.jpg
  Rain_Medium/train2018new/1.jpg
  Rain_Light/train2018new/1.jpg
DID-MDN-test/1.jpg            <- or SRC = a folder of pair files (the test set)
Each file is [ rainy | clean ] side by side: left half = input, right half = target (--rainy-side right swaps)."""


@dataclasses.dataclass(frozen=True)
class DidMdnOptions:
    rainy_side: str = option("left", "half holding the rainy input (the authors' loader reads the left)",
                             choices=RAINY_SIDES)


def _pair_example(source: str, path: str, *, rainy_side: str, write: WriteConfig) -> ExampleSpec:
    def halves(width: int) -> int:
        if width % 2:
            raise BadImageError(path, f"width {width} is odd, so it cannot be two halves side by side",
                                "a [rainy | clean] pair of even width")
        return width // 2

    def probe() -> tuple[int, int]:
        height, width = probe_rgb8(path, write)
        return height, halves(width)

    def load() -> Pair:
        img = read_source(path, write)
        w = halves(img.shape[1])
        left, right = img[:, :w].copy(), img[:, w:].copy()
        x, y = (left, right) if rainy_side == "left" else (right, left)
        return Pair(x, y, source, {"rainy_side": rainy_side})

    return ExampleSpec(source=source, files=(path,), probe=probe, load=load)


def didmdn_examples(src: str, *, rainy_side: str = "left", write: WriteConfig = WriteConfig()) -> list[ExampleSpec]:
    """Pair files directly in SRC, or in `SRC/Rain_*/train2018new/`."""
    if rainy_side not in RAINY_SIDES:
        raise ValueError(f"rainy_side must be 'left' or 'right', got {rainy_side!r}")
    require_dir(src, LAYOUT, "DID-MDN folder")
    direct = list_images(src)
    if direct:
        pairs = [(name, os.path.join(src, name)) for name in direct]
    else:
        folders = sorted(glob.glob(os.path.join(glob.escape(src), "Rain_*", "train2018new")))
        pairs = []
        for folder in folders:
            rel = os.path.relpath(folder, src)
            pairs += [(f"{rel}/{name}", os.path.join(folder, name)) for name in list_images(folder)]
        if not pairs:
            raise LayoutError(src, f"no pair images here nor in Rain_*/train2018new/ (it holds: "
                              f"{describe_folder(src)})", f"this layout:\n{LAYOUT}")
    return [_pair_example(s, p, rainy_side=rainy_side, write=write) for s, p in pairs]


def convert_didmdn(src: str | os.PathLike, out_dir: str | os.PathLike, *, split: str = "train",
                   rainy_side: str = "left", write: WriteConfig = WriteConfig()) -> Group:
    """Converts DID-MDN pair files (split each into rainy input and clean target); returns the group."""
    src = os.fspath(src)
    examples = didmdn_examples(src, rainy_side=rainy_side, write=write)
    return write_dataset(out_dir, examples, task=RAIN, split=split, kind=KIND, source_dir=src,
                         options={"rainy_side": rainy_side}, write=write)


CONVERTER = Converter(KIND, convert_didmdn, RAIN, "DID-MDN side-by-side pairs -> rain", LAYOUT, "train",
                      DidMdnOptions)
