"""The compiled pass behind :mod:`fractal_match.engine.measure` (numba): per-case measures made
straight from the correlation, without the maps.

A case needs, per method, the best position, the peak candidates and a few sums; not the map.
:func:`scan_gray` / :func:`scan_colour` make each method's score row by row (the map
:func:`fractal_match.engine._methods.score_map` would give) from the terms
:func:`fractal_match.engine._fused._derive` uses, and consume it while it is in cache:

- a row's best and least finite score by folding its halves onto each other (:func:`_extremes`:
  unit-stride work that vectorises, and a maximum is the same in any order); its first best
  position is looked for only in a row that beats the best so far;
- the float64 sums of (score - shift) and of their squares down each column, then across the
  columns: the order :func:`fractal_match.engine._fused.scan_map` takes them in, so the sums are
  the map path's to the last bit (the only per-column state a pass keeps);
- the local maxima, of which a full pass keeps only the best few per map (a min-heap per map
  gives the floor below which one is dropped;
  :func:`fractal_match.engine.peaks.peaks_of_candidates` says when NMS would need more).

numba's cache watches only each kernel's own file: after a change to ``_fused.py`` or
``_scan.py`` alone these kernels could keep the old helpers, which ``tests/test_measure.py``
(this pass against the map path) would show.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._fused import (CCOEFF, CCOEFF_NORMED, CCORR, CCORR_NORMED, EMPTY, FLAT, SQDIFF, SQDIFF_NORMED, _OPTIONS, _mean_term,
                     _shared, add_sums, column_totals, mark_maxima, shift_of)
from ._scan import _sift_down


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


@njit(inline='always', **_OPTIONS)
def _differences(top, bottom, x0, w, out):  # pragma: no cover - compiled
    """out[j] = window sum at column x0 + j from two rows of an integral image. One-dimensional
    slices: indexing a 2-D array inside the loop kept the compiler from vectorising it (3x slower)."""
    n = out.shape[0]
    top_left, top_right = top[x0:x0 + n], top[x0 + w:x0 + w + n]
    bottom_left, bottom_right = bottom[x0:x0 + n], bottom[x0 + w:x0 + w + n]
    for j in range(n):
        out[j] = (bottom_right[j] - top_right[j]) - (bottom_left[j] - top_left[j])


@njit(inline='always', **_OPTIONS)
def _window_row(isum, isq, i, h, w, x0, window_sum, window_sq, channels):  # pragma: no cover - compiled
    """Window sums (per channel) and sums of squares of output row i, columns x0 onwards."""
    for c in range(channels):
        _differences(isum[c, i], isum[c, i + h], x0, w, window_sum[c])
    _differences(isq[i], isq[i + h], x0, w, window_sq)


@njit(inline='always', **_OPTIONS)
def _extremes(row, high, low):  # pragma: no cover - compiled
    """(best, least) finite score of a row (-inf, inf if it has none). The halves of the row are
    folded onto each other in `high` and `low` (scratch rows as long as it): each fold is
    independent, unit-stride work that vectorises, where a running maximum waits on every
    comparison. A maximum or minimum is the same in any order."""
    minus = np.float32(-np.inf)
    plus = np.float32(np.inf)
    n = row.shape[0]
    half = n // 2
    for j in range(half):
        a = row[j]
        b = row[j + half]
        a_ok = (a > minus) & (a < plus)
        b_ok = (b > minus) & (b < plus)
        a_high, b_high = (a if a_ok else minus), (b if b_ok else minus)
        a_low, b_low = (a if a_ok else plus), (b if b_ok else plus)
        high[j] = a_high if a_high > b_high else b_high
        low[j] = a_low if a_low < b_low else b_low
    best, least = minus, plus
    if n % 2:
        v = row[n - 1]
        if (v > minus) & (v < plus):
            best, least = v, v
    size = half
    while size > 1:
        half = size // 2
        for j in range(half):
            a, b = high[j], high[j + half]
            high[j] = a if a > b else b
            a, b = low[j], low[j + half]
            low[j] = a if a < b else b
        if size % 2:
            best, least = max(best, high[size - 1]), min(least, low[size - 1])
        size = half
    if size == 1:
        best, least = max(best, high[0]), min(least, low[0])
    return best, least


@njit(**_OPTIONS)
def _scan(cc, isum, isq, h, w, tsq, tmean, tvar, flat_rtol, wanted, full, region, top, left, best_count, channels):  # pragma: no cover - compiled
    """Score every wanted (template k, method m) row by row and keep only what the measures need.

    wanted (K, 6): which maps to score; full (K,): also the sums, the local maxima and the
    hit-region statistics (else only the best position). region (rh, rw) bool: the hit region's
    mask, its corner at map position (top, left); isum, isq: the target's
    :func:`fractal_match.engine._targets.integrals`.

    Returns per (k, m): best flat index (-1 if no finite score), best score, the shift of its sums,
    count, float64 sum and sum of squares of (score - shift) over the finite scores and their
    minimum (the minimum in best-only passes too; the sums taken as :func:`scan_map` takes them:
    down each column, then the columns left to right), the best finite score inside the
    hit region, how many finite scores it holds, the best finite score outside it; the numbers
    of windows with no energy and with no contrast; the local maxima (flat indices and
    scores), those of owner o = k * 6 + m at starts[o]:starts[o + 1], in row-major order; and per
    (k, m) the floor: -inf where every local maximum was kept, else the value at or above which
    all were (best_count > 0 keeps only those that can be among a map's best_count best, and
    every one tied with the best_count-th; 0 keeps all).

    A row's best and least come from :func:`_extremes` and its first best position is looked
    for only in a row that beats the best so far; only the two sums are kept per column.
    """
    count_k, ny, nx = cc.shape
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
    window_sum = np.empty((channels, nx))
    window_sq = np.empty(nx)
    energy = np.empty(nx)
    mean_term = np.empty(nx)
    r_energy = np.empty(nx, np.float32)
    r_centred = np.empty(nx, np.float32)
    flag_row = np.empty(nx, np.uint8)
    any_full = False
    for k in range(count_k):
        any_full |= full[k]
    rows = np.empty((count_k if any_full else 0, 6, 3, nx), np.float32)  # a full map's last three score rows
    row_best = np.empty(nx, np.float32)  # a best-only map's score row
    fold_high = np.empty(nx, np.float32)
    fold_low = np.empty(nx, np.float32)
    keep_words = np.zeros((nx + 7) // 8, np.uint64)  # keep, read 8 positions at a time where it is all False
    keep = keep_words.view(np.uint8)[:nx].view(np.bool_)
    col_total = np.zeros((count_k if any_full else 0, 6, nx))
    col_squares = np.zeros((count_k if any_full else 0, 6, nx))
    best = np.full((count_k, 6), -1, np.int64)
    best_value = np.full((count_k, 6), -np.inf)
    count = np.zeros((count_k, 6), np.int64)
    low = np.full((count_k, 6), np.inf)
    shift = np.zeros((count_k, 6))  # what each map's sums are taken about (shift_of its first row)
    inside = np.full((count_k, 6), -np.inf)
    inside_count = np.zeros((count_k, 6), np.int64)
    outside_best = np.full((count_k, 6), -np.inf)
    capacity = max(1024, 4 * nx)
    found_index = np.empty(capacity, np.int64)
    found_score = np.empty(capacity, np.float32)
    # a map's local maxima of one row are found together: one segment (owner, start, count) per such run
    segments = np.empty((max(64, ny), 3), np.int64)
    runs = 0
    found = 0
    # per map a min-heap of the best_count best local maxima so far: a maximum below its top (the
    # floor) cannot be among a map's best_count best, and is not kept
    owners = count_k * 6
    heaps = np.empty((owners, max(best_count, 1)), np.float32)
    heap_size = np.zeros(owners, np.int64)
    floors = np.full(owners, np.float32(-np.inf))
    dropped = np.zeros(owners, np.bool_)
    empties = 0
    flats = 0
    low_bound = np.float32(-3.4e38)  # drops -inf (undefined windows)
    rh, rw = region.shape
    out_row = np.empty(nx, np.bool_)  # positions of a row outside the hit region
    for i in range(ny + 1):
        in_window = False
        if i < ny:
            _window_row(isum, isq, i, h, w, 0, window_sum, window_sq, channels)
            _shared(window_sq, window_sum, inv_area, flat_rtol, energy, r_energy, r_centred, flag_row, channels)
            for j in range(nx):
                empties += (flag_row[j] & EMPTY) != 0
                flats += (flag_row[j] & FLAT) != 0
            in_window = top <= i < top + rh
            if in_window and any_full:
                for x in range(nx):
                    out_row[x] = True
                for jj in range(rw):
                    out_row[left + jj] = not region[i - top, jj]
        for k in range(count_k):
            if i < ny and need_mean[k]:
                _mean_term(tmean[k], window_sum, mean_term, channels)
            for m in range(6):
                if not wanted[k, m]:
                    continue
                if i < ny:
                    row = rows[k, m, i % 3] if full[k] else row_best
                    _score_row(m, cc[k, i], energy, mean_term, r_energy, r_centred, flag_row, tsq[k], inv_t[k], inv_v[k], row)
                    top_row, least = _extremes(row, fold_high, fold_low)
                    low[k, m] = min(low[k, m], np.float64(least))
                    if top_row > best_value[k, m]:
                        best_value[k, m] = top_row
                        x = 0
                        while row[x] != top_row:
                            x += 1
                        best[k, m] = i * nx + x
                    if not full[k]:
                        continue
                    if i == 0:
                        shift[k, m] = shift_of(row)
                    count[k, m] += add_sums(row, shift[k, m], col_total[k, m], col_squares[k, m])
                    if in_window:
                        for jj in range(rw):
                            v = row[left + jj]
                            if region[i - top, jj] and v > -np.inf:
                                inside[k, m] = max(inside[k, m], np.float64(v))
                                inside_count[k, m] += 1
                        outside = outside_best[k, m]
                        for x in range(nx):
                            v = row[x]
                            if out_row[x] and (v > -np.inf) and (v < np.inf):
                                outside = max(outside, np.float64(v))
                        outside_best[k, m] = outside
                    else:
                        outside_best[k, m] = max(outside_best[k, m], np.float64(top_row))
                if not full[k] or i == 0:
                    continue
                y = i - 1  # its rows above and below are made: find its local maxima
                middle = rows[k, m, y % 3]
                kept = mark_maxima(rows[k, m, max(y - 1, 0) % 3], middle, rows[k, m, min(y + 1, ny - 1) % 3], low_bound, keep)
                if kept == 0:
                    continue
                if found + kept > capacity:
                    capacity = max(2 * capacity, found + kept)
                    grown_index = np.empty(capacity, np.int64)
                    grown_score = np.empty(capacity, np.float32)
                    grown_index[:found] = found_index[:found]
                    grown_score[:found] = found_score[:found]
                    found_index, found_score = grown_index, grown_score
                o = k * 6 + m
                start = found
                floor = floors[o]
                heap = heaps[o]
                for word in range(keep_words.shape[0]):
                    if keep_words[word] == 0:
                        continue
                    for x in range(8 * word, min(8 * word + 8, nx)):
                        if not keep[x]:
                            continue
                        v = middle[x]
                        if v < floor:
                            dropped[o] = True
                            continue
                        found_index[found] = y * nx + x
                        found_score[found] = v
                        found += 1
                        if best_count == 0:
                            continue
                        if heap_size[o] < best_count:
                            heap[heap_size[o]] = v
                            heap_size[o] += 1
                            if heap_size[o] == best_count:
                                for i_heap in range(best_count // 2 - 1, -1, -1):
                                    _sift_down(heap, i_heap)
                                floor = heap[0]
                        elif v > heap[0]:
                            heap[0] = v
                            _sift_down(heap, 0)
                            floor = heap[0]
                floors[o] = floor
                if found == start:
                    continue
                if runs == segments.shape[0]:
                    grown = np.empty((2 * runs, 3), np.int64)
                    grown[:runs] = segments
                    segments = grown
                segments[runs, 0], segments[runs, 1], segments[runs, 2] = o, start, found - start
                runs += 1
    total = np.zeros((count_k, 6))
    total_sq = np.zeros((count_k, 6))
    for k in range(count_k):
        for m in range(6):
            if wanted[k, m] and full[k]:
                total[k, m], total_sq[k, m] = column_totals(col_total[k, m], col_squares[k, m])
    # the local maxima grouped by owner, a run at a time (each owner's runs are in row order)
    starts = np.zeros(count_k * 6 + 1, np.int64)
    for r in range(runs):
        starts[segments[r, 0] + 1] += segments[r, 2]
    for o in range(count_k * 6):
        starts[o + 1] += starts[o]
    fill = starts[:-1].copy()
    grouped_index = np.empty(found, np.int64)
    grouped_score = np.empty(found, np.float32)
    for r in range(runs):
        o, first, n = segments[r, 0], segments[r, 1], segments[r, 2]
        grouped_index[fill[o]:fill[o] + n] = found_index[first:first + n]
        grouped_score[fill[o]:fill[o] + n] = found_score[first:first + n]
        fill[o] += n
    floor_out = np.full((count_k, 6), -np.inf)
    for o in range(owners):
        if dropped[o]:
            floor_out[o // 6, o % 6] = floors[o]
    return (best, best_value, shift, count, total, total_sq, low, inside, inside_count, outside_best, empties, flats,
            grouped_index, grouped_score, starts, floor_out)


@njit(**_OPTIONS)
def scan_gray(cc, isum, isq, h, w, tsq, tmean, tvar, flat_rtol, wanted, full, region, top, left, best_count):  # pragma: no cover
    """:func:`_scan` for gray targets."""
    return _scan(cc, isum, isq, h, w, tsq, tmean, tvar, flat_rtol, wanted, full, region, top, left, best_count, 1)


@njit(**_OPTIONS)
def scan_colour(cc, isum, isq, h, w, tsq, tmean, tvar, flat_rtol, wanted, full, region, top, left, best_count):  # pragma: no cover
    """:func:`_scan` for colour targets."""
    return _scan(cc, isum, isq, h, w, tsq, tmean, tvar, flat_rtol, wanted, full, region, top, left, best_count, 3)


@njit(**_OPTIONS)
def window_scores(method, cc_k, isum, isq, h, w, flat_rtol, t_sq, tmean_k, tvar_k, y0, y1, x0, x1):  # pragma: no cover
    """The scores of one map in rows y0:y1, columns x0:x1, made again the way :func:`_scan`
    makes them: the same arithmetic on the same sums, so the same values."""
    channels = isum.shape[0]
    n = x1 - x0
    inv_area = 1.0 / (h * w)
    t_inv = np.float32(1.0 / np.sqrt(t_sq)) if t_sq > 0.0 else np.float32(0.0)
    v_inv = np.float32(1.0 / np.sqrt(tvar_k)) if tvar_k > 0.0 else np.float32(0.0)
    window_sum = np.empty((channels, n))
    window_sq = np.empty(n)
    energy = np.empty(n)
    mean_term = np.empty(n)
    r_energy = np.empty(n, np.float32)
    r_centred = np.empty(n, np.float32)
    flag_row = np.empty(n, np.uint8)
    out = np.empty((y1 - y0, n), np.float32)
    for i in range(y0, y1):
        _window_row(isum, isq, i, h, w, x0, window_sum, window_sq, channels)
        _shared(window_sq, window_sum, inv_area, flat_rtol, energy, r_energy, r_centred, flag_row, channels)
        _mean_term(tmean_k, window_sum, mean_term, channels)
        _score_row(method, cc_k[i, x0:x1], energy, mean_term, r_energy, r_centred, flag_row, t_sq, t_inv, v_inv, out[i - y0])
    return out
