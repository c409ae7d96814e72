"""RESIDE (Li et al. 2019) -> haze records: ITS for training (13,990 hazy images of 1,399 clear ones) and
SOTS indoor for testing (500 hazy images, 10 per ground truth), docs/design.md §1.8."""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import re
from typing import Any

from keras_durbm.config.engine import option
from keras_durbm.config.tasks import HAZE
from tfrecords_tools.converters.common import (
    Converter,
    describe_folder,
    paired_files,
    require_dir,
    require_images,
    stem_index,
)
from tfrecords_tools.errors import LayoutError
from tfrecords_tools.manifest import Group
from tfrecords_tools.writer import ExampleSpec, WriteConfig, write_dataset

log = logging.getLogger("tfrecords_tools")

ITS_LAYOUT = """\
ITS/  (ITS_v2/)               <- SRC
  hazy/1_1_0.90179.png        input: NNNN_k_beta.png = clear image NNNN, atmospheric light k, scattering beta
  clear/1.png                 target: NNNN.png
  trans/...                   (ignored)"""
SOTS_LAYOUT = """\
SOTS/indoor/  (nyuhaze500/)   <- SRC
  hazy/1400_1.png             input: NNNN_k.png, k = 1..10 hazy versions per ground truth
  gt/1400.png                 target: NNNN.png (a folder named clear/ is accepted too)
A ground truth larger than its hazy image (SOTS ships 640x480 for 620x460) is centre-cropped to it."""

ITS_NAME = re.compile(r"^(?P<id>\d+)_(?P<k>\d+)_(?P<beta>\d+(?:\.\d+)?)$")
SOTS_NAME = re.compile(r"^(?P<id>\d+)_(?P<k>\d+)$")


@dataclasses.dataclass(frozen=True)
class ResideOptions:
    crop_gt: bool = option(True, "fail instead of centre-cropping a ground truth larger than its hazy image",
                           flag="--no-crop-gt")


def _bad_name(path: str, pattern: str, layout: str) -> ExampleSpec:
    def fail() -> Any:
        raise LayoutError(path, "file name does not follow the dataset's naming", f"{pattern}, as in:\n{layout}")

    return ExampleSpec(source=os.path.basename(path), files=(path,), probe=fail, load=fail)


def _examples(src: str, *, hazy_dir: str, gt_dirs: tuple[str, ...], name_re: re.Pattern, pattern: str,
              layout: str, write: WriteConfig, crop_gt: bool) -> tuple[list[ExampleSpec], collections.Counter]:
    require_dir(src, layout, "RESIDE folder")
    hazy = os.path.join(src, hazy_dir)
    gt = next((os.path.join(src, d) for d in gt_dirs if os.path.isdir(os.path.join(src, d))), None)
    if not os.path.isdir(hazy) or gt is None:
        raise LayoutError(src, f"missing {hazy_dir}/ or {'|'.join(gt_dirs)}/ (it holds: {describe_folder(src)})",
                          f"this layout:\n{layout}")
    targets = stem_index(gt)
    per_gt: collections.Counter = collections.Counter()
    examples = []
    for name in require_images(hazy, layout):
        stem = os.path.splitext(name)[0]
        path = os.path.join(hazy, name)
        m = name_re.match(stem)
        if m is None:
            examples.append(_bad_name(path, pattern, layout))
            continue
        meta: dict[str, Any] = {"k": int(m["k"])}
        if "beta" in m.groupdict():
            meta["beta"] = float(m["beta"])
        per_gt[m["id"]] += 1
        examples.append(paired_files(f"{hazy_dir}/{name}", path, targets.get(m["id"]), write=write,
                                     crop_target=crop_gt, meta=meta,
                                     missing_target=f"{os.path.basename(gt)}/{m['id']}.png for {name}"))
    return examples, per_gt


def convert_reside_its(src: str | os.PathLike, out_dir: str | os.PathLike, *, split: str = "train",
                       crop_gt: bool = True, write: WriteConfig = WriteConfig()) -> Group:
    """Converts RESIDE ITS (hazy `NNNN_k_beta.png` -> clear `NNNN.png`); returns the manifest group."""
    src = os.fspath(src)
    examples, _ = _examples(src, hazy_dir="hazy", gt_dirs=("clear", "gt"), name_re=ITS_NAME,
                            pattern="NNNN_k_beta.png", layout=ITS_LAYOUT, write=write, crop_gt=crop_gt)
    return write_dataset(out_dir, examples, task=HAZE, split=split, kind="reside-its", source_dir=src, write=write,
                         options={"crop_gt": crop_gt})


def convert_reside_sots(src: str | os.PathLike, out_dir: str | os.PathLike, *, split: str = "test",
                        crop_gt: bool = True, write: WriteConfig = WriteConfig()) -> Group:
    """Converts SOTS indoor (10 hazy `NNNN_k.png` per ground truth `NNNN.png`); returns the manifest group."""
    src = os.fspath(src)
    examples, per_gt = _examples(src, hazy_dir="hazy", gt_dirs=("gt", "clear", "GT"), name_re=SOTS_NAME,
                                 pattern="NNNN_k.png", layout=SOTS_LAYOUT, write=write, crop_gt=crop_gt)
    odd = {k: n for k, n in per_gt.items() if n != 10}
    if odd:
        log.warning("SOTS: %d ground truth(s) do not have 10 hazy versions, e.g. %s", len(odd),
                    ", ".join(f"{k}: {n}" for k, n in sorted(odd.items())[:5]))
    return write_dataset(out_dir, examples, task=HAZE, split=split, kind="reside-sots", source_dir=src, write=write,
                         options={"crop_gt": crop_gt})


ITS_CONVERTER = Converter("reside-its", convert_reside_its, HAZE, "RESIDE ITS -> haze (train)", ITS_LAYOUT, "train",
                          ResideOptions)
SOTS_CONVERTER = Converter("reside-sots", convert_reside_sots, HAZE, "RESIDE SOTS indoor -> haze (test)",
                           SOTS_LAYOUT, "test", ResideOptions)
