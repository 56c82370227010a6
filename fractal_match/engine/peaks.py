"""Peaks of a response map: local extrema thinned by non-maximum suppression."""

from __future__ import annotations

import numpy as np

from .._checks import check_positive_int
from .._errors import ParameterError
from ._methods import METHOD_INFO, Match, check_methods, score_map
from ._fused import local_maxima
from ._scan import nms, ordered


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
    bound = -np.inf
    if min_score is not None:
        bound = -min_score if METHOD_INFO[method].lower_is_better else min_score
    sign = -1.0 if METHOD_INFO[method].lower_is_better else 1.0
    score = score_map(response, method, degenerate, copy=False)
    return [Match(x, y, sign * value) for x, y, value in peaks_of_score(score, template_shape, k, bound, max_overlap)]


def peaks_of_score(score: np.ndarray, template_shape, k: int, bound: float | None = None,
                   max_overlap: float = 0.3) -> list[tuple[int, int, float]]:
    """(x, y, score) of up to k NMS peaks of a higher-is-better float32 map (-inf = excluded)."""
    indices, values = local_maxima(score, np.float32(-np.inf if bound is None else bound))
    return peaks_of_candidates(indices, values, score.shape[1], template_shape, k, max_overlap)


def peaks_of_candidates(indices, values, width: int, template_shape, k: int, max_overlap: float = 0.3,
                        floor: float = -np.inf) -> list[tuple[int, int, float]] | None:
    """(x, y, score) of up to k NMS peaks among local maxima (flat indices and scores, row-major).

    Greedy NMS runs on the best part of the candidates' order, then with its ties, then on 16x
    larger parts until k are kept or none is left. None when the candidates are only those >=
    `floor` of a map's (see :func:`._scan.ordered`) and the peaks need more of them."""
    h, w = template_shape[:2]
    needed = 64 * k
    while True:
        for ties in (False, True):
            order, trusted = ordered(values, needed, ties, floor)
            if not trusted:
                return None
            kept = order[nms(indices[order], values[order], width, h, w, k, max_overlap)]
            if len(kept) == k or len(order) == len(values):
                if len(kept) < k and floor > -np.inf:  # every kept candidate tried: the map has more
                    return None
                return [(int(i % width), int(i // width), float(v)) for i, v in zip(indices[kept], values[kept])]
        needed *= 16
