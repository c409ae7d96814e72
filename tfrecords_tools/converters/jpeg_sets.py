"""Clean-image sets compressed with PIL JPEG -> jpeg records: DIV2K for training (800 images, qualities
10/20/30/40, halved in the paper) and LIVE1 for testing (29 images at quality 10), docs/design.md §1.8."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from keras_durbm.config.engine import option
from keras_durbm.config.tasks import JPEG
from tfrecords_tools.converters.common import Converter, clean_image_examples, require_images
from tfrecords_tools.manifest import Group
from tfrecords_tools.synthesis.jpeg import TEST_QUALITY, TRAIN_QUALITIES, jpeg_roundtrip_u8
from tfrecords_tools.writer import WriteConfig, write_dataset

DIV2K_LAYOUT = """\
DIV2K_train_HR/  (or DIV2K_valid_HR/)   <- SRC
  0001.png ... 0800.png       clean images; each is written once per JPEG quality (input) with itself (target)"""
LIVE1_LAYOUT = """\
LIVE1/  (refimgs/ of the LIVE IQA release 2)   <- SRC
  bikes.bmp  buildings.bmp ...  the 29 clean reference images; input = PIL JPEG at quality 10"""


@dataclasses.dataclass(frozen=True)
class Div2kOptions:
    qualities: tuple[int, ...] = option(TRAIN_QUALITIES, "JPEG qualities, one example per image and quality")
    half: bool = option(False, "halve width and height (the paper trains on half-size GoPro and DIV2K)")


@dataclasses.dataclass(frozen=True)
class Live1Options:
    qualities: tuple[int, ...] = option((TEST_QUALITY,), "JPEG qualities, one example per image and quality")


def jpeg_examples(src: str, *, qualities: Sequence[int], half: bool, write: WriteConfig, layout: str) -> list:
    """One example per clean image and quality: input = PIL JPEG of the RGB image, decoded."""
    qualities = [int(q) for q in qualities]
    if not qualities or any(not 1 <= q <= 100 for q in qualities):
        raise ValueError(f"qualities must be integers in 1..100, got {qualities}")
    names = require_images(src, layout)

    def degrade(clean, q, _name):
        return jpeg_roundtrip_u8(clean, q), {"quality": q}

    return clean_image_examples([(n, os.path.join(src, n)) for n in names], variants=qualities, write=write,
                                half=half, degrade=degrade, suffix=lambda q: f"#q={q}")


def convert_div2k_jpeg(src: str | os.PathLike, out_dir: str | os.PathLike, *, split: str = "train",
                       qualities: Sequence[int] = TRAIN_QUALITIES, half: bool = False,
                       write: WriteConfig = WriteConfig()) -> Group:
    """Converts DIV2K HR images at each quality of `qualities`; `half` halves the clean image first."""
    src = os.fspath(src)
    examples = jpeg_examples(src, qualities=qualities, half=half, write=write, layout=DIV2K_LAYOUT)
    return write_dataset(out_dir, examples, task=JPEG, split=split, kind="div2k-jpeg", source_dir=src, write=write,
                         options={"qualities": list(qualities), "half": half, "jpeg": "PIL, default 4:2:0 subsampling"})


def convert_live1_jpeg(src: str | os.PathLike, out_dir: str | os.PathLike, *, split: str = "test",
                       qualities: Sequence[int] = (TEST_QUALITY,), write: WriteConfig = WriteConfig()) -> Group:
    """Converts the LIVE1 reference images at quality 10 (the paper's test protocol)."""
    src = os.fspath(src)
    examples = jpeg_examples(src, qualities=qualities, half=False, write=write, layout=LIVE1_LAYOUT)
    return write_dataset(out_dir, examples, task=JPEG, split=split, kind="live1-jpeg", source_dir=src, write=write,
                         options={"qualities": list(qualities), "jpeg": "PIL, default 4:2:0 subsampling"})


DIV2K_CONVERTER = Converter("div2k-jpeg", convert_div2k_jpeg, JPEG, "DIV2K + PIL JPEG q=10/20/30/40 -> jpeg (train)",
                            DIV2K_LAYOUT, "train", Div2kOptions)
LIVE1_CONVERTER = Converter("live1-jpeg", convert_live1_jpeg, JPEG, "LIVE1 + PIL JPEG q=10 -> jpeg (test)",
                            LIVE1_LAYOUT, "test", Live1Options)
