"""Parameter specifications for generator families: defaults, ranges, help, validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..._errors import ParameterError, did_you_mean


@dataclass(frozen=True)
class Param:
    """One generator parameter. `kind` is float, int, bool, complex or str; `low`/`high` bound
    numbers (for complex: the real and imaginary parts); `choices` bounds strings."""

    name: str
    kind: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None

    def describe_range(self) -> str:
        if self.choices is not None:
            return " | ".join(repr(c) for c in self.choices)
        if self.kind is bool:
            return "true | false"
        if self.kind is complex:
            return f"real and imaginary parts in [{self.low:g}, {self.high:g}]"
        if self.low is not None and self.high is not None:
            if self.kind is int:  # every digit: 2147483647, not 2.14748e+09
                return f"{int(self.low)} to {int(self.high)}"
            return f"{self.low:g} to {self.high:g}"
        return "any"

    def parse(self, text: str):
        """Convert a command-line string (from ``--set key=value``) to this parameter's type."""
        try:
            if self.kind is bool:
                lowered = text.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return lowered in ("true", "1", "yes")
            if self.kind is complex:
                return complex(text.replace(" ", "").replace("i", "j"))
            return self.kind(text)
        except ValueError:
            raise ParameterError(
                f"parameter {self.name} = {text!r} is not a {self.kind.__name__} (allowed: {self.describe_range()})"
            ) from None

    def check(self, value, family: str):
        """Return `value` converted and checked, or raise ParameterError naming it and its range."""
        where = f"{family}: parameter {self.name}"
        if isinstance(value, str) and self.kind is not str:
            value = self.parse(value)
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ParameterError(f"{where} = {value!r} must be true or false")
            return value
        if self.kind is str:
            value = str(value)
            if self.choices is not None and value not in self.choices:
                raise ParameterError(f"{where} = {value!r} is not allowed (allowed: {self.describe_range()})")
            return value
        if self.kind is complex:
            try:
                value = complex(value)
            except (TypeError, ValueError):
                raise ParameterError(f"{where} = {value!r} is not a complex number") from None
            if not all(self.low <= part <= self.high for part in (value.real, value.imag)):
                raise ParameterError(f"{where} = {value} is out of range (allowed: {self.describe_range()})")
            return value
        if self.kind is int:
            if isinstance(value, bool) or not float(value).is_integer():
                raise ParameterError(f"{where} = {value!r} must be a whole number (allowed: {self.describe_range()})")
            value = int(value)
        else:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ParameterError(f"{where} = {value!r} is not a number (allowed: {self.describe_range()})") from None
            if value != value:  # NaN
                raise ParameterError(f"{where} is NaN (allowed: {self.describe_range()})")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ParameterError(f"{where} = {value:g} is out of range (allowed: {self.describe_range()})")
        return value


@dataclass(frozen=True)
class Family:
    """A generator family: a function image -> (image, mask) and its parameter specs."""

    name: str
    kind: str  # "identity", "fractal" or "control"
    help: str
    params: tuple[Param, ...]
    function: Callable = field(repr=False, compare=False)

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter with its value: given ones checked, the rest at their defaults."""
        known = {p.name: p for p in self.params}
        for name in given:
            if name not in known:
                allowed = ", ".join(known) or "none"
                raise ParameterError(f"{self.name}: unknown parameter {name!r} ({did_you_mean(name, known)}allowed: {allowed})")
        return {p.name: p.check(given[p.name], self.name) if p.name in given else p.default for p in self.params}


def parse_query(name: str, params, what: str = "parameter") -> dict:
    """``NAME?key=value&key=value`` (a kernel name's options) -> {key: checked value} for the keys
    given; an item without '=' or an unknown key is one ParameterError naming the allowed keys."""
    base, _, query = name.partition("?")
    known = {p.name: p for p in params}
    given = {}
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ParameterError(f"{name}: {item!r} needs the form key=value")
        if key not in known:
            raise ParameterError(f"{base}: unknown {what} {key!r} "
                                 f"({did_you_mean(key, known)}allowed: {', '.join(known) or 'none'})")
        given[key] = known[key].check(value, base)
    return given


def parse_assignments(items) -> dict[str, str]:
    """Turn ``["key=value", ...]`` (from ``--set``) into a dict; a missing '=' is an error."""
    result = {}
    for item in items or ():
        if "=" not in item:
            raise ParameterError(f"--set {item!r} needs the form key=value")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ParameterError(f"--set {item!r} has an empty key (form: key=value)")
        result[key] = value.strip()
    return result
