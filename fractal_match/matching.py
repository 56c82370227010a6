"""Template matching with all six OpenCV methods from one cross-correlation.

``cv2.matchTemplate`` called once per method recomputes the same cross-correlation six times
and then normalises pixel by pixel. Every method is a cheap function of three things:

* ``cc``  – the cross-correlation of target and template (one ``TM_CCORR`` call),
* ``S``   – the per-channel sum of the target under each template-sized window,
* ``Q``   – the sum of squares of the target under each window (summed over channels),

plus constants of the template (its per-channel sums and its sum of squares)::

    SQDIFF         = Q - 2 cc + sum(T^2)
    CCOEFF         = cc - sum_k mean(T_k) S_k
    CCORR_NORMED   = cc / sqrt(Q sum(T^2))
    SQDIFF_NORMED  = SQDIFF / sqrt(Q sum(T^2))
    CCOEFF_NORMED  = CCOEFF / sqrt((Q - sum_k S_k^2 / n) (sum(T^2) - sum_k sum(T_k)^2 / n))

Window sums come from box filters in float64 (exact for integer images), so the extra work per
template is O(pixels) and small next to the correlation.

Degenerate positions
--------------------
A normalised score is undefined where its denominator vanishes: a window with no energy
(all zero: ``CCORR_NORMED``, ``SQDIFF_NORMED``) or with no contrast (``CCOEFF_NORMED``; a window
is called flat when its centred energy is at most ``FLAT_RTOL`` times its raw energy, which also
catches windows whose score would be dominated by the float32 rounding of the correlation).
OpenCV returns 0, 1, NaN or Inf there depending on version and path. Here such a position gets
the method's worst value (``MethodInfo.worst``), is never chosen as a match by
:func:`best_match` or :func:`find_peaks`, and is recorded in ``Responses.degenerate``.
A template with no energy (or, for ``CCOEFF_NORMED``, no contrast) makes the method undefined
everywhere: :func:`match_all` raises :class:`DegenerateError` saying so.

Like OpenCV, the normalised scores are clamped to their valid ranges: ``CCORR_NORMED`` and
``CCOEFF_NORMED`` to [-1, 1], ``SQDIFF_NORMED`` to [0, 1] (OpenCV saturates it at 1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import cv2
import numpy as np

from . import _fused
from ._scan import local_maxima, ordered
from ._checks import check_image, check_mask, check_positive_int
from ._errors import DegenerateError, ParameterError

log = logging.getLogger(__name__)

#: Relative flatness threshold for ``CCOEFF_NORMED`` windows and templates (see module docs).
FLAT_RTOL = 1e-5


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


def check_methods(methods: Iterable[str] | str) -> tuple[str, ...]:
    """Return `methods` as a tuple of known names (a single name is allowed), or raise."""
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    if not methods:
        raise ParameterError(f"no method given (allowed: {', '.join(METHODS)})")
    for name in methods:
        if name not in METHOD_INFO:
            raise ParameterError(f"unknown method {name!r} (allowed: {', '.join(METHODS)})")
    return tuple(dict.fromkeys(methods))


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
    """

    def __init__(self, maps: Mapping[str, np.ndarray], degenerate: Mapping[str, np.ndarray | None]):
        super().__init__(maps)
        self.degenerate = dict(degenerate)

    def degenerate_count(self, method: str) -> int:
        """Number of degenerate positions in `method`'s map."""
        mask = self.degenerate.get(method)
        return 0 if mask is None else int(np.count_nonzero(mask))

    def best(self, method: str) -> Match:
        """The best match of `method`, never at a degenerate position."""
        return best_match(self[method], method, degenerate=self.degenerate.get(method))


def _prepare(target: np.ndarray, template, mask):
    """The checked template and mask for an already checked `target`, or a ParameterError."""
    template = check_image(template, "template")
    if target.ndim != template.ndim:
        raise ParameterError(
            f"target has {_channels(target)} channel(s) but template has {_channels(template)} "
            "(allowed: the same number, 1 or 3)"
        )
    if template.shape[0] > target.shape[0] or template.shape[1] > target.shape[1]:
        raise ParameterError(
            f"template ({template.shape[1]}x{template.shape[0]} px) is larger than the target "
            f"({target.shape[1]}x{target.shape[0]} px) (allowed: at most the target's size)"
        )
    if mask is not None:
        mask = check_mask(mask, template.shape)
    return template, mask


