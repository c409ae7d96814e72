"""GoPro (GOPRO_Large, Nah et al. 2017) -> motion_blur records (DESIGN §1.8: 2,103 train / 1,111 test pairs)."""

from __future__ import annotations

import os
from typing import Any

from tfrecords_tools.converters.common import (
    describe_folder,
    make_write_options,
    paired_files,
    require_dir,
    require_images,
    subdirs,
    write,
)
from tfrecords_tools.errors import LayoutError

KIND = "gopro"
TASK = "motion_blur"
DEFAULT_SPLIT = "train"
BLUR_FOLDERS = ("blur", "blur_gamma")
LAYOUT = """\
GOPRO_Large/                  <- SRC
  train/  test/               <- --split picks one
    GOPR0372_07_00/           one folder per sequence
      blur/000047.png         input (averaged frames; --blur blur_gamma uses the gamma-corrected ones)
      blur_gamma/000047.png
      sharp/000047.png        target, same file name"""


def gopro_examples(src: str, *, split: str = DEFAULT_SPLIT, blur: str = "blur", half: bool = False,
                   coerce: bool = False) -> list:
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
                                         os.path.join(sharp_dir, name), coerce=coerce, half=half,
                                         meta={"blur": blur, "half": half},
                                         missing_target=f"sharp/{name} next to {blur}/{name}"))
    return examples


def convert_gopro(src: str | os.PathLike, out_dir: str | os.PathLike, *, split: str = DEFAULT_SPLIT,
                  blur: str = "blur", half: bool = False, **write_options: Any) -> dict[str, Any]:
    """Converts one split of GOPRO_Large. `half`: halve both images (the paper trains on half-size
    GoPro; the test protocol uses full resolution). Returns the manifest group."""
    src = os.fspath(src)
    opts = make_write_options(write_options)
    examples = gopro_examples(src, split=split, blur=blur, half=half, coerce=opts.coerce_rgb)
    return write(out_dir, examples, task=TASK, split=split, kind=KIND, opts=opts, source_dir=src,
                 options={"blur": blur, "half": half})
