"""The six OpenCV methods: what is known about each, response maps, and their best positions.

The lowest layer of matching: :mod:`fractal_match.engine.matching` (all six maps from one
correlation), :mod:`fractal_match.engine._masked` (masked forms), :mod:`fractal_match.engine.peaks` and
:mod:`fractal_match.engine.pose_search` build on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import cv2
import numpy as np

from .._errors import DegenerateError, ParameterError, closest

#: Relative flatness threshold for ``CCOEFF_NORMED`` windows and templates (see module docs).
FLAT_RTOL = 1e-5

#: A response map is *flat* (no detection) when its spread over the defined positions, best minus
#: worst, is at most this share of the size of the terms its scores are made from
#: (:func:`term_scale`): below that, differences are the float32 rounding of the correlation, not
#: the picture. Measured: a constant uint8 target gives spreads of 1e-7 to 1e-6 of the terms.
FLAT_SPREAD = 1e-5


@dataclass(frozen=True)
class MethodInfo:
    """What the matcher knows about one OpenCV method."""

    name: str
    code: int
    lower_is_better: bool
    normed: bool
    #: value given to degenerate positions of a normalised method
    worst: float


_KNOWN = (
    # name, lower is better, normalised, worst value
    ("TM_SQDIFF", True, False, np.inf),
    ("TM_SQDIFF_NORMED", True, True, 1.0),
    ("TM_CCORR", False, False, -np.inf),
    ("TM_CCORR_NORMED", False, True, -1.0),
    ("TM_CCOEFF", False, False, -np.inf),
    ("TM_CCOEFF_NORMED", False, True, -1.0),
)

#: The six method names as OpenCV spells them, in OpenCV's order.
METHODS: tuple[str, ...] = tuple(name for name, *_ in _KNOWN)

#: Method name -> :class:`MethodInfo`.
METHOD_INFO: dict[str, MethodInfo] = {
    name: MethodInfo(name, int(getattr(cv2, name)), lower, normed, worst)
    for name, lower, normed, worst in _KNOWN
}


def opencv_methods() -> tuple[str, ...]:
    """Names of every ``cv2.TM_*`` matching method this OpenCV build defines."""
    return tuple(sorted(name for name in dir(cv2) if name.startswith("TM_")))


#: How the allowed method names are listed in errors and help.
METHODS_ALLOWED = f"{', '.join(METHODS)}; the TM_ prefix may be left out, any case, - for _"

#: Short form (upper case, no TM_ prefix, "_" between words) -> canonical name.
_SHORT = {name[3:]: name for name in METHODS}


def canonical_method(name: str) -> str:
    """The canonical OpenCV name of a method given in any of its spellings: with or without the
    ``TM_`` prefix, in any case, words joined by ``_`` or ``-`` (``ccoeff-normed``,
    ``CCOEFF_NORMED`` and ``TM_CCOEFF_NORMED`` all give ``TM_CCOEFF_NORMED``). Anything else is
    a ParameterError naming the method most like it and every allowed name.

    Examples
    --------
    >>> canonical_method("ccoeff-normed")
    'TM_CCOEFF_NORMED'
    """
    if not isinstance(name, str):
        raise ParameterError(f"method {name!r} is not a name (allowed: {METHODS_ALLOWED})")
    short = name.strip().upper().replace("-", "_")
    short = short[3:] if short.startswith("TM_") else short
    if short in _SHORT:
        return _SHORT[short]
    near = closest(short, _SHORT)  # compared without the prefix, which every name shares
    hint = "" if near is None else f"did you mean {_SHORT[near]!r}? "
    raise ParameterError(f"unknown method {name!r} ({hint}allowed: {METHODS_ALLOWED})")


def check_methods(methods: Iterable[str] | str) -> tuple[str, ...]:
    """Return `methods` as a tuple of canonical names (a single name is allowed; any spelling
    :func:`canonical_method` takes), each once, in the order given; or raise."""
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    if not methods:
        raise ParameterError(f"no method given (allowed: {METHODS_ALLOWED})")
    return tuple(dict.fromkeys(canonical_method(name) for name in methods))


@dataclass(frozen=True)
class Match:
    """A template position: top-left corner (x, y) and the method's score there."""

    x: int
    y: int
    score: float


