"""One-pass scans of a score map (numba), behind peak finding and the per-case measures.

A score map is float32, higher is better, with -inf at positions that are excluded. NumPy needs
a pass (and often a temporary) per question: a 3x3 maximum, a comparison, a finiteness test, a
nonzero, an argmax, a float64 sum, a sum of squares, a minimum. :func:`scan_map` answers them
all in one read, :func:`nms` thins the candidates without a Python loop, and :func:`ordered`
orders only the best part of them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTIONS = dict(cache=True, boundscheck=False, nogil=True, error_model="numpy")


# The reductions of a map run down its columns: column x keeps the count, float64 sum, sum of
# squares and minimum of its finite scores, its best score and the first row that has it. Each
# row updates every column at once: independent, unit-stride work the compiler turns into
# vector instructions (a running sum along a row waits for each add in turn). The columns are
# then combined left to right, so the order is fixed: every run and every machine gives the
# same sums.

@njit(**_OPTIONS)
def column_state(nx):  # pragma: no cover - compiled
    """Fresh column accumulators for a map `nx` wide: (count, sum, squares, low, high, first row)."""
    return (np.zeros(nx, np.int64), np.zeros(nx), np.zeros(nx), np.full(nx, np.inf),
            np.full(nx, np.float32(-np.inf)), np.zeros(nx, np.int64))


@njit(**_OPTIONS)
def add_row(row, y, count, total, squares, low, high, first):  # pragma: no cover - compiled
    """Fold row `y` of a score map (-inf where excluded) into the column accumulators."""
    for x in range(row.shape[0]):  # branch-free, unit stride: it vectorises
        v = row[x]
        finite = (v > -np.inf) & (v < np.inf)
        value = np.float64(v) if finite else 0.0
        count[x] += finite
        total[x] += value
        squares[x] += value * value
        low[x] = min(low[x], value if finite else np.inf)
        better = (v > high[x]) & (v < np.inf)
        high[x] = v if better else high[x]
        first[x] = y if better else first[x]


@njit(**_OPTIONS)
def add_row_best(row, y, high, first):  # pragma: no cover - compiled
    """:func:`add_row` for the best score and its first row only."""
    for x in range(row.shape[0]):
        v = row[x]
        better = (v > high[x]) & (v < np.inf)
        high[x] = v if better else high[x]
        first[x] = y if better else first[x]


@njit(**_OPTIONS)
def best_of(high, first):  # pragma: no cover - compiled
    """(row-major flat index of the first best finite score, or -1; that score as float64)."""
    nx = high.shape[0]
    best = np.float32(-np.inf)
    for x in range(nx):
        best = max(best, high[x])
    if not best > -np.inf:
        return -1, -np.inf
    index = -1
    for x in range(nx):
        if high[x] == best:
            flat = first[x] * nx + x
            if index < 0 or flat < index:
                index = flat
    return index, np.float64(best)


@njit(**_OPTIONS)
def finish(count, total, squares, low):  # pragma: no cover - compiled
    """(count, sum, sum of squares, minimum) of the finite scores: the columns left to right."""
    n = 0
    t = 0.0
    q = 0.0
    m = np.inf
    for x in range(count.shape[0]):
        n += count[x]
        t += total[x]
        q += squares[x]
        m = min(m, low[x])
    return n, t, q, m


@njit(**_OPTIONS)
def mark_maxima(above, row, below, low_bound, keep):  # pragma: no cover - compiled
    """keep[x]: row[x] is finite, >= low_bound and >= its 8 neighbours (the border replicated,
    so a position is its own missing neighbour); returns how many."""
    nx = row.shape[0]
    for x in range(1, nx - 1):  # branch-free with unit strides, so it vectorises
        v = row[x]
        keep[x] = ((v >= low_bound) & (v < np.inf) & (v >= above[x - 1]) & (v >= above[x]) & (v >= above[x + 1])
                   & (v >= row[x - 1]) & (v >= row[x + 1])
                   & (v >= below[x - 1]) & (v >= below[x]) & (v >= below[x + 1]))
    for x in (0, nx - 1):  # the two ends, with their missing neighbours replicated
        left = max(x - 1, 0)
        right = min(x + 1, nx - 1)
        v = row[x]
        keep[x] = ((v >= low_bound) & (v < np.inf) & (v >= above[left]) & (v >= above[x]) & (v >= above[right])
                   & (v >= row[left]) & (v >= row[right])
                   & (v >= below[left]) & (v >= below[x]) & (v >= below[right]))
    found = 0
    for x in range(nx):
        found += keep[x]
    return found


@njit(**_OPTIONS)
def scan_map(score, bound):  # pragma: no cover - compiled
    """One read of a score map answers what the per-case measures ask of it.

    Returns (best, count, total, total_sq, low, indices, values): the row-major flat index of
    the first best finite score (-1 if there is none); the count, float64 sum, sum of squares
    and minimum of the finite scores (each column's in row order, then the columns left to
    right: a fixed order); and the flat indices and scores of the local maxima: finite
    positions >= `bound` and >= every neighbour in their 3x3 window (the border replicated, so a
    position is its own missing neighbour).
    """
    ny, nx = score.shape
    keep = np.empty(nx, np.bool_)
    indices = np.empty(ny * nx, np.int64)  # untouched pages cost nothing; few are written
    scores = np.empty(ny * nx, np.float32)
    found = 0
    low_bound = np.float32(max(bound, -3.4e38))  # also drops -inf (excluded positions)
    count, total, squares, low, high, first = column_state(nx)
    for y in range(ny):
        row = score[y]
        add_row(row, y, count, total, squares, low, high, first)
        if mark_maxima(score[max(y - 1, 0)], row, score[min(y + 1, ny - 1)], low_bound, keep):
            for x in range(nx):
                if keep[x]:
                    indices[found] = y * nx + x
                    scores[found] = row[x]
                    found += 1
    best, _ = best_of(high, first)
    n, t, q, m = finish(count, total, squares, low)
    return best, n, t, q, m, indices[:found].copy(), scores[:found].copy()


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


@njit(**_OPTIONS)
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
    threshold = _kth_largest(values, needed)
    part = np.flatnonzero(values >= threshold if ties else values > threshold)
    return part[np.argsort(-values[part], kind="stable")]
