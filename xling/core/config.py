"""Typed configuration: dataclass trees loaded from YAML, with `--set key=value` overrides.

Every stage's config is a dataclass. Loading checks every key and type before any work starts
and names the offending key ("pretrain.optim.lr: expected float, got 'fast'"), so a typo never
silently falls back to a default. Configs are saved next to outputs so a run can be reproduced.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from xling.core.errors import ConfigError, InputError
from xling.core.io import write_text_atomic

T = TypeVar("T")




def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {_type_name(tp)}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: expected one of {list(allowed)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        out = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        kt, vt = (*get_args(tp), Any, Any)[:2]
        return {_convert(k, kt, f"{where}.<key>"): _convert(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML reads "1e-4" as a string
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, os.PathLike)):
            return Path(value)
        raise ConfigError(f"{where}: expected a path, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a mapping, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown config key {path!r}{hint}; known keys: {', '.join(fields)}")
        kwargs[key] = _convert(value, hints[key], path)
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where or cls.__name__}: missing required key(s) {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def to_dict(obj: Any) -> Any:
    """Plain-data form of a config (dataclasses, Paths and tuples turned into YAML-safe values)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def add_set_option(parser: Any, example: str) -> None:
    """The `--set KEY=VALUE` option every config-driven command has (into `args.overrides`, for `load_config`)."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a config key (repeatable), e.g. --set {example}")


def parse_overrides(overrides: list[str] | None) -> list[tuple[str, Any]]:
    """`["optim.lr=3e-4", "arms.1.name=x"]` → `[("optim.lr", 0.0003), ("arms.1.name", "x")]`; values are YAML."""
    out: list[tuple[str, Any]] = []
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            out.append((key.strip(), yaml.safe_load(raw)))
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({e})") from None
    return out


def set_dotted(data: dict[str, Any], key: str, value: Any, where: str = "--set") -> None:
    """Set `key` (`a.b.c`; a number indexes a list, e.g. `pretrain.arms.1.set`) in a tree of dicts and
    lists, in place. Missing mappings on the way are created; a mapping value merges into a mapping
    already there."""
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        here = ".".join(parts[:i]) or "the top level"
        last = i == len(parts) - 1
        if isinstance(node, list):
            try:
                idx = int(part)
            except ValueError:
                raise ConfigError(f"{where} {key}: {here} is a list; index it with a number, not {part!r}") from None
            if not -len(node) <= idx < len(node):
                raise ConfigError(f"{where} {key}: {here} has {len(node)} item(s); there is no item {idx}")
            slot, container = idx, node
        elif isinstance(node, dict):
            slot, container = part, node
        else:
            raise ConfigError(f"{where} {key}: {here} is {node!r}, not a mapping or a list")
        current = container[slot] if isinstance(container, list) or slot in container else None
        if last:
            container[slot] = merge(current, value) if isinstance(value, dict) and isinstance(current, dict) else value
        else:
            if current is None:
                current = container[slot] = {}
            node = current


def nest(flat: dict[str, Any], where: str = "") -> dict[str, Any]:
    """`{"train.lr": 1e-4, "model": {"layers": 2}}` → `{"train": {"lr": 1e-4}, "model": {"layers": 2}}`."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        set_dotted(out, str(key), value, where)
    return out


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """A copy of `data` with each `--set key=value` applied in order."""
    out = copy.deepcopy(data)
    for key, value in parse_overrides(overrides):
        set_dotted(out, key, value)
    return out


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`update` over `base`, recursively for mappings (neither is modified)."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_yaml_dict(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    return data


def load_config(cls: type[T], path: str | os.PathLike | None = None, overrides: list[str] | None = None,
                flags: dict[str, Any] | None = None) -> T:
    """The one way from YAML and the command line into a config: the YAML file (optional), then a
    command's own flags (`{"minhash.num_bands": 14}`; None = not given), then `--set` overrides, last
    wins. Values stay typed (no string round trip); errors name the file and the key."""
    data = load_yaml_dict(path) if path is not None else {}
    for key, value in (flags or {}).items():
        if value is not None:
            set_dotted(data, key, value, "flag")
    data = apply_overrides(data, overrides)
    try:
        return from_dict(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None


def check_stages(stages: list[str], known: tuple[str, ...]) -> None:
    """A recipe's `stages`: known names, in the pipeline's order (a subset may be run)."""
    unknown = [s for s in stages if s not in known]
    if unknown:
        raise InputError(f"stages: unknown stage(s) {unknown}; known: {', '.join(known)}")
    if list(stages) != [s for s in known if s in stages]:
        raise InputError(f"stages: must keep the order {' → '.join(known)}, got {stages}")


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False, allow_unicode=True)


def save_config(obj: Any, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, dump_yaml(obj))
