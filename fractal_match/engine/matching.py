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

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from . import _fused
from .._checks import check_image, check_mask
from .._errors import DegenerateError, ParameterError
from ..images import on_target_scale
from ._masked import match_masked
from ._methods import (FLAT_RTOL, METHOD_INFO, METHODS, Match, MethodInfo, Responses, best_match, check_methods,
                       opencv_methods, score_map, template_error)


def _is_template(template) -> bool:
    """A generated template (:class:`fractal_match.Template`, or anything whose ``image`` is a
    picture in [0, 1]) rather than a plain array."""
    return not isinstance(template, np.ndarray) and isinstance(getattr(template, "image", None), np.ndarray)


def _template_on_scale(template, target: np.ndarray) -> np.ndarray:
    """A generated template's picture ([0, 1]) put on the scale of `target`
    (:func:`fractal_match.images.on_target_scale`)."""
    return on_target_scale(check_image(template.image, "template"), target)


#: The methods whose best position or score depends on the template's value scale. Scaling the
#: template by a constant leaves CCORR_NORMED and CCOEFF_NORMED exactly as they are.
SCALE_DEPENDENT = ("TM_SQDIFF", "TM_SQDIFF_NORMED", "TM_CCORR", "TM_CCOEFF")


def _scale_problem(target: np.ndarray, template: np.ndarray, methods) -> str | None:
    """Why a plain template array cannot be on the value scale of `target`, or None.

    The rule (by type and range, for the methods that depend on the scale): a float template
    whose values all lie in [0, 1] against a uint8 or uint16 target that has values above 1; an
    integer template with values above 1 against a float target on [0, 1]; a uint16 template with
    values above 255 against a uint8 target. Anything else may be on the target's scale and is
    matched as it is."""
    if not set(methods) & set(SCALE_DEPENDENT):
        return None
    if target.dtype in (np.uint8, np.uint16) and template.dtype.kind == "f":
        low, high = float(template.min()), float(template.max())
        if 0.0 <= low and 0.0 < high <= 1.0 and int(target.max()) > 1:
            full = 255 if target.dtype == np.uint8 else 65535
            fix = "template.to_uint8(), " if full == 255 else ""
            return (f"template: float values in [0, 1] are not on the scale of a {target.dtype.name} target (0-{full}); "
                    f"pass the Template itself, {fix}or the array times {full}")
    if target.dtype.kind == "f" and template.dtype in (np.uint8, np.uint16):
        if float(target.min()) >= 0.0 and 0.0 < float(target.max()) <= 1.0 and int(template.max()) > 1:
            return (f"template: {template.dtype.name} values up to {int(template.max())} are not on the scale of a float "
                    "target in [0, 1]; divide the template by its full scale, or give the target on the template's scale")
    if target.dtype == np.uint8 and template.dtype == np.uint16 and int(template.max()) > 255:
        return (f"template: uint16 values up to {int(template.max())} are not on the scale of a uint8 target (0-255); "
                "convert one of them to the other's scale")
    return None


def _prepare(target: np.ndarray, template, mask, methods=METHODS):
    """The checked template and mask for an already checked `target`, or a ParameterError."""
    if _is_template(template):
        template = _template_on_scale(template, target)
    else:
        template = check_image(template, "template")
        problem = _scale_problem(target, template, methods)
        if problem:
            raise ParameterError(problem)
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
    target : ndarray
        Gray (H, W) or colour (H, W, 3) image; uint8, uint16, float32 or float64.
    template : ndarray or Template
        An image of the target's channel count. A `Template` (what
        `fractalize` returns, on 0-1) is put on the target's scale first
        (uint8 0-255, uint16 0-65535, float 0-1 or 0-255); its mask is used only if passed as
        `mask`. A plain array is matched as it is, so it must be on the target's scale: one that
        cannot be is refused when a method that depends on the scale is asked for (a float array
        within [0, 1] against an integer target with values above 1; integer values above 1
        against a float target within [0, 1]; uint16 values above 255 against a uint8 target;
        ``TM_CCORR_NORMED`` and ``TM_CCOEFF_NORMED`` do not depend on it). Colour scores are summed over channels exactly as
        OpenCV does (per-channel means for the CCOEFF methods). Inputs are never modified.
    methods : sequence of str
        Names from :data:`METHODS` (default: all six), in any spelling :func:`canonical_method`
        takes (``"ccoeff_normed"``); the maps are keyed by the canonical names.
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
        Bad shapes, types, channel counts, unknown methods, a template larger than the target,
        or a template array that cannot be on the target's value scale.
    DegenerateError
        The template has no energy, or no contrast for ``TM_CCOEFF_NORMED``.

    Examples
    --------
    >>> import numpy as np
    >>> target = np.random.default_rng(0).integers(0, 256, (40, 50), dtype=np.uint8)
    >>> responses = match_all(target, target[10:20, 5:17])
    >>> best = responses.best("TM_CCOEFF_NORMED")  # a perfect match scores 1 (to float32 rounding)
    >>> best.x, best.y, round(best.score, 5)
    (5, 10, 1.0)
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


