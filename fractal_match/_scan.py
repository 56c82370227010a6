"""One-pass scans of a score map (numba), behind peak finding and the per-case measures.

A score map is float32, higher is better, with -inf at positions that are excluded. NumPy needs
a pass (and often a temporary) per question: a 3x3 maximum, a comparison, a finiteness test, a
nonzero, a float64 sum, a sum of squares, a minimum. Each kernel here answers its questions in
one read of the map.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTIONS = dict(cache=True, boundscheck=False, nogil=True, error_model="numpy")


@njit(**_OPTIONS)
def local_maxima(score, bound):  # pragma: no cover - compiled
    """Row-major flat indices and values of the finite positions that are >= every neighbour in
    their 3x3 window (the border replicated, so a position is its own missing neighbour) and
    >= `bound`."""
    ny, nx = score.shape
    indices = np.empty(ny * nx, np.int64)  # untouched pages cost nothing; few are written
    keep = np.empty(nx, np.bool_)
    count = 0
    low = np.float32(max(bound, -3.4e38))  # also drops -inf (excluded positions)
    for y in range(ny):
        above = score[max(y - 1, 0)]
        row = score[y]
        below = score[min(y + 1, ny - 1)]
        for x in range(1, nx - 1):  # branch-free with unit strides, so it vectorises
            v = row[x]
            keep[x] = ((v >= low) & (v >= above[x - 1]) & (v >= above[x]) & (v >= above[x + 1])
                       & (v >= row[x - 1]) & (v >= row[x + 1])
                       & (v >= below[x - 1]) & (v >= below[x]) & (v >= below[x + 1]))
        for x in (0, nx - 1):  # the two ends, with their missing neighbours replicated
            left = max(x - 1, 0)
            right = min(x + 1, nx - 1)
            v = row[x]
            keep[x] = ((v >= low) & (v >= above[left]) & (v >= above[x]) & (v >= above[right])
                       & (v >= row[left]) & (v >= row[right])
                       & (v >= below[left]) & (v >= below[x]) & (v >= below[right]))
        for x in range(nx):
            if keep[x]:
                indices[count] = y * nx + x
                count += 1
    found = indices[:count].copy()
    return found, score.ravel()[found]


@njit(**_OPTIONS)
def finite_stats(score):  # pragma: no cover - compiled
    """(count, sum, sum of squares, minimum) of the finite values, accumulated in float64."""
    count = 0
    total = 0.0
    total_sq = 0.0
    low = np.inf
    for v in score.ravel():
        if np.isfinite(v):
            x = np.float64(v)
            count += 1
            total += x
            total_sq += x * x
            low = min(low, x)
    return count, total, total_sq, low


def ordered(values: np.ndarray, needed: int, ties: bool = True) -> np.ndarray:
    """Positions into `values` (given in row-major order) best first, ties in row-major order:
    the order greedy NMS takes them in.

    With more than `needed` candidates only a best part is ordered: every value above the
    `needed`-th best, and (with `ties`) every value equal to it. Either way the part is cut at a
    value boundary, so it is a true prefix of the full order; the caller asks for more when the
    part runs out. Leaving the ties out keeps a large plateau of equal values (a saturated
    SQDIFF_NORMED map) from being sorted when the peaks above it suffice.
    """
    if len(values) <= needed:
        return np.argsort(-values, kind="stable")
    threshold = np.partition(values, len(values) - needed)[len(values) - needed]
    part = np.flatnonzero(values >= threshold if ties else values > threshold)
    return part[np.argsort(-values[part], kind="stable")]
