"""The network under mixed_bfloat16 for the bf16 SavedModels and their parity, built once per network.

Keras is imported at first use, so `python -m export --help` answers at once.
"""

from __future__ import annotations

import weakref

_BF16_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def bf16_model(model):
    """`model` under mixed_bfloat16, built once per model."""
    from keras_durbm.models.precision import BF16_POLICY, with_dtype_policy

    if model not in _BF16_MODELS:
        _BF16_MODELS[model] = with_dtype_policy(model, BF16_POLICY)
    return _BF16_MODELS[model]


def cpu_bf16_flags() -> tuple[str, ...]:
    """This CPU's bfloat16 units (`keras_durbm.models.precision.cpu_bf16_flags`); empty when it has none."""
    from keras_durbm.models.precision import cpu_bf16_flags as flags

    return flags()
