"""The compiled kernels behind :func:`fractal_match.engine.matching.match_many` (numba), and the
pieces :mod:`fractal_match.engine._measures` shares with them.

Every map but ``TM_CCORR`` is a function of the correlation and three window statistics of the
target (window sums per channel, window sum of squares). Those do not depend on the template,
so one sweep over the target makes them once and derives the maps of several same-size
templates from them while the row is still in cache. Per row a kernel

1. slides one row of column sums down the image (integer arithmetic for uint8 targets, float64
   otherwise: exact either way for integer-valued images),
2. turns them into window sums along the row,
3. makes the per-window terms every template shares: 1/sqrt of the energy and of the centred
   energy, and the degeneracy flags,
4. writes the five derived maps of every template with loops the compiler vectorises.

Sums and the centred energy are formed exactly (or in float64); only the final square roots,
products and clamps run in float32, whose 1e-7 relative error is far below the float32 rounding
of the correlation itself. The channel count is a constant inlined into one compiled kernel for
gray and one for colour. The kernels are serial and release the GIL: :func:`in_row_blocks` runs
row blocks on plain threads (a serial kernel compiles in 3.5 s, a ``parallel=True`` one took
8.4 s). The one-pass reduction of a score map (:func:`scan_map`) lives here too, with the
pieces the fused pass shares with it (the shift of its sums, the local-maximum test).

The helpers are inlined into the kernels that call them (``inline='always'``): numba then types
and compiles one function per kernel instead of one per helper and links them, which took a
first `match` with an empty cache from 7.0 s to 5.2 s (median of 5; :func:`local_maxima`, the
peaks' own small kernel instead of all of :func:`scan_map`, is part of that).
"""

from __future__ import annotations

import threading

import numpy as np
from numba import get_num_threads, njit


#: bit set in the flag map where a window has no energy (CCORR_NORMED, SQDIFF_NORMED undefined)
EMPTY = np.uint8(1)
#: bit set where a window has no contrast (CCOEFF_NORMED undefined)
FLAT = np.uint8(2)

#: derived maps in the order of the kernel's output axis
DERIVED = ("TM_SQDIFF", "TM_SQDIFF_NORMED", "TM_CCORR_NORMED", "TM_CCOEFF", "TM_CCOEFF_NORMED")

#: method index in the scan's (K, 6) arrays: the order of :data:`fractal_match.engine._methods.METHODS`
SQDIFF, SQDIFF_NORMED, CCORR, CCORR_NORMED, CCOEFF, CCOEFF_NORMED = range(6)

_OPTIONS = dict(cache=True, boundscheck=False, nogil=True, error_model="numpy")


@njit(inline='always', **_OPTIONS)
def _first_rows(image, first, h, zero, column_sum, column_sq, channels):  # pragma: no cover - compiled
    width = image.shape[1]
    for r in range(first, first + h):
        for c in range(channels):
            for j in range(width):
                v = zero + image[r, j, c]
                column_sum[c, j] += v
                column_sq[j] += v * v


@njit(inline='always', **_OPTIONS)
def _slide(image, i, h, zero, column_sum, column_sq, channels):  # pragma: no cover - compiled
    width = image.shape[1]
    for c in range(channels):
        for j in range(width):
            old = zero + image[i - 1, j, c]
            new = zero + image[i + h - 1, j, c]
            column_sum[c, j] += new - old
            column_sq[j] += new * new - old * old


@njit(inline='always', **_OPTIONS)
def _along_row(column_sum, column_sq, w, window_sum, window_sq, channels):  # pragma: no cover - compiled
    # One running sum per channel, kept in a local (a register): a running sum kept in an array
    # is stored and loaded again at every step.
    nx = window_sq.shape[0]
    for c in range(channels):
        s = column_sum[c, 0] - column_sum[c, 0]
        for j in range(w):
            s += column_sum[c, j]
        window_sum[c, 0] = s
        for j in range(nx - 1):
            s += column_sum[c, j + w] - column_sum[c, j]
            window_sum[c, j + 1] = s
    q = column_sq[0] - column_sq[0]
    for j in range(w):
        q += column_sq[j]
    window_sq[0] = q
    for j in range(nx - 1):
        q += column_sq[j + w] - column_sq[j]
        window_sq[j + 1] = q


