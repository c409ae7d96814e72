"""Typed, frozen configuration: the model config, its named presets, and override helpers.

One tree of frozen dataclasses flows from the CLI into every builder. Presets
are plain functions returning a config; YAML files and `--set key=value`
arguments only override fields of it (`apply_overrides`), and an unknown key
or a value of the wrong type is an error that names the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from keras_durbm.atomic_files import atomic_path

BlockKernels = tuple[int, int, int]  # (k1, k2, dilation of k1) of one DuRB-M

# The authors' public test code (DuRB_tv), DESIGN §1.3.
PAPER_SHARED_KERNELS: tuple[BlockKernels, ...] = ((3, 3, 2), (5, 3, 1), (3, 5, 2), (5, 5, 1), (7, 5, 1))
PAPER_EXTRA_KERNELS: tuple[BlockKernels, ...] = ((7, 5, 2), (11, 5, 1), (11, 5, 1))


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Every choice that shapes the network (DESIGN §1).

    Args:
        topology: where each head sits, e.g. `"R>B>J>H"` (DESIGN §1.6).
        stem_widths: widths of the encoder's three convs; the second is the
            width of `res`, the third the width C of `x`.
        shared_kernels: (k1, k2, dilation) of the encoder's DuRB-M blocks (5).
        extra_kernels: (k1, k2, dilation) of the blocks stacked by `>`; the
            last entry repeats if the topology stacks more.
        tvse_hidden / se_hidden: hidden widths of the TV-SE and classic SE MLPs.
        squeeze: squeeze of the blocks' base attention: `"both"`, `"gap"`,
            `"tv"`, `"none"` (Table 3 ablation).
        fusion: keep DuRB-M's branch (a) (Table 3 "Fusion").
        tv_beta: exponent β of the TV statistic (eq. 6).
        decoder_widths: widths after the decoder's two PixelShuffle stages.
    """

    topology: str = "R>B>J>H"
    stem_widths: tuple[int, int, int] = (32, 64, 96)
    shared_kernels: tuple[BlockKernels, ...] = PAPER_SHARED_KERNELS
    extra_kernels: tuple[BlockKernels, ...] = PAPER_EXTRA_KERNELS
    tvse_hidden: int = 64
    se_hidden: int = 96
    squeeze: str = "both"
    fusion: bool = True
    tv_beta: int = 3
    decoder_widths: tuple[int, int] = (64, 32)

    @property
    def channels(self) -> int:
        return self.stem_widths[2]

    @property
    def res_channels(self) -> int:
        return self.stem_widths[1]

    def kernels_of_extra_block(self, index: int) -> BlockKernels:
        """Kernels of the `index`-th stacked block (0-based); the list's last entry repeats."""
        return self.extra_kernels[min(index, len(self.extra_kernels) - 1)]

    def __post_init__(self):
        if self.squeeze not in ("both", "gap", "tv", "none"):
            raise ValueError(f"model.squeeze must be both, gap, tv or none, got {self.squeeze!r}")
        if len(self.shared_kernels) < 1 or len(self.extra_kernels) < 1:
            raise ValueError("model.shared_kernels and model.extra_kernels need at least one (k1, k2, dilation)")
        for field in ("shared_kernels", "extra_kernels"):
            for kernels in getattr(self, field):
                k1, k2, dilation = kernels
                if k1 % 2 == 0 or k2 % 2 == 0 or dilation < 1:
                    raise ValueError(f"model.{field}: kernels must be odd and dilation >= 1, got {kernels}")