class Responses(dict):
    """Response maps (float32, shape (H-h+1, W-w+1)) keyed by method name.

    ``degenerate[name]`` is a boolean map of positions where the normalised score is undefined,
    or None where there are none (always None for the raw methods, defined everywhere).
    Maps are keyed by canonical name; any spelling :func:`canonical_method` takes finds them
    (``responses["ccoeff_normed"]``).
    """

    def __init__(self, maps: Mapping[str, np.ndarray], degenerate: Mapping[str, np.ndarray | None]):
        super().__init__(maps)
        self.degenerate = dict(degenerate)

    def __missing__(self, method):
        canonical = canonical_method(method) if isinstance(method, str) else method
        if canonical == method or canonical not in self:
            raise KeyError(method)
        return self[canonical]

    def degenerate_count(self, method: str) -> int:
        """Number of degenerate positions in `method`'s map."""
        mask = self.degenerate.get(canonical_method(method))
        return 0 if mask is None else int(np.count_nonzero(mask))

    def best(self, method: str) -> Match:
        """The best match of `method`, never at a degenerate position."""
        method = canonical_method(method)
        return best_match(self[method], method, degenerate=self.degenerate.get(method))


def fill_worst(out: np.ndarray, bad: np.ndarray | None, method: str) -> None:
    """Give degenerate positions the worst value: the method's bound, or a worse value present."""
    if bad is None or not bad.any():
        return
    worst = METHOD_INFO[method].worst
    valid = out[~bad]
    if valid.size:
        worst = max(worst, float(valid.max())) if METHOD_INFO[method].lower_is_better else min(worst, float(valid.min()))
    out[bad] = worst


def score_map(response: np.ndarray, method: str, degenerate: np.ndarray | None = None,
              copy: bool = True) -> np.ndarray:
    """A float32 map where higher is better (SQDIFF methods negated, which is exact), with
    degenerate positions set to -inf so they are never chosen. With ``copy=False`` a map that
    needs no change is returned as it is (read-only use)."""
    response = np.asarray(response)
    if METHOD_INFO[method].lower_is_better:
        score = np.negative(response, dtype=np.float32)
    elif copy or response.dtype != np.float32 or (degenerate is not None and degenerate.any()):
        score = response.astype(np.float32)
    else:
        return response
    if degenerate is not None:
        score[degenerate] = -np.inf
    return score


def best_match(response: np.ndarray, method: str, degenerate: np.ndarray | None = None) -> Match:
    """The best position of a response map: the minimum for the SQDIFF methods, else the maximum.

    Positions flagged in `degenerate` are never chosen. Ties go to the first position in
    row-major order, as ``cv2.minMaxLoc`` does.

    Examples
    --------
    >>> import numpy as np
    >>> best_match(np.array([[0.5, 0.1], [0.3, 0.9]], np.float32), "TM_SQDIFF")
    Match(x=1, y=0, score=0.10000000149011612)
    """
    method = check_methods(method)[0]
    response = np.asarray(response)
    if response.ndim != 2 or response.size == 0:
        raise ParameterError(f"response: shape {response.shape} is not a 2-D map")
    if degenerate is None or not degenerate.any():  # no copy: the minimum is the negated maximum
        index = int(np.argmin(response) if METHOD_INFO[method].lower_is_better else np.argmax(response))
        finite = np.isfinite(response.flat[index])
    else:
        score = score_map(response, method, degenerate)
        index = int(np.argmax(score))
        finite = np.isfinite(score.flat[index])
    if not finite:
        raise DegenerateError(
            f"every position is degenerate for {method} (the target has no contrast under any window)"
        )
    y, x = divmod(index, response.shape[1])
    return Match(x, y, float(response[y, x]))


