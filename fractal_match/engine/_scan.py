"""Peak candidates of a score map (numba): :func:`nms` thins them without a Python loop,
:func:`ordered` orders only the best part of them, :func:`best_outside` answers the margin's
question on a map. The one-pass reduction of a map, :func:`fractal_match.engine._fused.scan_map`,
lives beside the kernels that share its pieces.

A score map is float32, higher is better, with -inf at positions that are excluded.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTIONS = dict(cache=True, boundscheck=False, nogil=True, error_model="numpy")


@njit(**_OPTIONS)
def nms(indices, values, width, h, w, k, max_overlap):  # pragma: no cover - compiled
    """Greedy non-maximum suppression over candidates given best first: a candidate is kept when
    its template-sized box overlaps no kept one with IoU > `max_overlap`; at most `k` are kept.
    Returns the positions (into `indices`) of the kept candidates."""
    kept = np.empty(k, np.int64)
    xs = np.empty(k, np.int64)
    ys = np.empty(k, np.int64)
    n = 0
    area = 2.0 * w * h
    for i in range(indices.shape[0]):
        y, x = divmod(indices[i], width)
        free = True
        for j in range(n):
            # equal-size boxes offset by (dx, dy): IoU = a / (2 w h - a), a = (w-|dx|)(h-|dy|)
            a = max(w - abs(x - xs[j]), 0) * max(h - abs(y - ys[j]), 0)
            if a / (area - a) > max_overlap:
                free = False
                break
        if free:
            kept[n], xs[n], ys[n] = i, x, y
            n += 1
            if n == k:
                break
    return kept[:n]


@njit(**_OPTIONS)
def best_outside(score, top, left, region):  # pragma: no cover - compiled
    """The best finite score outside `region`, a bool map placed with its corner at (`top`,
    `left`); -inf if there is none."""
    ny, nx = score.shape
    rh, rw = region.shape
    best = -np.inf
    for y in range(ny):
        for x in range(nx):
            v = score[y, x]
            if not np.isfinite(v):
                continue
            if top <= y < top + rh and left <= x < left + rw and region[y - top, x - left]:
                continue
            best = max(best, np.float64(v))
    return best


@njit(**_OPTIONS)
def _kth_largest(values, k):  # pragma: no cover - compiled
    """The k-th largest value (counting repeats), 1 <= k <= len(values): a min-heap of the k
    largest so far. Few values beat the heap's top once it is full, so this is about one
    comparison per value, with no copy of `values`."""
    heap = values[:k].copy()
    for start in range(k // 2 - 1, -1, -1):
        _sift_down(heap, start)
    for i in range(k, values.shape[0]):
        if values[i] > heap[0]:
            heap[0] = values[i]
            _sift_down(heap, 0)
    return heap[0]


@njit(inline='always', **_OPTIONS)
def _sift_down(heap, i):  # pragma: no cover - compiled
    n = heap.shape[0]
    while True:
        smallest = i
        left = 2 * i + 1
        if left < n and heap[left] < heap[smallest]:
            smallest = left
        if left + 1 < n and heap[left + 1] < heap[smallest]:
            smallest = left + 1
        if smallest == i:
            return
        heap[i], heap[smallest] = heap[smallest], heap[i]
        i = smallest


def ordered(values: np.ndarray, needed: int, ties: bool = True, floor: float = -np.inf) -> tuple[np.ndarray, bool]:
    """Positions into `values` (given in row-major order) best first, ties in row-major order:
    the order greedy NMS takes them in; and whether that order can be trusted.

    With more than `needed` candidates only a best part is ordered: every value above the
    `needed`-th best, and (with `ties`) every value equal to it, after them in row-major order
    (a plateau of 600,000 tied values is not sorted). Either way the part is cut at a value
    boundary, so it is a true prefix of the full order; the caller asks for more when the part
    runs out. Leaving the ties out keeps a large plateau of equal values (a saturated
    SQDIFF_NORMED map) from being taken when the peaks above it suffice.

    `floor` > -inf: the candidates are every one >= floor of a larger set (and maybe some below
    it). A part is then a prefix of that set's order only when its cut is at or above the floor,
    and all of them only when none is below it (else the second value is False).
    """
    if len(values) <= needed:  # all of them: a prefix of the larger set's order if none is below the floor
        trusted = not floor > -np.inf or (len(values) > 0 and bool(values.min() >= floor))
        return np.argsort(-values, kind="stable"), trusted
    threshold = _kth_largest(values, needed)
    above = np.flatnonzero(values > threshold)  # fewer than `needed`
    order = above[np.argsort(-values[above], kind="stable")]
    if ties:
        order = np.concatenate((order, np.flatnonzero(values == threshold)))
    return order, bool(threshold >= floor)
