"""GoPro (GOPRO_Large, Nah et al. 2017) -> motion_blur records (docs/design.md §1.8: 2,103 train / 1,111 test pairs)."""

from __future__ import annotations

import dataclasses
import os

from keras_durbm.config.engine import option
from keras_durbm.config.tasks import MOTION_BLUR
from tfrecords_tools.converters.common import (
    Converter,
    describe_folder,
    paired_files,
    require_dir,
    require_images,
    subdirs,
)
from tfrecords_tools.errors import LayoutError
from tfrecords_tools.manifest import Group
from tfrecords_tools.writer import WriteConfig, write_dataset

KIND = "gopro"
DEFAULT_SPLIT = "train"
BLUR_FOLDERS = ("blur", "blur_gamma")
LAYOUT = """\
GOPRO_Large/                  <- SRC
  train/  test/               <- --split picks one
    GOPR0372_07_00/           one folder per sequence
      blur/000047.png         input (averaged frames; --blur blur_gamma uses the gamma-corrected ones)
      blur_gamma/000047.png
      sharp/000047.png        target, same file name"""


@dataclasses.dataclass(frozen=True)
class GoProOptions:
    blur: str = option("blur", "input folder of each sequence", choices=BLUR_FOLDERS)
    half: bool = option(False, "halve width and height (the paper trains on half-size GoPro and DIV2K)")


def gopro_examples(src: str, *, split: str = DEFAULT_SPLIT, blur: str = "blur", half: bool = False,
                   write: WriteConfig = WriteConfig()) -> list:
    """One example per frame of `SRC/<split>/<sequence>/<blur>/`, target `.../sharp/<same name>`."""
    if blur not in BLUR_FOLDERS:
        raise ValueError(f"blur must be one of {BLUR_FOLDERS}, got {blur!r}")
    require_dir(src, LAYOUT, "GOPRO_Large folder")
    root = os.path.join(src, split)
    if not os.path.isdir(root) and {"blur", "sharp"} & set(os.listdir(src)):
        raise LayoutError(src, "this looks like one sequence folder (it holds blur/ and sharp/)",
                          f"SRC to be the GOPRO_Large root:\n{LAYOUT}")
    require_dir(root, LAYOUT, f"split folder '{split}'")
    sequences = subdirs(root)
    if not sequences:
        raise LayoutError(root, f"no sequence folders (it holds: {describe_folder(root)})", f"this layout:\n{LAYOUT}")
    examples = []
    for seq in sequences:
        seq_dir = os.path.join(root, seq)
        if not (os.path.isdir(os.path.join(seq_dir, blur)) and os.path.isdir(os.path.join(seq_dir, "sharp"))):
            raise LayoutError(seq_dir, f"sequence folder without {blur}/ and sharp/ (it holds: "
                              f"{describe_folder(seq_dir)})", f"this layout:\n{LAYOUT}")
        blur_dir, sharp_dir = os.path.join(seq_dir, blur), os.path.join(seq_dir, "sharp")
        for name in require_images(blur_dir, LAYOUT):
            examples.append(paired_files(f"{split}/{seq}/{blur}/{name}", os.path.join(blur_dir, name),
                                         os.path.join(sharp_dir, name), write=write, half=half,
                                         meta={"blur": blur, "half": half},
                                         missing_target=f"sharp/{name} next to {blur}/{name}"))
    return examples


def convert_gopro(src: str | os.PathLike, out_dir: str | os.PathLike, *, split: str = DEFAULT_SPLIT,
                  blur: str = "blur", half: bool = False, write: WriteConfig = WriteConfig()) -> Group:
    """Converts one split of GOPRO_Large. `half`: halve both images (the paper trains on half-size
    GoPro; the test protocol uses full resolution). Returns the manifest group."""
    src = os.fspath(src)
    examples = gopro_examples(src, split=split, blur=blur, half=half, write=write)
    return write_dataset(out_dir, examples, task=MOTION_BLUR, split=split, kind=KIND, source_dir=src,
                         options={"blur": blur, "half": half}, write=write)


CONVERTER = Converter(KIND, convert_gopro, MOTION_BLUR, "GoPro (GOPRO_Large) -> motion_blur", LAYOUT,
                      DEFAULT_SPLIT, GoProOptions)
