"""Any two folders of input and target images matched by file stem -> records of a chosen task."""

from __future__ import annotations

import logging
import os
from typing import Any

from tfrecords_tools.converters.common import (
    make_write_options,
    paired_files,
    require_dir,
    require_images,
    stem_index,
    write,
)

log = logging.getLogger("tfrecords_tools")
KIND = "pairs"
LAYOUT = """\
SRC/
  input/foo.png               degraded images (--input-dir names this folder)
  target/foo.png              clean images with the same file stem (--target-dir); extensions may differ"""


def pair_examples(src: str, *, input_dir: str = "input", target_dir: str = "target", coerce: bool = False) -> list:
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
    return [paired_files(f"{input_dir}/{os.path.basename(path)}", path, targets.get(stem), coerce=coerce,
                         missing_target=f"an image named {stem}.* in {tgt}")
            for stem, path in sorted(inputs.items())]


def convert_pairs(src: str | os.PathLike, out_dir: str | os.PathLike, *, task: str, split: str = "train",
                  input_dir: str = "input", target_dir: str = "target", **write_options: Any) -> dict[str, Any]:
    """Converts two folders matched by file stem into records of `task`; returns the manifest group."""
    src = os.fspath(src)
    opts = make_write_options(write_options)
    examples = pair_examples(src, input_dir=input_dir, target_dir=target_dir, coerce=opts.coerce_rgb)
    return write(out_dir, examples, task=task, split=split, kind=KIND, opts=opts, source_dir=src,
                 options={"input_dir": input_dir, "target_dir": target_dir})