@njit(inline='always', **_OPTIONS)
def _shared(window_sq, window_sum, inv_area, flat_rtol, energy, r_energy, r_centred, flag_row, channels):  # pragma: no cover
    """What every template shares at each window of a row (as in :func:`_derive`)."""
    one = np.float32(1.0)
    for j in range(energy.shape[0]):
        q = np.float64(window_sq[j])
        squares = 0.0
        for c in range(channels):
            s = np.float64(window_sum[c, j])
            squares += s * s
        centred = q - squares * inv_area
        empty = q <= 0.0
        flat = not centred > flat_rtol * q
        energy[j] = q
        r_energy[j] = one / np.sqrt(np.float32(max(q, 1e-30)))
        r_centred[j] = one / np.sqrt(np.float32(max(centred, 1e-30)))
        flag_row[j] = (EMPTY if empty else np.uint8(0)) | (FLAT if flat else np.uint8(0))


@njit(inline='always', **_OPTIONS)
def _mean_term(tmean_k, window_sum, mean_term, channels):  # pragma: no cover - compiled
    for j in range(mean_term.shape[0]):
        mean_term[j] = tmean_k[0] * window_sum[0, j]
    for c in range(1, channels):
        m = tmean_k[c]
        for j in range(mean_term.shape[0]):
            mean_term[j] += m * window_sum[c, j]


@njit(inline='always', **_OPTIONS)
def _derive(cc, image, h, w, tsq, tmean, tvar, flat_rtol, first, last, zero, out, flags, channels):  # pragma: no cover
    """Fill rows `first`:`last` of `out` (K, 5, ny, nx) float32 in :data:`DERIVED` order and of
    `flags` (ny, nx).

    cc: (K, ny, nx) float32 correlations of K same-size templates; image: (H, W, channels);
    h, w: template size; tsq (K,): sums of the templates' squares; tmean (K, channels): their
    channel means; tvar (K,): their centred energies; zero: 0 of the accumulation type (int64
    for uint8 images, else float64). The window sums slide down the block's rows (a block
    starts by summing `h` image rows): for whole maps this reads less than the integral images.
    """
    count, ny, nx = cc.shape
    width = image.shape[1]
    inv_area = 1.0 / (h * w)
    one = np.float32(1.0)
    minus_one = np.float32(-1.0)
    inv_t = np.zeros(count, np.float32)
    inv_v = np.zeros(count, np.float32)
    for k in range(count):
        if tsq[k] > 0.0:
            inv_t[k] = np.float32(1.0 / np.sqrt(tsq[k]))
        if tvar[k] > 0.0:
            inv_v[k] = np.float32(1.0 / np.sqrt(tvar[k]))
    column_sum = np.full((channels, width), zero)
    column_sq = np.full(width, zero)
    window_sum = np.empty((channels, nx), column_sum.dtype)
    window_sq = np.empty(nx, column_sum.dtype)
    energy = np.empty(nx)
    mean_term = np.empty(nx)
    r_energy = np.empty(nx, np.float32)
    r_centred = np.empty(nx, np.float32)
    _first_rows(image, first, h, zero, column_sum, column_sq, channels)
    for i in range(first, last):
        if i > first:
            _slide(image, i, h, zero, column_sum, column_sq, channels)
        _along_row(column_sum, column_sq, w, window_sum, window_sq, channels)
        flag_row = flags[i]
        _shared(window_sq, window_sum, inv_area, flat_rtol, energy, r_energy, r_centred, flag_row, channels)
        for k in range(count):
            _mean_term(tmean[k], window_sum, mean_term, channels)
            corr = cc[k, i]
            sqdiff, sqdiff_n, ccorr_n, ccoeff, ccoeff_n = out[k, 0, i], out[k, 1, i], out[k, 2, i], out[k, 3, i], out[k, 4, i]
            t_inv, v_inv, t_sq = inv_t[k], inv_v[k], tsq[k]
            # three loops of few arrays each, rather than one over eleven: the compiler checks
            # that arrays do not overlap before it vectorises a loop, and gives up on many
            for j in range(nx):
                diff = max(energy[j] - 2.0 * np.float64(corr[j]) + t_sq, 0.0)
                sqdiff[j] = diff
                sqdiff_n[j] = one if flag_row[j] & EMPTY else min(np.float32(diff) * (r_energy[j] * t_inv), one)
            for j in range(nx):
                ccorr_n[j] = minus_one if flag_row[j] & EMPTY else min(max(corr[j] * (r_energy[j] * t_inv), minus_one), one)
            for j in range(nx):
                numerator = np.float64(corr[j]) - mean_term[j]
                ccoeff[j] = numerator
                value = np.float32(numerator) * (r_centred[j] * v_inv)
                ccoeff_n[j] = minus_one if flag_row[j] & FLAT else min(max(value, minus_one), one)