def _channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else image.shape[2]


def match_all(
    target: np.ndarray,
    template: np.ndarray,
    methods: Sequence[str] | str = METHODS,
    mask: np.ndarray | None = None,
) -> Responses:
    """Response maps of `template` over `target` for several OpenCV methods in one pass.

    Parameters
    ----------
    target, template : ndarray
        Gray (H, W) or colour (H, W, 3) images of the same channel count; uint8, uint16,
        float32 or float64. Colour scores are summed over channels exactly as OpenCV does
        (per-channel means for the CCOEFF methods). Inputs are never modified.
    methods : sequence of str
        Names from :data:`METHODS` (default: all six).
    mask : ndarray, optional
        Template-sized weights (one channel or the template's channels). uint8/bool masks are
        binary, float masks are weights, as in OpenCV. Costs extra correlations.

    Returns
    -------
    Responses
        A dict of float32 maps of shape (H-h+1, W-w+1), the values ``cv2.matchTemplate`` gives,
        with ``.degenerate`` holding the positions where a normalised score is undefined.

    Raises
    ------
    ParameterError
        Bad shapes, types, channel counts, unknown methods, or a template larger than the target.
    DegenerateError
        The template has no energy, or no contrast for ``TM_CCOEFF_NORMED``.

    Examples
    --------
    >>> import numpy as np
    >>> target = np.random.default_rng(0).integers(0, 256, (40, 50), dtype=np.uint8)
    >>> responses = match_all(target, target[10:20, 5:17])
    >>> responses.best("TM_CCOEFF_NORMED")
    Match(x=5, y=10, score=1.0)
    """
    return match_many(target, [template], methods, None if mask is None else [mask])[0]


def match_many(
    target: np.ndarray,
    templates: Sequence[np.ndarray],
    methods: Sequence[str] | str = METHODS,
    masks: Sequence[np.ndarray | None] | None = None,
) -> list[Responses]:
    """:func:`match_all` for several templates over one target, sharing the target-side work.

    The target is checked and converted once, and templates of one size are derived together
    from a single sweep of the target's window sums (the per-template cost is then one
    correlation plus writing its maps). The result equals ``[match_all(target, t, methods, m)
    for t, m in zip(templates, masks)]`` and raises what the first failing call would raise.
    All maps are held at once: for many templates on a large target, call it on slices (see
    :func:`batch_size`).
    """
    outcomes = _match_outcomes(target, templates, methods, masks)
    for outcome in outcomes:
        if isinstance(outcome, ParameterError):
            raise outcome
        if outcome.problems:
            raise next(iter(outcome.problems.values()))
    return [outcome.responses for outcome in outcomes]


def match_batch(target: np.ndarray, templates: Sequence[np.ndarray], methods: Sequence[str],
                masks: Sequence[np.ndarray | None] | None = None) -> list[dict]:
    """Per template ``{method: (response, degenerate)}``, or ``{method: reason}`` where a method
    cannot be used: "undefined: ..." for a method the template leaves undefined (the other
    methods still get their maps), "skipped: ..." for every method when the template cannot be
    matched at all (too large, wrong channels). Shares the target-side work like :func:`match_many`."""
    methods = check_methods(methods)
    out = []
    for outcome in _match_outcomes(target, templates, methods, masks):
        if isinstance(outcome, ParameterError):
            out.append({m: f"skipped: {outcome}" for m in methods})
            continue
        found = {m: (outcome.responses[m], outcome.responses.degenerate[m]) for m in outcome.responses}
        found.update({m: f"undefined: {exc}" for m, exc in outcome.problems.items()})
        out.append({m: found[m] for m in methods})
    return out


