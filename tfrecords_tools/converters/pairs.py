"""Any two folders of input and target images matched by file stem -> records of a chosen task."""

from __future__ import annotations

import dataclasses
import logging
import os

from keras_durbm.config.engine import option
from keras_durbm.config.tasks import Task
from tfrecords_tools.converters.common import Converter, paired_files, require_dir, require_images, stem_index
from tfrecords_tools.manifest import Group
from tfrecords_tools.writer import WriteConfig, write_dataset

log = logging.getLogger("tfrecords_tools")
KIND = "pairs"
LAYOUT = """\
SRC/
  input/foo.png               degraded images (--input-dir names this folder)
  target/foo.png              clean images with the same file stem (--target-dir); extensions may differ"""


@dataclasses.dataclass(frozen=True)
class PairsOptions:
    input_dir: str = option("input", "input folder inside SRC")
    target_dir: str = option("target", "target folder inside SRC")


def pair_examples(src: str, *, input_dir: str = "input", target_dir: str = "target",
                  write: WriteConfig = WriteConfig()) -> list:
    """One example per image of `SRC/<input_dir>`, target = the image of `SRC/<target_dir>` with its stem."""
    require_dir(src, LAYOUT, "pairs folder")
    inp = require_dir(os.path.join(src, input_dir), LAYOUT, "input folder")
    tgt = require_dir(os.path.join(src, target_dir), LAYOUT, "target folder")
    inputs = stem_index(inp)
    require_images(inp, LAYOUT)
    targets = stem_index(tgt)
    orphans = sorted(set(targets) - set(inputs))
    if orphans:
        log.warning("%s: %d target image(s) without an input are ignored, e.g. %s", tgt, len(orphans),
                    ", ".join(orphans[:5]))
    return [paired_files(f"{input_dir}/{os.path.basename(path)}", path, targets.get(stem), write=write,
                         missing_target=f"an image named {stem}.* in {tgt}")
            for stem, path in sorted(inputs.items())]


def convert_pairs(src: str | os.PathLike, out_dir: str | os.PathLike, *, task: Task, split: str = "train",
                  input_dir: str = "input", target_dir: str = "target", write: WriteConfig = WriteConfig()) -> Group:
    """Converts two folders matched by file stem into records of `task`; returns the manifest group."""
    src = os.fspath(src)
    examples = pair_examples(src, input_dir=input_dir, target_dir=target_dir, write=write)
    return write_dataset(out_dir, examples, task=task, split=split, kind=KIND, source_dir=src, write=write,
                         options={"input_dir": input_dir, "target_dir": target_dir})


CONVERTER = Converter(KIND, convert_pairs, None, "two folders matched by file stem -> TASK", LAYOUT, "train",
                      PairsOptions)
