"""Peaks of a response map: local extrema thinned by non-maximum suppression."""

from __future__ import annotations

import numpy as np

from ._checks import check_positive_int
from ._errors import ParameterError
from ._methods import METHOD_INFO, Match, check_methods, score_map
from ._scan import local_maxima, ordered


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