MODEL_PRESETS: dict[str, ModelConfig] = {
    # The paper's widths (C=96, res=64) and the authors' kernel list.
    "paper": ModelConfig(),
    # Fast enough to train usefully on 2 CPU cores (the embedded default).
    "small": ModelConfig(
        stem_widths=(16, 32, 32),
        shared_kernels=((3, 3, 2), (5, 3, 1), (3, 5, 2), (5, 5, 1), (7, 5, 1)),
        extra_kernels=((7, 5, 2), (7, 5, 1), (7, 5, 1)),
        tvse_hidden=16,
        se_hidden=16,
        decoder_widths=(24, 16),
    ),
    # For tests: tiny widths, same structure (68 encoder weight layers).
    "tiny": ModelConfig(
        stem_widths=(4, 8, 8),
        shared_kernels=((3, 3, 2), (5, 3, 1), (3, 5, 1), (3, 3, 1), (3, 3, 1)),
        extra_kernels=((3, 3, 2), (5, 3, 1)),
        tvse_hidden=4,
        se_hidden=4,
        decoder_widths=(8, 4),
    ),
}


def model_preset(name: str, **overrides: Any) -> ModelConfig:
    """Returns the named preset with `overrides` applied (field names of `ModelConfig`)."""
    if name not in MODEL_PRESETS:
        raise KeyError(f"unknown model preset {name!r}; known presets: {', '.join(MODEL_PRESETS)}")
    return replace_fields(MODEL_PRESETS[name], overrides, prefix="model")


# --- generic dataclass tree helpers ---------------------------------------------------------------


def to_dict(config: Any) -> Any:
    """A dataclass tree as plain dicts/lists (for YAML, JSON and Keras `get_config`)."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (tuple, list)):
        return [to_dict(v) for v in config]
    if isinstance(config, Mapping):
        return {k: to_dict(v) for k, v in config.items()}
    return config


def from_dict(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    """Builds dataclass `cls` from a (possibly partial) mapping, coercing and checking each value."""
    return replace_fields(cls(), data, prefix)


def replace_fields(config: Any, data: Mapping[str, Any], prefix: str = "") -> Any:
    """Returns `config` with fields from `data` replaced; nested dataclasses take nested mappings."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{prefix or 'config'}: expected a mapping of fields, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(config)}
    hints = typing.get_type_hints(type(config))
    changes = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if key not in fields:
            raise KeyError(f"unknown config key {path!r}; valid keys here: {', '.join(fields)}")
        current = getattr(config, key)
        if dataclasses.is_dataclass(current):
            changes[key] = replace_fields(current, value, path)
        else:
            changes[key] = _coerce(value, hints[key], path)
    try:
        return dataclasses.replace(config, **changes)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{prefix or 'config'}: {error}") from error


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """Checks `value` against the type hint and converts lists to tuples; errors name the key."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, path)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"{path}: {value!r} fits none of {hint}")
    if origin is tuple:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise TypeError(f"{path}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ValueError(f"{path}: expected {len(args)} values, got {len(value)}: {value!r}")
        return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise TypeError(f"{path}: expected a mapping, got {value!r}")
        key_type, value_type = args or (Any, Any)
        return {
            _coerce(k, key_type, path): _coerce(v, value_type, f"{path}.{k}") for k, v in value.items()
        }
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{path}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{path}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"{path}: expected a string, got {value!r}")
        return value
    return value


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """Parses `a.b.c=value` (value as YAML: `3`, `1e-4`, `[1, 2]`, `true`, `R>B>H`)."""
    if "=" not in text:
        raise ValueError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ValueError(f"--set expects key=value, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ValueError(f"--set {key}: cannot parse value {raw!r}: {error}") from error
    return key.split("."), value


def apply_overrides(config: Any, yaml_files: Sequence[str] = (), assignments: Sequence[str] = ()) -> Any:
    """Applies YAML files (in order), then `key=value` assignments, to a dataclass tree."""
    for path in yaml_files:
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except OSError as error:
            raise ValueError(f"cannot read config file {path}: {error.strerror}") from error
        except yaml.YAMLError as error:
            raise ValueError(f"config file {path} is not valid YAML: {error}") from error
        config = replace_fields(config, data)
    for text in assignments:
        keys, value = parse_assignment(text)
        nested: Any = value
        for key in reversed(keys):
            nested = {key: nested}
        config = replace_fields(config, nested)
    return config


def dump_yaml(config: Any, path: str) -> None:
    """Writes the effective config atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        yaml.safe_dump(to_dict(config), handle, sort_keys=False)
