"""Clean-image sets compressed with PIL JPEG -> jpeg records: DIV2K for training (800 images, qualities
10/20/30/40, halved in the paper) and LIVE1 for testing (29 images at quality 10), DESIGN §1.8."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tfrecords_tools.converters.common import clean_image_examples, make_write_options, require_images, write
from tfrecords_tools.synthesis.jpeg import TEST_QUALITY, TRAIN_QUALITIES, jpeg_roundtrip_u8

TASK = "jpeg"
DIV2K_LAYOUT = """\
DIV2K_train_HR/  (or DIV2K_valid_HR/)   <- SRC
  0001.png ... 0800.png       clean images; each is written once per JPEG quality (input) with itself (target)"""
LIVE1_LAYOUT = """\
LIVE1/  (refimgs/ of the LIVE IQA release 2)   <- SRC
  bikes.bmp  buildings.bmp ...  the 29 clean reference images; input = PIL JPEG at quality 10"""


def jpeg_examples(src: str, *, qualities: Sequence[int], half: bool, coerce: bool, layout: str) -> list:
    """One example per clean image and quality: input = PIL JPEG of the RGB image, decoded."""
    qualities = [int(q) for q in qualities]
    if not qualities or any(not 1 <= q <= 100 for q in qualities):
        raise ValueError(f"qualities must be integers in 1..100, got {qualities}")
    names = require_images(src, layout)

    def degrade(clean, q, _name):
        return jpeg_roundtrip_u8(clean, q), {"quality": q}

    return clean_image_examples([(n, os.path.join(src, n)) for n in names], variants=qualities, coerce=coerce,
                                half=half, degrade=degrade, suffix=lambda q: f"#q={q}")


def convert_div2k_jpeg(src: str | os.PathLike, out_dir: str | os.PathLike, *, split: str = "train",
                       qualities: Sequence[int] = TRAIN_QUALITIES, half: bool = False,
                       **write_options: Any) -> dict[str, Any]:
    """Converts DIV2K HR images at each quality of `qualities`; `half` halves the clean image first."""
    src = os.fspath(src)
    opts = make_write_options(write_options)
    examples = jpeg_examples(src, qualities=qualities, half=half, coerce=opts.coerce_rgb, layout=DIV2K_LAYOUT)
    return write(out_dir, examples, task=TASK, split=split, kind="div2k-jpeg", opts=opts, source_dir=src,
                 options={"qualities": list(qualities), "half": half, "jpeg": "PIL, default 4:2:0 subsampling"})


def convert_live1_jpeg(src: str | os.PathLike, out_dir: str | os.PathLike, *, split: str = "test",
                       qualities: Sequence[int] = (TEST_QUALITY,), **write_options: Any) -> dict[str, Any]:
    """Converts the LIVE1 reference images at quality 10 (the paper's test protocol)."""
    src = os.fspath(src)
    opts = make_write_options(write_options)
    examples = jpeg_examples(src, qualities=qualities, half=False, coerce=opts.coerce_rgb, layout=LIVE1_LAYOUT)
    return write(out_dir, examples, task=TASK, split=split, kind="live1-jpeg", opts=opts, source_dir=src,
                 options={"qualities": list(qualities), "jpeg": "PIL, default 4:2:0 subsampling"})
