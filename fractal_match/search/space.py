"""The space a parameter search explores for one generator family, derived from the family's
declared parameters (their kinds, ranges and choices), plus two switches of every run: matching in
colour and with template masks.

What is searched and what is held fixed, and why:

* numbers within their declared range, on a log scale when the range spans a factor of 100 or
  more (``zoom`` 0.1-100, ``iterations`` 1-1000): equal effort per order of magnitude;
* complex numbers as two real dimensions (``c.real``, ``c.imag``);
* booleans and strings with declared choices, as categories;
* held at the config's value: strings that name another family (``like``, ``through``,
  ``match``: they say which fractal a control mirrors, so searching them would make it another
  control), strings without declared choices (``harmonic.orders``: no finite space), and seeds
  (``scrambled.seed``: searching a seed is searching noise, a way to find a "yes" by chance).

Nothing here needs an optimizer library: the optimizer maps these dimensions to its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..templates.fractal import FAMILIES
from ..templates.fractal._params import Param

#: The switches searched for every family (name -> choices).
SWITCHES = {"color": (False, True), "template_masks": (False, True)}
LOG_SPAN = 100.0


@dataclass(frozen=True)
class Dimension:
    """One searched dimension: "float" or "int" in [low, high] (log-scaled or not), or
    "categorical" over `choices`. `param` is the family parameter it sets (None for a switch);
    `part` is "real"/"imag" for half of a complex parameter."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    param: str | None = None
    part: str | None = None


@dataclass(frozen=True)
class SearchSpace:
    family: str
    dimensions: tuple[Dimension, ...]
    fixed: Mapping[str, Any]  # parameters held at the config's value, with why in `reasons`
    reasons: Mapping[str, str]

    def params(self, values: Mapping[str, Any]) -> tuple[dict, dict]:
        """Sampled values (by dimension name) -> (family parameters, switches), the family's
        parameters checked by the family itself."""
        params, switches, parts = dict(self.fixed), {}, {}
        for dim in self.dimensions:
            value = values[dim.name]
            if dim.param is None:
                switches[dim.name] = value
            elif dim.part is not None:
                parts.setdefault(dim.param, {})[dim.part] = value
            else:
                params[dim.param] = value
        for name, pieces in parts.items():
            params[name] = complex(pieces["real"], pieces["imag"])
        if self.family == "bank":  # its pose lists, not family parameters
            return {key: (float(value),) for key, value in params.items()}, switches
        return FAMILIES[self.family].resolve(params), switches

    def point(self, params: Mapping[str, Any], switches: Mapping[str, bool]) -> dict[str, Any]:
        """The inverse of :meth:`params`: resolved family parameters (for the bank, its pose lists,
        of which the first pose is taken) and switches -> values by dimension name. A value outside
        its dimension's range is a ValueError."""
        values = {}
        for dim in self.dimensions:
            value = switches[dim.name] if dim.param is None else params[dim.param]
            if self.family == "bank" and dim.param is not None:
                value = value[0]
            if dim.part is not None:
                value = getattr(complex(value), dim.part)
            if dim.kind == "categorical":
                if value not in dim.choices:
                    raise ValueError(f"{self.family}.{dim.name} = {value!r} is not one of {list(dim.choices)}")
            elif not dim.low <= value <= dim.high:
                raise ValueError(f"{self.family}.{dim.name} = {value!r} is outside the searched range "
                                 f"{dim.low:g} to {dim.high:g}")
            values[dim.name] = int(value) if dim.kind == "int" else float(value) if dim.kind == "float" else value
        return values

    @property
    def size(self) -> int | None:
        """How many distinct points the space has, when it is finite (only choices); else None."""
        if any(dim.kind != "categorical" for dim in self.dimensions):
            return None
        return math.prod(len(dim.choices) for dim in self.dimensions)


