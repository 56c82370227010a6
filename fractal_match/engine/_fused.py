"""The fused kernel behind :func:`fractal_match.engine.matching.match_many` (numba).

Every derived map is a function of the correlation and three window statistics of the target
(window sums per channel, window sum of squares). Those statistics do not depend on the
template, so one sweep over the target makes them once and derives the maps of several
same-size templates from them while the row is still in cache.

Each thread owns a block of output rows (:func:`in_row_blocks`). Per row it

1. slides one row of column sums down the image (integer arithmetic for uint8 targets, float64
   otherwise: exact either way for integer-valued images, like OpenCV's integral images),
2. turns them into window sums along the row,
3. makes the per-window terms every template shares: 1/sqrt of the energy and of the centred
   energy, and the degeneracy flags,
4. writes the five derived maps of every template with straight-line loops the compiler
   vectorises.

Sums and the centred energy are formed exactly (or in float64); only the final square roots,
products and clamps run in float32, whose 1e-7 relative error is far below the float32 rounding
of the correlation itself. The channel count is a constant inlined into one compiled kernel for
gray and one for colour, so the per-channel loops unroll and the row loops vectorise.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit

#: bit set in the flag map where a window has no energy (CCORR_NORMED, SQDIFF_NORMED undefined)
EMPTY = np.uint8(1)
#: bit set where a window has no contrast (CCOEFF_NORMED undefined)
FLAT = np.uint8(2)

#: derived maps in the order of the kernel's output axis
DERIVED = ("TM_SQDIFF", "TM_SQDIFF_NORMED", "TM_CCORR_NORMED", "TM_CCOEFF", "TM_CCOEFF_NORMED")

_OPTIONS = dict(cache=True, boundscheck=False, nogil=True, error_model="numpy")


@njit(**_OPTIONS)
def _first_rows(image, first, h, zero, column_sum, column_sq, channels):  # pragma: no cover - compiled
    width = image.shape[1]
    for r in range(first, first + h):
        for c in range(channels):
            for j in range(width):
                v = zero + image[r, j, c]
                column_sum[c, j] += v
                column_sq[j] += v * v


@njit(**_OPTIONS)
def _slide(image, i, h, zero, column_sum, column_sq, channels):  # pragma: no cover - compiled
    width = image.shape[1]
    for c in range(channels):
        for j in range(width):
            old = zero + image[i - 1, j, c]
            new = zero + image[i + h - 1, j, c]
            column_sum[c, j] += new - old
            column_sq[j] += new * new - old * old


@njit(**_OPTIONS)
def _along_row(column_sum, column_sq, w, window_sum, window_sq, sums, channels):  # pragma: no cover - compiled
    # All running sums in one loop: independent chains the CPU overlaps.
    nx = window_sq.shape[0]
    sums[:] = 0  # `sums`: one running sum per channel, a buffer of the caller's
    q = column_sq[0] - column_sq[0]
    for j in range(w):
        for c in range(channels):
            sums[c] += column_sum[c, j]
        q += column_sq[j]
    for c in range(channels):
        window_sum[c, 0] = sums[c]
    window_sq[0] = q
    for j in range(nx - 1):
        for c in range(channels):
            sums[c] += column_sum[c, j + w] - column_sum[c, j]
            window_sum[c, j + 1] = sums[c]
        q += column_sq[j + w] - column_sq[j]
        window_sq[j + 1] = q


@njit(**_OPTIONS)
def _derive(cc, image, h, w, tsq, tmean, tvar, flat_rtol, first, last, zero, out, flags, channels):  # pragma: no cover
    """Fill rows `first`:`last` of `out` (K, 5, ny, nx) float32 in :data:`DERIVED` order and of
    `flags` (ny, nx).

    cc: (K, ny, nx) float32 correlations of K same-size templates; image: (H, W, channels);
    h, w: template size; tsq (K,): sums of the templates' squares; tmean (K, channels):
    their channel means; tvar (K,): their centred energies; zero: 0 of the accumulation type
    (int64 for uint8 images, else float64).
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
    sums = np.empty(channels, column_sum.dtype)
    energy = np.empty(nx)
    mean_term = np.empty(nx)
    r_energy = np.empty(nx, np.float32)
    r_centred = np.empty(nx, np.float32)
    _first_rows(image, first, h, zero, column_sum, column_sq, channels)
    for i in range(first, last):
        if i > first:
            _slide(image, i, h, zero, column_sum, column_sq, channels)
        _along_row(column_sum, column_sq, w, window_sum, window_sq, sums, channels)
        flag_row = flags[i]
        _shared(window_sq, window_sum, inv_area, flat_rtol, energy, r_energy, r_centred, flag_row, channels)
        for k in range(count):
            _mean_term(tmean[k], window_sum, mean_term, channels)
            corr = cc[k, i]
            sqdiff, sqdiff_n, ccorr_n, ccoeff, ccoeff_n = out[k, 0, i], out[k, 1, i], out[k, 2, i], out[k, 3, i], out[k, 4, i]
            t_inv, v_inv, t_sq = inv_t[k], inv_v[k], tsq[k]
            for j in range(nx):
                c64 = np.float64(corr[j])
                diff = max(energy[j] - 2.0 * c64 + t_sq, 0.0)
                numerator = c64 - mean_term[j]
                r = r_energy[j] * t_inv
                f = flag_row[j]
                sqdiff[j] = diff
                ccoeff[j] = numerator
                sqdiff_n[j] = one if f & EMPTY else min(np.float32(diff) * r, one)
                ccorr_n[j] = minus_one if f & EMPTY else min(max(corr[j] * r, minus_one), one)
                value = np.float32(numerator) * (r_centred[j] * v_inv)
                ccoeff_n[j] = minus_one if f & FLAT else min(max(value, minus_one), one)


