"""The config engine: trees of frozen dataclasses overridden by YAML files, `KEY=VALUE` and CLI flags.

Every option of the project (the model, a training experiment, the writing of shards, an export, the
tiling of restoration) is a field of a frozen dataclass declared once, with its default, its type and
its help text. From there:

* `apply_overrides` applies YAML files and `--set a.b=value` assignments (values parsed as YAML) to a
  tree; an unknown key, a duplicate YAML key or a value of the wrong type is an error naming the key;
* `add_arguments` derives a command's flags from a dataclass (`option(...)` fields carry the help),
  and `from_arguments` applies the flags the user gave, through the same checks as YAML;
* `to_dict` / `dump_yaml` write the effective config beside what it produced.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from keras_durbm.atomic_files import atomic_path
from keras_durbm.errors import excerpt

_HELP = "help"


def option(default: Any = dataclasses.MISSING, help: str = "", *, default_factory: Any = dataclasses.MISSING,
           flag: str | None = None, metavar: str | None = None, choices: Sequence[Any] | None = None,
           cli: bool = True) -> Any:
    """A dataclass field with the help text (and optional flag name) its command-line flag is derived from.

    `flag` overrides the derived `--field-name`; a boolean defaulting to True gets `--no-field-name`.
    `cli=False` keeps the field out of the flags (config files and `--set` still reach it).
    """
    metadata = {_HELP: help, "flag": flag, "metavar": metavar, "choices": tuple(choices) if choices else None,
                "cli": cli}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# --- dict form -----------------------------------------------------------------------------------


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
            raise KeyError(f"unknown config key {excerpt(path)}; valid keys here: {', '.join(fields)}")
        current = getattr(config, key)
        if dataclasses.is_dataclass(current):
            changes[key] = replace_fields(current, value, path)
        else:
            changes[key] = _coerce(value, hints[key], path)
    try:
        return dataclasses.replace(config, **changes)
    except (TypeError, ValueError) as error:
        text = str(error)
        raise ValueError(text if prefix and text.startswith(prefix) else f"{prefix or 'config'}: {text}") from error


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """Checks `value` against the type hint and converts lists to tuples; errors name the key."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        real = [a for a in args if a is not type(None)]
        if len(real) == 1:  # `X | None`: X's own message says what was expected
            return _coerce(value, real[0], path)
        for arg in real:
            try:
                return _coerce(value, arg, path)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"{path}: {excerpt(value)} fits none of {hint}")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"{path}: expected a mapping of {hint.__name__} fields, got {excerpt(value)}")
        return replace_fields(hint(), value, path)
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{path}: expected one of {', '.join(map(str, args))}, got {excerpt(value)}")
        return value
    if origin is tuple:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise TypeError(f"{path}: expected a list, got {excerpt(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ValueError(f"{path}: expected {len(args)} values, got {len(value)}: {excerpt(value)}")
        return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise TypeError(f"{path}: expected a mapping, got {excerpt(value)}")
        key_type, value_type = args or (Any, Any)
        return {
            _coerce(k, key_type, path): _coerce(v, value_type, f"{path}.{k}") for k, v in value.items()
        }
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{path}: expected true or false, got {excerpt(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{path}: expected an integer, got {excerpt(value)}")
        return value
    if hint is float:
        number = None
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond float range
                number = math.inf
        if number is None:
            raise TypeError(f"{path}: expected a number, got {excerpt(value)}")
        if not math.isfinite(number):  # inf, nan, and 1e400 (which YAML and float() read as inf)
            raise ValueError(f"{path}: expected a finite number, got {excerpt(value)}")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"{path}: expected a string, got {excerpt(value)}")
        return value
    return value


# --- YAML and KEY=VALUE --------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key written twice in one mapping is an error (YAML keeps the last)
    and anchors and aliases (`&a`, `*a`) are refused: nine levels of aliases in a few hundred bytes expand
    to 9⁹ values (a "billion laughs" bomb), and a config of this project never needs them."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(
                None, None, "YAML anchors and aliases (&name, *name) are not accepted in configs; write each "
                "value out", event.start_mark)
        return super().compose_node(parent, index)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {excerpt(key)} appears twice in one mapping (first at line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error on one line: the problem and where it is (PyYAML's text spans several lines)."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem:
        mark = error.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"{error.context + ': ' if error.context else ''}{error.problem}{where}"
    return " ".join(str(error).split())


def load_yaml(path: str) -> Any:
    """Reads a YAML config file; unreadable files, invalid YAML and duplicate keys are errors naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except OSError as error:
        raise ValueError(f"cannot read config file {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ValueError(f"config file {path} is not valid YAML: {_yaml_problem(error)}") from None
    except RecursionError:
        raise ValueError(f"config file {path}: nested too deeply to be a config") from None


def parse_value(text: str) -> Any:
    """A `KEY=VALUE` value, parsed as YAML: `3`, `1e-4`, `[0.6, 1.8]`, `true`, `{B: 16}`, `R>B>H`."""
    if not text.strip():
        return ""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506


def parse_assignment(text: str, flag: str = "--set") -> tuple[list[str], Any]:
    """Parses `a.b.c=value` into (`["a", "b", "c"]`, value); the one KEY=VALUE syntax of every command."""
    if "=" not in text:
        raise ValueError(f"{flag} expects key=value, got {excerpt(text)}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ValueError(f"{flag} expects key=value, got {excerpt(text)}")
    try:
        value = parse_value(raw)
    except yaml.YAMLError as error:
        raise ValueError(f"{flag} {key}: cannot parse value {excerpt(raw)}: {_yaml_problem(error)}") from None
    except RecursionError:
        raise ValueError(f"{flag} {key}: the value is nested too deeply to be a config value") from None
    return key.split("."), value


def assignments_to_dict(assignments: Sequence[str], flag: str = "--set") -> dict[str, Any]:
    """Nested mapping of `a.b=value` assignments, later ones winning."""
    tree: dict[str, Any] = {}
    for text in assignments:
        keys, value = parse_assignment(text, flag)
        node = tree
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[keys[-1]] = value
    return tree


def apply_overrides(config: Any, yaml_files: Sequence[str] = (), assignments: Sequence[str] = ()) -> Any:
    """Applies YAML files (in order), then `key=value` assignments, to a dataclass tree."""
    for path in yaml_files:
        config = replace_fields(config, load_yaml(path) or {})
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


# --- command-line flags from dataclass fields ----------------------------------------------------


def _comma_list(item_type: type):
    def parse(text: str) -> list:
        try:
            return [item_type(part.strip()) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {item_type.__name__}, "
                                             f"got {excerpt(text)}") from None
    return parse


def _flag_type(hint: Any):
    """(argparse type, nargs-like kind) of a field's hint: scalars, comma lists, KEY=VALUE mappings."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        real = [a for a in args if a is not type(None)]
        return _flag_type(real[0]) if len(real) == 1 else (str, "scalar")
    if origin is tuple:
        return _comma_list(args[0] if args else str), "scalar"
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return str, "mapping"
    if hint in (int, float, str):
        return hint, "scalar"
    return str, "scalar"


def _default_text(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value)) or "none"
    return str(value)


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *,
                  dest_prefix: str = "") -> None:
    """Adds one flag per `option(...)` field of dataclass `cls`, its help ending with the default.

    Flags the user does not give stay unset (`argparse.SUPPRESS`), so `from_arguments` changes only
    what was given, on top of defaults, presets or config files.
    """
    hints = typing.get_type_hints(cls)
    defaults = cls()
    for field in dataclasses.fields(cls):
        meta = field.metadata
        if _HELP not in meta or not meta.get("cli", True):
            continue
        default = getattr(defaults, field.name)
        dest = dest_prefix + field.name
        hint = hints[field.name]
        name = meta.get("flag") or "--" + field.name.replace("_", "-")
        help_text = meta[_HELP]
        if hint is bool:
            if default:
                name = meta.get("flag") or "--no-" + field.name.replace("_", "-")
                parser.add_argument(name, dest=dest, action="store_const", const=False, default=argparse.SUPPRESS,
                                    help=help_text)
            else:
                parser.add_argument(name, dest=dest, action="store_const", const=True, default=argparse.SUPPRESS,
                                    help=help_text)
            continue
        kind_type, kind = _flag_type(hint)
        if kind == "mapping":
            parser.add_argument(name, dest=dest, action="append", default=argparse.SUPPRESS,
                                metavar=meta.get("metavar") or "KEY=VALUE",
                                help=f"{help_text} (repeatable; VALUE is YAML, e.g. [0.6, 1.8])")
            continue
        shown = f" (default: {_default_text(default)})" if default is not None else ""
        parser.add_argument(name, dest=dest, type=kind_type, default=argparse.SUPPRESS,
                            metavar=meta.get("metavar") or (None if meta.get("choices") else field.name.upper()),
                            choices=meta.get("choices"), help=help_text + shown)


def from_arguments(base: Any, args: argparse.Namespace, *, dest_prefix: str = "", flag: str = "") -> Any:
    """`base` (a dataclass instance) with the fields whose flags were given replaced, checked as YAML is."""
    hints = typing.get_type_hints(type(base))
    given: dict[str, Any] = {}
    for field in dataclasses.fields(base):
        dest = dest_prefix + field.name
        if not hasattr(args, dest):
            continue
        value = getattr(args, dest)
        if _flag_type(hints[field.name])[1] == "mapping":
            name = field.metadata.get("flag") or "--" + field.name.replace("_", "-")
            value = {**getattr(base, field.name), **assignments_to_dict(value, name)}
        given[field.name] = value
    return replace_fields(base, given, flag)
