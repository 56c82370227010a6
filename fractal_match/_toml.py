"""TOML both ways: typed reading of one table with errors that name the file and the field, and
writing plain data (what a config's canonical form holds) back as TOML that reads the same."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ._errors import ConfigError, did_you_mean


class TableReader:
    """Typed access to one TOML table with errors that name the file and the field."""

    def __init__(self, path: Path, table: dict, prefix: str = ""):
        self.path, self.table, self.prefix = path, table, prefix
        self.used: set[str] = set()

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: field '{self.prefix}{key}' {message}")

    def get(self, key: str, kind, default=None, required: bool = False):
        self.used.add(key)
        if key not in self.table:
            if required:
                raise ConfigError(f"{self.path}: missing field '{self.prefix}{key}'")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(key, f"must be {names}, got {type(value).__name__} {value!r}")
        return value

    def numbers(self, key: str, default=None, required: bool = False, low=-math.inf, high=math.inf,
                exclusive_low: bool = False) -> tuple[float, ...]:
        values = self.get(key, list, default, required)
        if values is None:
            return ()
        if not values:
            raise self.error(key, "is empty (allowed: a list of one or more numbers)")
        out = []
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise self.error(key, f"must hold numbers, got {value!r}")
            if value < low or value > high or (exclusive_low and value <= low):
                bound = f"> {low:g}" if exclusive_low else f">= {low:g}"
                raise self.error(key, f"value {value!r} is out of range (allowed: {bound} and <= {high:g})")
            out.append(float(value))
        return tuple(out)

    def strings(self, key: str, default=None) -> tuple[str, ...]:
        values = self.get(key, list, default)
        if values is None:
            return ()
        for value in values:
            if not isinstance(value, str):
                raise self.error(key, f"must hold strings, got {value!r}")
        return tuple(values)

    def finish(self, allowed: tuple[str, ...] | None = None) -> None:
        allowed = tuple(self.used) if allowed is None else allowed
        for key in self.table:
            if key not in allowed:
                raise ConfigError(f"{self.path}: unknown field '{self.prefix}{key}' "
                                  f"({did_you_mean(key, allowed)}allowed: {', '.join(sorted(allowed))})")


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _value(value) -> str:
    """One value as TOML: strings quoted (JSON's escapes are TOML's), complex numbers as strings
    ("0.6-0.04j", which parameters accept), lists as arrays, dicts as inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} has no TOML form here")
        return repr(value)
    if isinstance(value, complex):
        return json.dumps(str(value).strip("()"))
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def toml_text(top: dict, tables: dict[str, dict], arrays: dict[str, list[dict]]) -> str:
    """TOML text: `top`'s keys, then each of `tables` as [name] (a dict value inside one becomes
    its own [name.key] table), then each of `arrays` as [[name]] tables. None values are left out."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in top.items() if v is not None]

    def table(name: str, data: dict, header: str) -> None:
        lines.extend(["", header])
        nested = {k: v for k, v in data.items() if isinstance(v, dict) and k != "params"}
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in data.items() if v is not None and k not in nested)
        for key, inner in nested.items():
            table(f"{name}.{key}", inner, f"[{name}.{_key(key)}]")

    for name, data in tables.items():
        table(name, data, f"[{name}]")
    for name, items in arrays.items():
        for data in items:
            table(name, data, f"[[{name}]]")
    return "\n".join(lines) + "\n"