@njit(**_OPTIONS)
def derive_gray(cc, image, h, w, tsq, tmean, tvar, flat_rtol, first, last, zero, out, flags):  # pragma: no cover
    """:func:`_derive` for (H, W, 1) targets (the channel loops unroll to one step)."""
    _derive(cc, image, h, w, tsq, tmean, tvar, flat_rtol, first, last, zero, out, flags, 1)


@njit(**_OPTIONS)
def derive_colour(cc, image, h, w, tsq, tmean, tvar, flat_rtol, first, last, zero, out, flags):  # pragma: no cover
    """:func:`_derive` for (H, W, 3) targets."""
    _derive(cc, image, h, w, tsq, tmean, tvar, flat_rtol, first, last, zero, out, flags, 3)


_POOL = None
_POOL_LOCK = threading.Lock()


def in_row_blocks(kernel, ny: int, h: int, head: tuple, tail: tuple) -> None:
    """Run `kernel(*head, first, last, *tail)` over blocks of the `ny` output rows on numba's
    thread count: the kernels release the GIL, so plain threads run them in parallel."""
    global _POOL
    from concurrent.futures import ThreadPoolExecutor

    blocks = row_blocks(ny, h)
    if blocks == 1:
        kernel(*head, 0, ny, *tail)
        return
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < blocks:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(max_workers=blocks, thread_name_prefix="fractal-match-derive")
        pool = _POOL
    spans = [(b * ny // blocks, (b + 1) * ny // blocks) for b in range(blocks)]
    for future in [pool.submit(kernel, *head, first, last, *tail) for first, last in spans]:
        future.result()


def row_blocks(ny: int, h: int) -> int:
    """Row blocks for :func:`in_row_blocks`: one per thread, fewer when a block's `h` starting rows
    would cost more than a quarter of its own."""
    threads = get_num_threads()
    return max(1, min(ny, threads, max(1, ny // (4 * h))))


# --- reductions of a score map (the map path's scan_map; the fused pass in _measures.py takes its
# sums with add_sums and column_totals and shares shift_of and mark_maxima)

# The reductions of a map run down its columns: column x keeps the float64 sum, sum of squares
# and minimum of its finite scores, its best score and the first row that has it (the count of
# finite scores is an integer, the same in any order). Each
# row updates every column at once: independent, unit-stride work the compiler turns into
# vector instructions (a running sum along a row waits for each add in turn). The columns are
# then combined left to right, so the order is fixed: every run and every machine gives the
# same sums.

@njit(inline='always', **_OPTIONS)
def column_state(nx):  # pragma: no cover - compiled
    """Fresh column accumulators for a map `nx` wide: (sum, squares, low, high, first row)."""
    return (np.zeros(nx), np.zeros(nx), np.full(nx, np.inf), np.full(nx, np.float32(-np.inf)),
            np.zeros(nx, np.int64))


@njit(inline='always', **_OPTIONS)
def shift_of(row):  # pragma: no cover - compiled
    """The value the sums are taken about: the first finite score of a map's first row (0 if it
    has none). Sums of (score - shift) lose no digits to a large common offset, so the
    sidelobe variance of a nearly constant map (a saturated TM_SQDIFF_NORMED, say) is exact
    rather than the difference of two nearly equal sums."""
    for x in range(row.shape[0]):
        v = row[x]
        if (v > -np.inf) & (v < np.inf):
            return np.float64(v)
    return 0.0


@njit(inline='always', **_OPTIONS)
def add_sums(row, shift, total, squares):  # pragma: no cover - compiled
    """Fold a row's finite scores (-inf where excluded) into the column sums of (score - shift)
    and of their squares; returns how many were finite. The map path (:func:`scan_map`) and the
    fused pass (``_measures._scan``) both take their sums here, so that they, and the PSR made
    from them, are the same to the last bit."""
    found = 0
    for x in range(row.shape[0]):  # branch-free, unit stride: it vectorises
        v = row[x]
        finite = (v > -np.inf) & (v < np.inf)
        value = np.float64(v) - shift if finite else 0.0
        found += finite
        total[x] += value
        squares[x] += value * value
    return found


@njit(inline='always', **_OPTIONS)
def add_row(row, y, shift, total, squares, low, high, first):  # pragma: no cover - compiled
    """Fold row `y` of a score map (-inf where excluded) into the column accumulators: the sums
    (:func:`add_sums`), minimum score, best score and its first row; returns how many scores
    of the row were finite."""
    found = add_sums(row, shift, total, squares)
    for x in range(row.shape[0]):
        v = row[x]
        finite = (v > -np.inf) & (v < np.inf)
        low[x] = min(low[x], np.float64(v) if finite else np.inf)
        better = (v > high[x]) & (v < np.inf)
        high[x] = v if better else high[x]
        first[x] = y if better else first[x]
    return found


@njit(inline='always', **_OPTIONS)
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


@njit(inline='always', **_OPTIONS)
def column_totals(total, squares):  # pragma: no cover - compiled
    """(sum, sum of squares) of the column sums, the columns left to right: a fixed order."""
    t = 0.0
    q = 0.0
    for x in range(total.shape[0]):
        t += total[x]
        q += squares[x]
    return t, q


@njit(inline='always', **_OPTIONS)
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


@njit(inline='always', **_OPTIONS)
def maxima_of_row(score, y, low_bound, keep, indices, scores, found):  # pragma: no cover - compiled
    """Append the local maxima of row `y` of `score` (:func:`mark_maxima`) to `indices` and
    `scores` from position `found`; returns the new count."""
    ny, nx = score.shape
    row = score[y]
    if mark_maxima(score[max(y - 1, 0)], row, score[min(y + 1, ny - 1)], low_bound, keep):
        for x in range(nx):
            if keep[x]:
                indices[found] = y * nx + x
                scores[found] = row[x]
                found += 1
    return found


@njit(**_OPTIONS)
def local_maxima(score, bound):  # pragma: no cover - compiled
    """The flat indices and scores of :func:`scan_map`'s local maxima alone (what peaks need):
    a kernel a fraction of scan_map's size, so a first `match` compiles less."""
    ny, nx = score.shape
    keep = np.empty(nx, np.bool_)
    indices = np.empty(ny * nx, np.int64)
    scores = np.empty(ny * nx, np.float32)
    found = 0
    low_bound = np.float32(max(bound, -3.4e38))
    for y in range(ny):
        found = maxima_of_row(score, y, low_bound, keep, indices, scores, found)
    return indices[:found].copy(), scores[:found].copy()


@njit(**_OPTIONS)
def scan_map(score, bound):  # pragma: no cover - compiled
    """One read of a score map answers what the per-case measures ask of it.

    Returns (best, shift, count, total, total_sq, low, indices, values): the row-major flat index
    of the first best finite score (-1 if there is none); the :func:`shift_of` the map; the count
    of the finite scores, the float64 sum and sum of squares of (score - shift) over them (each
    column's in row order, then the columns left to right: a fixed order), their minimum; and the flat indices and scores of the local maxima: finite
    positions >= `bound` and >= every neighbour in their 3x3 window (the border replicated, so a
    position is its own missing neighbour).
    """
    ny, nx = score.shape
    keep = np.empty(nx, np.bool_)
    indices = np.empty(ny * nx, np.int64)  # untouched pages cost nothing; few are written
    scores = np.empty(ny * nx, np.float32)
    found = 0
    low_bound = np.float32(max(bound, -3.4e38))  # also drops -inf (excluded positions)
    total, squares, low, high, first = column_state(nx)
    shift = shift_of(score[0])
    n = 0
    for y in range(ny):
        n += add_row(score[y], y, shift, total, squares, low, high, first)
        found = maxima_of_row(score, y, low_bound, keep, indices, scores, found)
    best, _ = best_of(high, first)
    t, q = column_totals(total, squares)
    m = np.inf
    for x in range(nx):
        m = min(m, low[x])
    return best, shift, n, t, q, m, indices[:found].copy(), scores[:found].copy()