def batch_size(target_shape: Sequence[int], template_shapes: Sequence[Sequence[int]], budget: int = 96 * 2**20) -> int:
    """How many of these templates one :func:`match_many` call may take on a target of
    `target_shape` for their six float32 maps each to fit in `budget` bytes (at least one;
    counted for the smallest template, whose maps are the largest)."""
    h = min((shape[0] for shape in template_shapes), default=1)
    w = min((shape[1] for shape in template_shapes), default=1)
    ny, nx = max(1, target_shape[0] - h + 1), max(1, target_shape[1] - w + 1)
    return max(1, budget // (6 * 4 * ny * nx))


@dataclass
class _Outcome:
    """One template's maps, and the methods it leaves undefined (with the error that says so)."""

    responses: Responses
    problems: dict


def _match_outcomes(target, templates, methods, masks) -> list:
    """Per template an :class:`_Outcome`, or the ParameterError that stops it being matched."""
    methods = check_methods(methods)
    templates = list(templates)
    masks = [None] * len(templates) if masks is None else list(masks)
    if len(masks) != len(templates):
        raise ParameterError(f"{len(masks)} masks for {len(templates)} templates (allowed: one per template, or None)")
    target = check_image(target, "target")
    prepared = []  # (index, template, mask) of those that can be matched
    outcomes: list = [None] * len(templates)
    for index, (template, mask) in enumerate(zip(templates, masks)):
        try:
            prepared.append((index, *_prepare(target, template, mask)))
        except ParameterError as exc:
            outcomes[index] = exc
    # OpenCV needs one depth for target and template: uint8 when both are, else float32 (exact
    # for uint16, whose values fit in float32's 24-bit mantissa).
    as_float = target.dtype != np.uint8 or any(t.dtype != np.uint8 for _, t, _ in prepared)
    if as_float:
        target = target.astype(np.float32, copy=False)
    by_size: dict[tuple, list] = {}
    for index, template, mask in prepared:
        template = template.astype(np.float32, copy=False) if as_float else template
        if mask is not None:
            from ._masked import match_masked

            try:
                outcomes[index] = _Outcome(match_masked(target, template, mask, methods), {})
            except DegenerateError:  # undefined methods: match the others one by one
                outcomes[index] = _masked_one_by_one(target, template, mask, methods)
            continue
        by_size.setdefault(template.shape[:2], []).append((index, template))
    for members in by_size.values():
        for index, outcome in zip((i for i, _ in members), _match_same_size(target, [t for _, t in members], methods)):
            outcomes[index] = outcome
    return outcomes


def _masked_one_by_one(target, template, mask, methods) -> _Outcome:
    from ._masked import match_masked

    maps, degenerate, problems = {}, {}, {}
    for method in methods:
        try:
            responses = match_masked(target, template, mask, (method,))
        except DegenerateError as exc:
            problems[method] = exc
            continue
        maps[method], degenerate[method] = responses[method], responses.degenerate[method]
    return _Outcome(Responses(maps, degenerate), problems)


def _check_template(template: np.ndarray, methods) -> tuple[float, np.ndarray, float, dict]:
    """The template's sum of squares, per-channel sums, centred energy, and the methods it
    leaves undefined (no energy, or no contrast for CCOEFF_NORMED)."""
    t64 = template.astype(np.float64)
    tsq = float(np.vdot(t64, t64))
    tsum = np.atleast_1d(t64.sum(axis=(0, 1)))  # per channel
    tvar = tsq - float(np.dot(tsum, tsum)) / (template.shape[0] * template.shape[1])
    problems = {}
    for name in methods:
        if name in ("TM_CCORR_NORMED", "TM_SQDIFF_NORMED") and tsq <= 0:
            problems[name] = _template_error(template, name, "is all zero")
        if name == "TM_CCOEFF_NORMED" and tvar <= FLAT_RTOL * tsq:
            problems[name] = _template_error(template, name, "has zero variance")
    return tsq, tsum, tvar, problems


def _template_error(template: np.ndarray, method: str, what: str) -> DegenerateError:
    return DegenerateError(
        f"template {what}, so {method} is undefined "
        f"(range {float(template.min()):g}..{float(template.max()):g}); "
        "drop that method or use a template with contrast"
    )


def _match_same_size(target, templates, methods) -> list[_Outcome]:
    """Unmasked maps of same-size templates: one correlation each, one shared sweep for the rest."""
    h, w = templates[0].shape[:2]
    ny, nx = target.shape[0] - h + 1, target.shape[1] - w + 1
    correlations = np.empty((len(templates), ny, nx), np.float32)
    for k, template in enumerate(templates):
        cv2.matchTemplate(target, template, cv2.TM_CCORR, result=correlations[k])
    if methods == ("TM_CCORR",):
        return [_Outcome(Responses({"TM_CCORR": cc}, {"TM_CCORR": None}), {}) for cc in correlations]
    checked = [_check_template(t, methods) for t in templates]

    channels = _channels(target)
    # One block for all derived maps: a single large allocation that NumPy backs with huge
    # pages, instead of many smaller ones whose page faults cost as much as the arithmetic.
    derived = np.empty((len(templates), len(_fused.DERIVED), ny, nx), np.float32)
    flags = np.empty((ny, nx), np.uint8)
    derive = _fused.derive_colour if channels == 3 else _fused.derive_gray
    derive(
        correlations, target.reshape(target.shape[0], target.shape[1], channels), h, w,
        np.array([c[0] for c in checked]), np.array([c[1] / (h * w) for c in checked]), np.array([c[2] for c in checked]),
        FLAT_RTOL, _fused.row_blocks(ny, h), np.int64(0) if target.dtype == np.uint8 else np.float64(0.0),
        derived, flags,
    )
    present = int(np.bitwise_or.reduce(flags, axis=None))  # which kinds of degeneracy occur at all
    empty = (flags & _fused.EMPTY) != 0 if present & _fused.EMPTY else None
    flat = (flags & _fused.FLAT) != 0 if present & _fused.FLAT else None
    masks = {"TM_SQDIFF_NORMED": empty, "TM_CCORR_NORMED": empty, "TM_CCOEFF_NORMED": flat}
    outcomes = []
    for k, (*_, problems) in enumerate(checked):
        maps = dict(zip(_fused.DERIVED, derived[k]), TM_CCORR=correlations[k])
        kept = [m for m in methods if m not in problems]
        outcomes.append(_Outcome(Responses({m: maps[m] for m in kept}, {m: masks.get(m) for m in kept}), problems))
    return outcomes


def _fill_worst(out: np.ndarray, bad: np.ndarray | None, method: str) -> None:
    """Give degenerate positions the worst value: the method's bound, or a worse value present."""
    if bad is None or not bad.any():
        return
    worst = METHOD_INFO[method].worst
    valid = out[~bad]
    if valid.size:
        worst = max(worst, float(valid.max())) if METHOD_INFO[method].lower_is_better else min(worst, float(valid.min()))
    out[bad] = worst


def score_map(response: np.ndarray, method: str, degenerate: np.ndarray | None = None) -> np.ndarray:
    """A float32 copy of a map where higher is better (SQDIFF methods negated, which is exact),
    with degenerate positions set to -inf so they are never chosen."""
    response = np.asarray(response)
    if METHOD_INFO[method].lower_is_better:
        score = np.negative(response, dtype=np.float32)
    else:
        score = response.astype(np.float32)
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
    score = score_map(response, method, degenerate)
    index = int(np.argmax(score))
    if not np.isfinite(score.flat[index]):
        raise DegenerateError(
            f"every position is degenerate for {method} (the target has no contrast under any window)"
        )
    y, x = divmod(index, response.shape[1])
    return Match(x, y, float(response[y, x]))


def find_peaks(
    response: np.ndarray,
    method: str,
    template_shape: tuple[int, ...],
    k: int = 5,
    min_score: float | None = None,
    max_overlap: float = 0.3,
    degenerate: np.ndarray | None = None,
) -> list[Match]:
    """Up to `k` best local extrema, with non-maximum suppression by box IoU.

    A candidate is a local extremum of the map (no better value among its 8 neighbours). The
    best remaining candidate is taken, and every candidate whose template-sized box overlaps it
    with IoU > `max_overlap` is dropped; repeat. `min_score` keeps only matches at least that
    good (at most it for the SQDIFF methods). Degenerate positions are never returned.
    """
    method = check_methods(method)[0]
    k = check_positive_int(k, "k (number of peaks)")
    if not 0.0 <= max_overlap <= 1.0:
        raise ParameterError(f"max_overlap = {max_overlap} is out of range (allowed: 0 to 1)")
    score = score_map(response, method, degenerate)
    bound = None
    if min_score is not None:
        bound = -min_score if METHOD_INFO[method].lower_is_better else min_score
    sign = -1.0 if METHOD_INFO[method].lower_is_better else 1.0
    return [Match(x, y, sign * value) for x, y, value in peaks_of_score(score, template_shape, k, bound, max_overlap)]


def peaks_of_score(score: np.ndarray, template_shape, k: int, bound: float | None = None,
                   max_overlap: float = 0.3) -> list[tuple[int, int, float]]:
    """(x, y, score) of up to k NMS peaks of a higher-is-better float32 map (-inf = excluded)."""
    h, w = template_shape[:2]
    # Local maxima: >= every neighbour (plateaus keep all their points; NMS thins them).
    indices, values = local_maxima(score, -np.inf if bound is None else np.float32(bound))
    needed = 64 * k
    while True:  # the best part, then with its ties, then a 16x larger part; at last all of them
        for ties in (False, True):
            order = ordered(values, needed, ties)
            peaks = _nms(indices[order], values[order], score.shape[1], h, w, k, max_overlap)
            if len(peaks) == k or len(order) == len(values):
                return peaks
        needed *= 16


def _nms(indices, values, width, h, w, k, max_overlap) -> list[tuple[int, int, float]]:
    """Greedy NMS over candidates given best first."""
    ys, xs = np.divmod(indices, width)
    # Two equal-size boxes offset by (dx, dy) have IoU = a / (2 w h - a), a = (w-|dx|)(h-|dy|).
    peaks = []
    alive = np.ones(len(ys), dtype=bool)
    i = 0
    while i < len(ys) and len(peaks) < k:
        y, x = int(ys[i]), int(xs[i])
        peaks.append((x, y, float(values[i])))
        rest = slice(i + 1, None)
        overlap = np.maximum(w - np.abs(xs[rest] - x), 0) * np.maximum(h - np.abs(ys[rest] - y), 0)
        alive[rest] &= overlap / (2.0 * w * h - overlap) <= max_overlap
        following = np.flatnonzero(alive[rest])
        i = i + 1 + int(following[0]) if following.size else len(ys)
    return peaks


@dataclass(frozen=True)
class SearchResult:
    """The best member of a template bank for one method."""

    match: Match
    scale: float
    rotation: float
    template_shape: tuple[int, ...]
    response: np.ndarray
    degenerate: np.ndarray | None


@dataclass(frozen=True)
class Search:
    """The outcome of :func:`search`: per method the winning member, how many templates were
    matched, and why a method has no winner (every member undefined or too large)."""

    results: dict
    templates: int
    problems: dict


def search(target: np.ndarray, template: np.ndarray, rotations: Sequence[float] = (0.0,),
           scales: Sequence[float] = (1.0,), methods: Sequence[str] | str = METHODS,
           masks: bool = False) -> Search:
    """Brute-force pose search: the template at every (scale, rotation) of the bank, matched with
    every method; per method the member with the best score wins (the competitor a fractal must
    beat at equal compute).

    Turned templates fill their corners by replicating the border, or are masked to their own
    pixels with `masks`. Raw scores of different-size members are compared as they are, which
    favours some sizes for the raw methods; the normalised methods compare fairly.
    """
    from .geometry import Pose, posed_template

    methods = check_methods(methods)
    results: dict[str, SearchResult] = {}
    problems: dict[str, str] = {}
    poses = [(scale, rotation) for scale in scales for rotation in rotations]
    members = [posed_template(template, Pose(scale, rotation)) for scale, rotation in poses]
    count = len(members)
    # Members of one size share the target's window sums; a slice at a time bounds the memory.
    step = batch_size(np.shape(target), [m.shape for m, _ in members])
    for first in range(0, count, step):
        chunk = slice(first, first + step)
        outcomes = match_batch(target, [m for m, _ in members[chunk]], methods,
                               [k for _, k in members[chunk]] if masks else None)
        for (scale, rotation), (member, _), outcome in zip(poses[chunk], members[chunk], outcomes):
            for name, found in outcome.items():
                if isinstance(found, str):
                    problems.setdefault(name, found)
                    continue
                response, degenerate = found
                try:
                    best = best_match(response, name, degenerate)
                except DegenerateError as exc:
                    problems.setdefault(name, f"undefined: {exc}")
                    continue
                sign = -1.0 if METHOD_INFO[name].lower_is_better else 1.0
                if name not in results or sign * best.score > sign * results[name].match.score:
                    results[name] = SearchResult(best, scale, rotation, member.shape, response, degenerate)
    return Search(results, count, {m: p for m, p in problems.items() if m not in results})