def prepare_batch(target, templates, methods, masks):
    """Check and convert a target and its templates once for a batch.

    Returns (methods, target, prepared, outcomes): the checked method names; the target as
    OpenCV will correlate it (uint8 when it and every template are, else float32); per template
    that can be matched (index, template in that depth, mask or None); and a list with the
    ParameterError of each template that cannot be matched at its index (None elsewhere)."""
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
            prepared.append((index, *_prepare(target, template, mask, methods)))
        except ParameterError as exc:
            outcomes[index] = exc
    # OpenCV needs one depth for target and template: uint8 when both are, else float32 (exact
    # for uint16, whose values fit in float32's 24-bit mantissa).
    as_float = target.dtype != np.uint8 or any(t.dtype != np.uint8 for _, t, _ in prepared)
    if as_float:
        target = target.astype(np.float32, copy=False)
        prepared = [(index, t.astype(np.float32, copy=False), mask) for index, t, mask in prepared]
    return methods, target, prepared, outcomes


def correlations(target: np.ndarray, templates: Sequence[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """(K, ny, nx) float32: one ``TM_CCORR`` map per same-size template (prepared by
    :func:`prepare_batch`), into `out` when given."""
    h, w = templates[0].shape[:2]
    shape = (len(templates), target.shape[0] - h + 1, target.shape[1] - w + 1)
    out = np.empty(shape, np.float32) if out is None else out
    for k, template in enumerate(templates):
        cv2.matchTemplate(target, template, cv2.TM_CCORR, result=out[k])
    return out


def _match_outcomes(target, templates, methods, masks) -> list:
    """Per template an :class:`_Outcome`, or the ParameterError that stops it being matched."""
    methods, target, prepared, outcomes = prepare_batch(target, templates, methods, masks)
    by_size: dict[tuple, list] = {}
    for index, template, mask in prepared:
        if mask is not None:
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
    maps, degenerate, problems = {}, {}, {}
    for method in methods:
        try:
            responses = match_masked(target, template, mask, (method,))
        except DegenerateError as exc:
            problems[method] = exc
            continue
        maps[method], degenerate[method] = responses[method], responses.degenerate[method]
    return _Outcome(Responses(maps, degenerate), problems)


def check_template(template: np.ndarray, methods) -> tuple[float, np.ndarray, float, dict]:
    """The template's sum of squares, per-channel sums, centred energy, and the methods it
    leaves undefined (no energy, or no contrast for CCOEFF_NORMED)."""
    t64 = template.astype(np.float64)
    tsq = float(np.vdot(t64, t64))
    tsum = np.atleast_1d(t64.sum(axis=(0, 1)))  # per channel
    tvar = tsq - float(np.dot(tsum, tsum)) / (template.shape[0] * template.shape[1])
    problems = {}
    for name in methods:
        if name in ("TM_CCORR_NORMED", "TM_SQDIFF_NORMED") and tsq <= 0:
            problems[name] = template_error(template, name, "is all zero")
        if name == "TM_CCOEFF_NORMED" and tvar <= FLAT_RTOL * tsq:
            problems[name] = template_error(template, name, "has zero variance")
    return tsq, tsum, tvar, problems


def _match_same_size(target, templates, methods) -> list[_Outcome]:
    """Unmasked maps of same-size templates: one correlation each, one shared sweep for the rest."""
    h, w = templates[0].shape[:2]
    ny, nx = target.shape[0] - h + 1, target.shape[1] - w + 1
    cc = correlations(target, templates)
    if methods == ("TM_CCORR",):
        return [_Outcome(Responses({"TM_CCORR": c}, {"TM_CCORR": None}), {}) for c in cc]
    checked = [check_template(t, methods) for t in templates]

    channels = _channels(target)
    # One block for all derived maps: a single large allocation that NumPy backs with huge
    # pages, instead of many smaller ones whose page faults cost as much as the arithmetic.
    derived = np.empty((len(templates), len(_fused.DERIVED), ny, nx), np.float32)
    flags = np.empty((ny, nx), np.uint8)
    derive = _fused.derive_colour if channels == 3 else _fused.derive_gray
    _fused.in_row_blocks(
        derive, ny, h,
        (cc, target.reshape(target.shape[0], target.shape[1], channels), h, w, np.array([c[0] for c in checked]),
         np.array([c[1] / (h * w) for c in checked]), np.array([c[2] for c in checked]), FLAT_RTOL),
        (np.int64(0) if target.dtype == np.uint8 else np.float64(0.0), derived, flags),
    )
    present = int(np.bitwise_or.reduce(flags, axis=None))  # which kinds of degeneracy occur at all
    empty = (flags & _fused.EMPTY) != 0 if present & _fused.EMPTY else None
    flat = (flags & _fused.FLAT) != 0 if present & _fused.FLAT else None
    masks = {"TM_SQDIFF_NORMED": empty, "TM_CCORR_NORMED": empty, "TM_CCOEFF_NORMED": flat}
    outcomes = []
    for k, (*_, problems) in enumerate(checked):
        maps = dict(zip(_fused.DERIVED, derived[k]), TM_CCORR=cc[k])
        kept = [m for m in methods if m not in problems]
        outcomes.append(_Outcome(Responses({m: maps[m] for m in kept}, {m: masks.get(m) for m in kept}), problems))
    return outcomes


__all__ = ["METHODS", "METHOD_INFO", "FLAT_RTOL", "MethodInfo", "Match", "Responses", "best_match", "check_methods",
           "opencv_methods", "score_map", "match_all", "match_many", "match_batch", "batch_size"]
