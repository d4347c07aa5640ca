"""Typed, frozen settings read from TOML/JSON, refused with the key named.

Every user-written file (recipes, noise profiles, later chip specs and plans)
becomes a frozen dataclass through `from_dict`. A field's limits live in its
metadata: `field(default=..., metadata=limits(lo=0, hi=1))`. An unknown key,
a wrong type or an out-of-range value raises ConfigError with the dotted key
path, e.g. ``model.hidden: must be an integer >= 1, got 'eight'``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from codesign.netlist import SPICE_KEYWORDS


class ConfigError(ValueError):
    """A setting is wrong; the message starts with the dotted key path."""


def limits(lo=None, hi=None, choices=None, lo_open=False, identifier=False) -> dict:
    """Field metadata: a range [lo, hi] (lo excluded if lo_open), a set of choices, or, for
    a string that becomes a name in a netlist or a file, `identifier` (letters, digits, _ -)."""
    return {"lo": lo, "hi": hi, "choices": choices, "lo_open": lo_open, "identifier": identifier}


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")


def parse_override(assignment: str, option: str = "--set") -> tuple[str, Any]:
    """`key=value` from the command line: (key, value parsed as TOML, else the raw string)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{option} {assignment!r}: expected key=value, e.g. {option} name=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


def path_inside(name: str, key: str, folder: str | Path, whose: str) -> Path:
    """The path a config file names, resolved inside that file's folder (its subfolders included) or
    refused: a file copied from elsewhere cannot make a run read outside the tree it sits in."""
    try:
        path = (Path(folder) / name).resolve()
    except (ValueError, OSError):  # a NUL byte, a name the system cannot hold
        path = None
    if path is None or not path.is_relative_to(Path(folder).resolve()):
        raise ConfigError(f"{key}: {name!r} must be a path inside the {whose} folder {folder}")
    return path


def read_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {err}") from None


def from_dict(cls, data: Any, path: str = ""):
    """Build dataclass `cls` from a mapping, checking keys, types and limits."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path or cls.__name__}: must be a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(f"{where}{unknown[0]}: unknown key; known keys: {', '.join(fields)}")
    values = {}
    for name, value in data.items():
        key = f"{path}.{name}" if path else name
        values[name] = check_value(key, hints[name], value, fields[name].metadata)
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path or cls.__name__}: {err}") from None


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


def check_value(key: str, hint, value, meta: dict):
    """One value against a type hint and field metadata (limits); ConfigError names the key."""
    if hint is Any:  # checked by its owner (e.g. a hardware kind's parameters)
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        if value is None and type(None) in typing.get_args(hint):
            return None
        return check_value(key, options[0], value, meta)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: must be a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(check_value(f"{key}[{i}]", item, v, meta) for i, v in enumerate(value))
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: must be a table, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be an integer{_range_text(meta)}, got {value!r}")
        return _in_range(key, value, meta)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key}: must be a finite number{_range_text(meta)}, got {value!r}")
        return _in_range(key, float(value), meta)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {value!r}")
        choices = meta.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{key}: must be one of {', '.join(choices)}; got {value!r}")
        if meta.get("identifier") and (not _NAME.fullmatch(value) or value.lower() in SPICE_KEYWORDS):
            raise ConfigError(f"{key}: must be a name of letters, digits, '_' and '-' (at most 64, not starting "
                              f"with a digit or '-', not a SPICE keyword), got {value!r}")
        return value
    raise TypeError(f"{key}: unsupported setting type {hint}")


def _range_text(meta):
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None:
        return f" in {'(' if meta.get('lo_open') else '['}{lo}, {hi}]"
    if lo is not None:
        return f" {'>' if meta.get('lo_open') else '>='} {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def _in_range(key, value, meta):
    lo, hi = meta.get("lo"), meta.get("hi")
    too_low = lo is not None and (value <= lo if meta.get("lo_open") else value < lo)
    if too_low or (hi is not None and value > hi):
        raise ConfigError(f"{key}: must be{_range_text(meta)}, got {value!r}")
    return value
