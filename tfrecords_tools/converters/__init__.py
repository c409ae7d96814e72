"""Dataset converters, one per published layout; each returns the manifest group it wrote.

`CONVERTERS` is the registry: one `Converter` record per kind of `python -m tfrecords_tools.convert <kind>`,
holding its function, task, help line, expected folder layout, default split and options.
"""

from __future__ import annotations

from tfrecords_tools.converters import didmdn, gopro, jpeg_sets, pairs, reside, synth
from tfrecords_tools.converters.common import Converter
from tfrecords_tools.converters.didmdn import convert_didmdn
from tfrecords_tools.converters.gopro import convert_gopro
from tfrecords_tools.converters.jpeg_sets import convert_div2k_jpeg, convert_live1_jpeg
from tfrecords_tools.converters.pairs import convert_pairs
from tfrecords_tools.converters.reside import convert_reside_its, convert_reside_sots
from tfrecords_tools.converters.synth import convert_synth

CONVERTERS: dict[str, Converter] = {c.kind: c for c in (
    gopro.CONVERTER, reside.ITS_CONVERTER, reside.SOTS_CONVERTER, didmdn.CONVERTER, jpeg_sets.DIV2K_CONVERTER,
    jpeg_sets.LIVE1_CONVERTER, pairs.CONVERTER, synth.CONVERTER,
)}

__all__ = ["CONVERTERS", "Converter", "convert_didmdn", "convert_div2k_jpeg", "convert_gopro", "convert_live1_jpeg",
           "convert_pairs", "convert_reside_its", "convert_reside_sots", "convert_synth"]