def term_scale(method: str, template_energy: float, window_energy: float) -> float:
    """The size of the terms a `method`'s scores are made from, for a template whose sum of
    squares is `template_energy` against windows whose sum of squares is at most
    `window_energy`: SQDIFF adds the two energies; CCORR and CCOEFF are correlations, at most
    sqrt(template x window) by Cauchy-Schwarz; the normalised methods are scores of at most 1."""
    if METHOD_INFO[method].normed:
        return 1.0
    if method == "TM_SQDIFF":
        return float(template_energy) + float(window_energy)
    return math.sqrt(max(float(template_energy), 0.0) * max(float(window_energy), 0.0))


def is_flat(best: float, worst: float, method: str, scale: float) -> bool:
    """Whether a map whose defined scores run from `worst` to `best` has no spread beyond the
    rounding of terms of size `scale` (:func:`term_scale`; :data:`FLAT_SPREAD`)."""
    return abs(float(best) - float(worst)) <= FLAT_SPREAD * float(scale)


def flat_reason(method: str, value: float) -> str:
    """The row status of a flat map (see :data:`FLAT_SPREAD`)."""
    return f"flat: every defined position of the {method} map scores {float(value) + 0.0:.6g} (no detection)"


def window_energy_max(target: np.ndarray, shape: tuple[int, ...]) -> float:
    """The largest sum of squares (over every channel) of a `shape`-sized window of `target`."""
    values = np.asarray(target, np.float64)
    squares = values * values if values.ndim == 2 else (values * values).sum(axis=2)
    h, w = shape[:2]
    sums = cv2.integral(squares, sdepth=cv2.CV_64F)
    windows = sums[h:, w:] - sums[:-h, w:] - sums[h:, :-w] + sums[:-h, :-w]
    return float(windows.max()) if windows.size else 0.0


def flat_status(best: float, worst: float, method: str, template_energy: float, target_energy: float,
                window_energy) -> str | None:
    """:func:`flat_reason` when a map whose defined scores run from `worst` to `best` (higher is
    better) is flat, else None. The raw methods are first judged against the whole target's sum
    of squares (`target_energy`, a bound on any window's), which settles most maps; only a map that
    is flat by that bound asks `window_energy()` for the largest window's."""
    scale = 1.0
    if not METHOD_INFO[method].normed:
        if not is_flat(best, worst, method, term_scale(method, template_energy, target_energy)):
            return None
        scale = term_scale(method, template_energy, window_energy())
    if not is_flat(best, worst, method, scale):
        return None
    return flat_reason(method, -best if METHOD_INFO[method].lower_is_better else best)


def map_flatness(response: np.ndarray, method: str, degenerate: np.ndarray | None, target: np.ndarray,
                 template: np.ndarray, mask: np.ndarray | None = None) -> str | None:
    """:func:`flat_status` of `method`'s map of `template` (with its `mask`, values in [0, 1]) on
    `target`, over its defined positions (None also when none is defined)."""
    score = score_map(response, method, degenerate, copy=False)
    finite = score[np.isfinite(score)]
    if finite.size == 0:
        return None
    values = np.asarray(template, np.float64)
    if mask is not None:
        weights = np.asarray(mask, np.float64)
        values = values * (weights[..., None] if weights.ndim < values.ndim else weights)
    whole = np.asarray(target, np.float64)
    return flat_status(float(finite.max()), float(finite.min()), method, float((values * values).sum()),
                       float((whole * whole).sum()), lambda: window_energy_max(target, np.shape(template)))


def template_error(template: np.ndarray, method: str, what: str) -> DegenerateError:
    return DegenerateError(
        f"template {what}, so {method} is undefined "
        f"(range {float(template.min()):g}..{float(template.max()):g}); "
        "drop that method or use a template with contrast"
    )


