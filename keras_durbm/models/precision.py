"""The network under another dtype policy (`mixed_bfloat16` for CPUs with bf16 units), and whether this CPU
has such units.

`with_dtype_policy` rebuilds the network from its config under the policy and copies the weights: the
variables stay float32 (a mixed policy only changes the compute dtype), so the rebuilt model saves,
exports and loads like the float32 one. Its outputs are in the compute dtype (bfloat16); callers that
hand them on cast to float32 (`float32_outputs`). Statistics that half precision loses stay float32
inside the layers (the TV-SE squeeze, the classifier's features, its softmax).

On a CPU without AVX512_BF16 or AMX, TensorFlow emulates bfloat16 and the variant is slower than
float32; it is only reported where the CPU has the units (`cpu_bf16_flags`).
"""

from __future__ import annotations

import keras

from keras_durbm.models.network import DuRBMNetwork

BF16_POLICY = "mixed_bfloat16"
#: /proc/cpuinfo flags of CPUs with bfloat16 arithmetic that oneDNN uses (Intel Cooper Lake and later,
#: AMD Zen 4 and later: AVX512_BF16; Intel Sapphire Rapids and later: AMX).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_bf16_flags(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, ...]:
    """Which of `BF16_CPU_FLAGS` this CPU reports (empty: no bf16 units, or no /proc/cpuinfo)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            flags = set()
            for line in handle:
                if line.startswith("flags"):
                    flags.update(line.split(":", 1)[-1].split())
    except OSError:
        return ()
    return tuple(flag for flag in BF16_CPU_FLAGS if flag in flags)


def with_dtype_policy(model: DuRBMNetwork, policy: str = BF16_POLICY) -> DuRBMNetwork:
    """A copy of `model` built from its config under the dtype `policy`, with `model`'s weights."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        clone = DuRBMNetwork(model.config, name=model.name)
    finally:
        keras.config.set_dtype_policy(previous)
    clone.set_weights(model.get_weights())
    return clone


def float32_outputs(sub: keras.Model):
    """`images → float32 sub(images)` (a mixed-policy model outputs its compute dtype)."""

    def run(images, training=False):
        return keras.ops.cast(sub(images, training=training), "float32")

    return run
