"""Dataset converters, one per published layout; each returns the manifest group it wrote.

`CONVERTERS` maps the CLI kind (`python -m tfrecords_tools.convert <kind> SRC OUT`) to its function.
"""

from __future__ import annotations

from tfrecords_tools.converters.didmdn import convert_didmdn
from tfrecords_tools.converters.gopro import convert_gopro
from tfrecords_tools.converters.jpeg_sets import convert_div2k_jpeg, convert_live1_jpeg
from tfrecords_tools.converters.pairs import convert_pairs
from tfrecords_tools.converters.reside import convert_reside_its, convert_reside_sots
from tfrecords_tools.converters.synth import convert_synth

CONVERTERS = {
    "gopro": convert_gopro,
    "reside-its": convert_reside_its,
    "reside-sots": convert_reside_sots,
    "didmdn": convert_didmdn,
    "div2k-jpeg": convert_div2k_jpeg,
    "live1-jpeg": convert_live1_jpeg,
    "pairs": convert_pairs,
    "synth": convert_synth,
}

__all__ = ["CONVERTERS", "convert_didmdn", "convert_div2k_jpeg", "convert_gopro", "convert_live1_jpeg",
           "convert_pairs", "convert_reside_its", "convert_reside_sots", "convert_synth"]