def _numeric(param: Param, name: str, part: str | None = None) -> Dimension:
    low, high = float(param.low), float(param.high)
    log = low > 0 and high / low >= LOG_SPAN
    kind = "int" if param.kind is int else "float"
    return Dimension(name, kind, low, high, log, param=param.name, part=part)


def _held(param: Param) -> str | None:
    """Why a parameter is held fixed, or None when it is searched."""
    if param.kind is str and param.choices is not None and set(param.choices) - {""} <= set(FAMILIES) | {"none"}:
        return "names the family this control mirrors"
    if param.kind is str and param.choices is None:
        return "a free string: no finite space to search"
    if param.kind is int and param.name == "seed":
        return "a random seed: searching it searches noise"
    return None


def search_space(family: str, given: Mapping[str, Any] | None = None) -> SearchSpace:
    """The search space of `family`, its held parameters at `given` (a config's params; else
    their defaults)."""
    if family not in FAMILIES:
        raise FAMILIES.unknown(family)
    resolved = FAMILIES[family].resolve(dict(given or {}))
    dims, fixed, reasons = [], {}, {}
    for param in FAMILIES[family].params:
        why = _held(param)
        if why is not None:
            fixed[param.name], reasons[param.name] = resolved[param.name], why
        elif param.kind is complex:
            dims += [_numeric(param, f"{param.name}.{part}", part) for part in ("real", "imag")]
        elif param.kind in (int, float):
            dims.append(_numeric(param, param.name))
        elif param.kind is bool:
            dims.append(Dimension(param.name, "categorical", choices=(False, True), param=param.name))
        else:
            dims.append(Dimension(param.name, "categorical", choices=tuple(param.choices), param=param.name))
    dims += [Dimension(name, "categorical", choices=choices) for name, choices in SWITCHES.items()]
    return SearchSpace(family, tuple(dims), fixed, reasons)


#: The pose range a one-template bank searches: every rotation, and scales over 0.5x-2x.
BANK_ROTATIONS = (-180.0, 180.0)
BANK_SCALES = (0.5, 2.0)


def bank_space() -> SearchSpace:
    """The bank at equal template count with a fractal (one template: every family makes one):
    the plain kernel warped to one pose, its rotation and scale searched like any parameter."""
    dims = [Dimension("rotation", "float", *BANK_ROTATIONS, param="rotations"),
            Dimension("scale", "float", *BANK_SCALES, param="scales")]
    dims += [Dimension(name, "categorical", choices=choices) for name, choices in SWITCHES.items()]
    return SearchSpace("bank", tuple(dims), {}, {"templates": "one, as many as a fractal variant has"})


def variant_point(space: SearchSpace, variant, color: bool, masks: bool) -> dict[str, Any]:
    """A config's `variant` (its parameters, or the bank's first pose; its own switches, else the
    run's `color` and `masks`) as values in `space`: where ``[search] start = "config"`` starts."""
    if space.family == "bank":
        params = {"rotations": variant.rotations, "scales": variant.scales}
    else:
        params = FAMILIES[space.family].resolve(dict(variant.params))
    own = {"color": variant.color, "template_masks": variant.template_masks}
    switches = {"color": color, "template_masks": masks} | {k: v for k, v in own.items() if v is not None}
    return space.point(params, switches)


def sample(space: SearchSpace, rng) -> dict[str, Any]:
    """One uniformly drawn point (log-uniform where the dimension is log-scaled), for tests and
    random search; `rng` is a numpy Generator."""
    point = {}
    for dim in space.dimensions:
        if dim.kind == "categorical":
            point[dim.name] = dim.choices[int(rng.integers(len(dim.choices)))]
            continue
        if dim.log:
            value = math.exp(rng.uniform(math.log(dim.low), math.log(dim.high)))
        else:
            value = rng.uniform(dim.low, dim.high)
        point[dim.name] = min(int(dim.high), max(int(dim.low), round(value))) if dim.kind == "int" else value
    return point
