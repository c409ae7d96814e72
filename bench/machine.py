"""What machine a benchmark ran on: CPU model, cores, the vector extensions that decide this workload's
speed, and the load average before the benchmark started.

Figures from one CPU do not carry over to another: on this project's machines an AVX2-only CPU runs the
network 4-8x slower than an AVX-512 one, and int8 only pays with VNNI. Every bench script prints
`header()` first, so a table always names its CPU.
"""

from __future__ import annotations

import os
import platform

#: /proc/cpuinfo flag -> the name printed, in the order printed. The ones this workload's kernels use:
#: float32 convolutions (AVX2/FMA, AVX-512), int8 dot products (VNNI), bf16 (AVX512_BF16, AMX).
VECTOR_EXTENSIONS = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX512_VNNI",
    "avx_vnni": "AVX_VNNI",
    "avx512_bf16": "AVX512_BF16",
    "amx_bf16": "AMX_BF16",
    "amx_int8": "AMX_INT8",
}
#: A 1-minute load average above this (before the benchmark runs) means other work shares the CPUs.
QUIET_LOAD = 1.0


def _cpuinfo_fields(path: str) -> tuple[str | None, set[str]]:
    """(model name, flags) of the first processor in a /proc/cpuinfo-format file; (None, {}) if absent."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None, set()
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def vector_extensions(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """The extensions of `VECTOR_EXTENSIONS` this CPU has, by their printed names."""
    _, flags = _cpuinfo_fields(cpuinfo)
    return [name for flag, name in VECTOR_EXTENSIONS.items() if flag in flags]


def describe(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """CPU model, cores, vector extensions and the load average now (call it before the work starts)."""
    model, _ = _cpuinfo_fields(cpuinfo)
    return {"cpu": model or platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "vector_extensions": vector_extensions(cpuinfo), "load_average": list(os.getloadavg())}


def header(info: dict | None = None) -> str:
    """One or two lines naming the machine, with a warning when the load shows other work."""
    info = info or describe()
    load = info["load_average"]
    line = (f"machine: {info['cpu']}, {info['cores']} cores, {' '.join(info['vector_extensions']) or 'no AVX2'}; "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start")
    if load[0] > QUIET_LOAD:
        line += f"\nWARNING: load average {load[0]:.2f} at start: the machine is shared, timings are indicative only"
    return line
