"""The fused kernel behind :func:`fractal_match.engine.matching.match_many` (numba).

Every derived map is a function of the correlation and three window statistics of the target
(window sums per channel, window sum of squares). Those statistics do not depend on the
template, so one sweep over the target makes them once and derives the maps of several
same-size templates from them while the row is still in cache.

Each thread owns a block of output rows. Per row it

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
from numba import get_num_threads, njit, prange

#: bit set in the flag map where a window has no energy (CCORR_NORMED, SQDIFF_NORMED undefined)
EMPTY = np.uint8(1)
#: bit set where a window has no contrast (CCOEFF_NORMED undefined)
FLAT = np.uint8(2)

#: derived maps in the order of the kernel's output axis
DERIVED = ("TM_SQDIFF", "TM_SQDIFF_NORMED", "TM_CCORR_NORMED", "TM_CCOEFF", "TM_CCOEFF_NORMED")

_OPTIONS = dict(cache=True, boundscheck=False, nogil=True, error_model="numpy")


@njit(inline="always", **_OPTIONS)
def _first_rows(image, first, h, zero, column_sum, column_sq, channels):  # pragma: no cover - compiled
    width = image.shape[1]
    for r in range(first, first + h):
        for c in range(channels):
            for j in range(width):
                v = zero + image[r, j, c]
                column_sum[c, j] += v
                column_sq[j] += v * v


@njit(inline="always", **_OPTIONS)
def _slide(image, i, h, zero, column_sum, column_sq, channels):  # pragma: no cover - compiled
    width = image.shape[1]
    for c in range(channels):
        for j in range(width):
            old = zero + image[i - 1, j, c]
            new = zero + image[i + h - 1, j, c]
            column_sum[c, j] += new - old
            column_sq[j] += new * new - old * old


@njit(inline="always", **_OPTIONS)
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


@njit(inline="always", **_OPTIONS)
def _derive(cc, image, h, w, tsq, tmean, tvar, flat_rtol, blocks, zero, out, flags, channels):  # pragma: no cover
    """Fill `out` (K, 5, ny, nx) float32 in :data:`DERIVED` order and `flags` (ny, nx).

    cc: (K, ny, nx) float32 correlations of K same-size templates; image: (H, W, channels);
    h, w: template size; tsq (K,): sums of the templates' squares; tmean (K, channels):
    their channel means; tvar (K,): their centred energies; blocks: row blocks for the
    threads; zero: 0 of the accumulation type (int64 for uint8 images, else float64).
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
    for b in prange(blocks):
        first = b * ny // blocks
        last = (b + 1) * ny // blocks
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
            for j in range(nx):  # what every template shares
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
            for k in range(count):
                for j in range(nx):
                    mean_term[j] = tmean[k, 0] * window_sum[0, j]
                for c in range(1, channels):
                    m = tmean[k, c]
                    for j in range(nx):
                        mean_term[j] += m * window_sum[c, j]
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


@njit(parallel=True, **_OPTIONS)
def derive_gray(cc, image, h, w, tsq, tmean, tvar, flat_rtol, blocks, zero, out, flags):  # pragma: no cover
    """:func:`_derive` for (H, W, 1) targets (the channel loops unroll to one step)."""
    _derive(cc, image, h, w, tsq, tmean, tvar, flat_rtol, blocks, zero, out, flags, 1)


@njit(parallel=True, **_OPTIONS)
def derive_colour(cc, image, h, w, tsq, tmean, tvar, flat_rtol, blocks, zero, out, flags):  # pragma: no cover
    """:func:`_derive` for (H, W, 3) targets."""
    _derive(cc, image, h, w, tsq, tmean, tvar, flat_rtol, blocks, zero, out, flags, 3)




def row_blocks(ny: int, h: int) -> int:
    """How many row blocks to split `ny` output rows into.

    Each block starts by summing `h` image rows, so blocks are kept few enough that this costs
    at most about a quarter of the block's own rows; at least one per thread, at most four.
    """
    threads = get_num_threads()
    return max(1, min(ny, max(threads, min(4 * threads, ny // (4 * h)))))
