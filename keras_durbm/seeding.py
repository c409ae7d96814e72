"""Stable seed derivation: one integer seed plus keys (ints or strings) gives a reproducible child seed.

Conversions and pipelines derive per-example and per-task seeds from the user's seed this way, so the
result does not depend on the order in which work is done or on Python's salted `hash()`.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _key_to_int(key: int | str) -> int:
    if isinstance(key, str):
        return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")
    if isinstance(key, bool | np.bool_):
        return int(key)
    return int(key) & 0xFFFFFFFFFFFFFFFF


def derive_seed(seed: int, *keys: int | str) -> int:
    """Returns a non-negative 63-bit seed determined by `seed` and `keys` (NumPy `SeedSequence`)."""
    entropy = [_key_to_int(seed), *(_key_to_int(k) for k in keys)]
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & 0x7FFFFFFFFFFFFFFF