@njit(**_OPTIONS)
def derive_gray(cc, image, h, w, tsq, tmean, tvar, flat_rtol, first, last, zero, out, flags):  # pragma: no cover
    """:func:`_derive` for (H, W, 1) targets (the channel loops unroll to one step)."""
    _derive(cc, image, h, w, tsq, tmean, tvar, flat_rtol, first, last, zero, out, flags, 1)


@njit(**_OPTIONS)
def derive_colour(cc, image, h, w, tsq, tmean, tvar, flat_rtol, first, last, zero, out, flags):  # pragma: no cover
    """:func:`_derive` for (H, W, 3) targets."""
    _derive(cc, image, h, w, tsq, tmean, tvar, flat_rtol, first, last, zero, out, flags, 3)


_POOL = None


def in_row_blocks(kernel, ny: int, h: int, head: tuple, tail: tuple) -> None:
    """Run `kernel(*head, first, last, *tail)` over row blocks of the `ny` output rows,
    on numba's thread count: the kernels release the GIL, so plain threads run them in parallel
    (and a serial kernel compiles in a fraction of a parallel one's time)."""
    global _POOL
    from concurrent.futures import ThreadPoolExecutor

    blocks = row_blocks(ny, h)
    if blocks == 1:
        kernel(*head, 0, ny, *tail)
        return
    threads = get_num_threads()
    if _POOL is None or _POOL._max_workers < threads:
        _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fractal-match-derive")
    spans = [(b * ny // blocks, (b + 1) * ny // blocks) for b in range(blocks)]
    for future in [_POOL.submit(kernel, *head, first, last, *tail) for first, last in spans]:
        future.result()


def row_blocks(ny: int, h: int) -> int:
    """How many row blocks to split `ny` output rows into.

    Each block starts by summing `h` image rows, so blocks are kept few enough that this costs
    at most about a quarter of the block's own rows; at least one per thread, at most four.
    """
    threads = get_num_threads()
    return max(1, min(ny, max(threads, min(4 * threads, ny // (4 * h)))))


# --- measures without maps ------------------------------------------------------------------------
#
# A case needs, per method, the best position, the peak candidates and a few sums; not the map.
# :func:`scan_gray` / :func:`scan_colour` make each method's score row by row (higher is better,
# -inf where undefined: the map :func:`fractal_match.engine._methods.score_map` would give) from
# the correlation and the window statistics, and consume it at once. The arithmetic is
# :func:`_derive`'s, term for term, so the scores are the same float32 values.

#: method index in the scan's (K, 6) arrays: the order of :data:`fractal_match.engine._methods.METHODS`
SQDIFF, SQDIFF_NORMED, CCORR, CCORR_NORMED, CCOEFF, CCOEFF_NORMED = range(6)


@njit(**_OPTIONS)
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


@njit(**_OPTIONS)
def _mean_term(tmean_k, window_sum, mean_term, channels):  # pragma: no cover - compiled
    for j in range(mean_term.shape[0]):
        mean_term[j] = tmean_k[0] * window_sum[0, j]
    for c in range(1, channels):
        m = tmean_k[c]
        for j in range(mean_term.shape[0]):
            mean_term[j] += m * window_sum[c, j]


@njit(**_OPTIONS)
def _score_row(method, corr, energy, mean_term, r_energy, r_centred, flag_row, t_sq, t_inv, v_inv, out):  # pragma: no cover
    """One method's score row: SQDIFF methods negated, undefined windows -inf."""
    one = np.float32(1.0)
    minus_one = np.float32(-1.0)
    low = np.float32(-np.inf)
    n = out.shape[0]
    if method == SQDIFF:
        for j in range(n):
            out[j] = -np.float32(max(energy[j] - 2.0 * np.float64(corr[j]) + t_sq, 0.0))
    elif method == SQDIFF_NORMED:
        for j in range(n):
            diff = max(energy[j] - 2.0 * np.float64(corr[j]) + t_sq, 0.0)
            value = -min(np.float32(diff) * (r_energy[j] * t_inv), one)
            out[j] = low if flag_row[j] & EMPTY else value
    elif method == CCORR:
        for j in range(n):
            out[j] = corr[j]
    elif method == CCORR_NORMED:
        for j in range(n):
            value = min(max(corr[j] * (r_energy[j] * t_inv), minus_one), one)
            out[j] = low if flag_row[j] & EMPTY else value
    elif method == CCOEFF:
        for j in range(n):
            out[j] = np.float32(np.float64(corr[j]) - mean_term[j])
    else:
        for j in range(n):
            value = np.float32(np.float64(corr[j]) - mean_term[j]) * (r_centred[j] * v_inv)
            out[j] = low if flag_row[j] & FLAT else min(max(value, minus_one), one)


@njit(**_OPTIONS)
def _mark_maxima(above, row, below, low_bound, keep):  # pragma: no cover - compiled
    """keep[x]: row[x] is finite, >= low_bound and >= its 8 neighbours (border replicated), as in
    :func:`fractal_match.engine._scan.scan_map`; returns how many."""
    nx = row.shape[0]
    for x in range(1, nx - 1):
        v = row[x]
        keep[x] = ((v >= low_bound) & (v >= above[x - 1]) & (v >= above[x]) & (v >= above[x + 1])
                   & (v >= row[x - 1]) & (v >= row[x + 1])
                   & (v >= below[x - 1]) & (v >= below[x]) & (v >= below[x + 1]))
    for x in (0, nx - 1):
        left = max(x - 1, 0)
        right = min(x + 1, nx - 1)
        v = row[x]
        keep[x] = ((v >= low_bound) & (v >= above[left]) & (v >= above[x]) & (v >= above[right])
                   & (v >= row[left]) & (v >= row[right])
                   & (v >= below[left]) & (v >= below[x]) & (v >= below[right]))
    found = 0
    for x in range(nx):
        found += keep[x]
    return found


@njit(**_OPTIONS)
def _scan(cc, image, h, w, tsq, tmean, tvar, flat_rtol, zero, wanted, full, region, top, left,
          q_map, sum_map, channels):  # pragma: no cover - compiled
    """Score every wanted (template k, method m) row by row and keep only what the measures need.

    wanted (K, 6): which maps to score; full (K,): also find local maxima and the hit-region
    statistics (else only the best position). region (rh, rw) bool: the hit region's mask, its
    corner at map position (top, left). q_map (ny, nx) and sum_map (channels, ny, nx), float64:
    filled with the window statistics so that a few scores can be made again later
    (:func:`_window_scores`).

    Returns per (k, m): best flat index (-1 if no finite score), best score, count, float64 sum
    and sum of squares of the finite scores (per-row partial sums in row order, as
    :func:`~fractal_match.engine._scan.scan_map`), their minimum, the best finite score inside
    the hit region, how many finite scores it holds, the best finite score outside it; the
    numbers of windows with no energy and with no contrast; and the local maxima (flat index,
    score, owner k * 6 + m), each owner's in row-major order.
    """
    count_k, ny, nx = cc.shape
    width = image.shape[1]
    inv_area = 1.0 / (h * w)
    inv_t = np.zeros(count_k, np.float32)
    inv_v = np.zeros(count_k, np.float32)
    for k in range(count_k):
        if tsq[k] > 0.0:
            inv_t[k] = np.float32(1.0 / np.sqrt(tsq[k]))
        if tvar[k] > 0.0:
            inv_v[k] = np.float32(1.0 / np.sqrt(tvar[k]))
    need_mean = np.zeros(count_k, np.bool_)
    for k in range(count_k):
        need_mean[k] = wanted[k, CCOEFF] or wanted[k, CCOEFF_NORMED]
    column_sum = np.full((channels, width), zero)
    column_sq = np.full(width, zero)
    window_sum = np.empty((channels, nx), column_sum.dtype)
    window_sq = np.empty(nx, column_sum.dtype)
    sums = np.empty(channels, column_sum.dtype)
    energy = np.empty(nx)
    mean_term = np.empty(nx)
    r_energy = np.empty(nx, np.float32)
    r_centred = np.empty(nx, np.float32)
    flag_row = np.empty(nx, np.uint8)
    rows = np.empty((count_k, 6, 3, nx), np.float32)  # the last three score rows of each map
    keep = np.empty(nx, np.bool_)
    best = np.full((count_k, 6), -1, np.int64)
    best_value = np.full((count_k, 6), -np.inf)
    count = np.zeros((count_k, 6), np.int64)
    total = np.zeros((count_k, 6))
    total_sq = np.zeros((count_k, 6))
    low = np.full((count_k, 6), np.inf)
    inside = np.full((count_k, 6), -np.inf)
    inside_count = np.zeros((count_k, 6), np.int64)
    outside = np.full((count_k, 6), -np.inf)
    capacity = max(1024, 4 * nx)
    found_index = np.empty(capacity, np.int64)
    found_score = np.empty(capacity, np.float32)
    found_owner = np.empty(capacity, np.int64)
    found = 0
    empties = 0
    flats = 0
    low_bound = np.float32(-3.4e38)  # drops -inf (undefined windows)
    rh, rw = region.shape
    _first_rows(image, 0, h, zero, column_sum, column_sq, channels)
    for i in range(ny + 1):
        if i < ny:
            if i > 0:
                _slide(image, i, h, zero, column_sum, column_sq, channels)
            _along_row(column_sum, column_sq, w, window_sum, window_sq, sums, channels)
            _shared(window_sq, window_sum, inv_area, flat_rtol, energy, r_energy, r_centred, flag_row, channels)
            for j in range(nx):
                q_map[i, j] = energy[j]
                empties += (flag_row[j] & EMPTY) != 0
                flats += (flag_row[j] & FLAT) != 0
            for c in range(channels):
                for j in range(nx):
                    sum_map[c, i, j] = window_sum[c, j]
        for k in range(count_k):
            if i < ny and need_mean[k]:
                _mean_term(tmean[k], window_sum, mean_term, channels)
            for m in range(6):
                if not wanted[k, m]:
                    continue
                if i < ny:
                    row = rows[k, m, i % 3]
                    _score_row(m, cc[k, i], energy, mean_term, r_energy, r_centred, flag_row, tsq[k], inv_t[k], inv_v[k], row)
                    row_count = 0
                    row_total = 0.0
                    row_sq = 0.0
                    row_low = np.inf
                    row_high = np.float32(-np.inf)
                    for x in range(nx):  # branch-free, as _scan._row_stats
                        v = row[x]
                        finite = (v > -np.inf) & (v < np.inf)
                        value = np.float64(v) if finite else 0.0
                        row_count += finite
                        row_total += value
                        row_sq += value * value
                        row_low = min(row_low, value if finite else np.inf)
                        row_high = max(row_high, v if finite else np.float32(-np.inf))
                    if row_high > best_value[k, m]:
                        best_value[k, m] = row_high
                        for x in range(nx):
                            if row[x] == row_high:
                                best[k, m] = i * nx + x
                                break
                    if not full[k]:
                        continue
                    count[k, m] += row_count
                    total[k, m] += row_total
                    total_sq[k, m] += row_sq
                    low[k, m] = min(low[k, m], row_low)
                    if top <= i < top + rh:
                        for jj in range(rw):
                            v = row[left + jj]
                            if region[i - top, jj] and v > -np.inf:
                                inside[k, m] = max(inside[k, m], np.float64(v))
                                inside_count[k, m] += 1
                        for x in range(nx):
                            v = row[x]
                            if left <= x < left + rw and region[i - top, x - left]:
                                continue
                            if v > -np.inf:
                                outside[k, m] = max(outside[k, m], np.float64(v))
                    else:
                        outside[k, m] = max(outside[k, m], np.float64(row_high))
                if not full[k] or i == 0:
                    continue
                y = i - 1  # its rows above and below are made: find its local maxima
                above = rows[k, m, max(y - 1, 0) % 3]
                middle = rows[k, m, y % 3]
                below = rows[k, m, min(y + 1, ny - 1) % 3]
                kept = _mark_maxima(above, middle, below, low_bound, keep)
                if found + kept > capacity:
                    capacity = max(2 * capacity, found + kept)
                    grown_index = np.empty(capacity, np.int64)
                    grown_score = np.empty(capacity, np.float32)
                    grown_owner = np.empty(capacity, np.int64)
                    grown_index[:found] = found_index[:found]
                    grown_score[:found] = found_score[:found]
                    grown_owner[:found] = found_owner[:found]
                    found_index, found_score, found_owner = grown_index, grown_score, grown_owner
                for x in range(nx):
                    if keep[x]:
                        found_index[found] = y * nx + x
                        found_score[found] = middle[x]
                        found_owner[found] = k * 6 + m
                        found += 1
    return (best, best_value, count, total, total_sq, low, inside, inside_count, outside, empties, flats,
            found_index[:found].copy(), found_score[:found].copy(), found_owner[:found].copy())


@njit(**_OPTIONS)
def scan_gray(cc, image, h, w, tsq, tmean, tvar, flat_rtol, zero, wanted, full, region, top, left, q_map, sum_map):  # pragma: no cover
    """:func:`_scan` for (H, W, 1) targets."""
    return _scan(cc, image, h, w, tsq, tmean, tvar, flat_rtol, zero, wanted, full, region, top, left, q_map, sum_map, 1)


@njit(**_OPTIONS)
def scan_colour(cc, image, h, w, tsq, tmean, tvar, flat_rtol, zero, wanted, full, region, top, left, q_map, sum_map):  # pragma: no cover
    """:func:`_scan` for (H, W, 3) targets."""
    return _scan(cc, image, h, w, tsq, tmean, tvar, flat_rtol, zero, wanted, full, region, top, left, q_map, sum_map, 3)


@njit(**_OPTIONS)
def window_scores(method, cc_k, q_map, sum_map, inv_area, flat_rtol, t_sq, tmean_k, tvar_k, y0, y1, x0, x1):  # pragma: no cover
    """The scores of one map in rows y0:y1, columns x0:x1, made again from the window statistics
    :func:`_scan` stored: the same arithmetic, so the same values."""
    channels = sum_map.shape[0]
    n = x1 - x0
    t_inv = np.float32(1.0 / np.sqrt(t_sq)) if t_sq > 0.0 else np.float32(0.0)
    v_inv = np.float32(1.0 / np.sqrt(tvar_k)) if tvar_k > 0.0 else np.float32(0.0)
    energy = np.empty(n)
    mean_term = np.empty(n)
    r_energy = np.empty(n, np.float32)
    r_centred = np.empty(n, np.float32)
    flag_row = np.empty(n, np.uint8)
    out = np.empty((y1 - y0, n), np.float32)
    for i in range(y0, y1):
        q_row = q_map[i, x0:x1]
        sum_rows = sum_map[:, i, x0:x1]
        _shared(q_row, sum_rows, inv_area, flat_rtol, energy, r_energy, r_centred, flag_row, channels)
        _mean_term(tmean_k, sum_rows, mean_term, channels)
        _score_row(method, cc_k[i, x0:x1], energy, mean_term, r_energy, r_centred, flag_row, t_sq, t_inv, v_inv, out[i - y0])
    return out
