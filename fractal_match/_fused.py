"""The fused per-pixel kernel behind :func:`fractal_match.matching.match_all` (numba).

Deriving five maps from the correlation with NumPy costs a dozen passes over memory, plus two
box filters for the window sums. This kernel makes the window sums itself with running column
sums (each thread owns a block of output rows and keeps one row of column sums in cache), then
writes every map in the same sweep. Sums and the centred energy are formed in float64 (exact for
integer images, like OpenCV's integral images); only the final square roots and divisions run
in float32, whose 1e-7 relative error is far below the float32 rounding of the correlation.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

#: bit set in the flag map where a window has no energy (CCORR_NORMED, SQDIFF_NORMED undefined)
EMPTY = np.uint8(1)
#: bit set where a window has no contrast (CCOEFF_NORMED undefined)
FLAT = np.uint8(2)


@njit(inline="always", cache=True)
def _pixel(c, q, mean_term, square_sums, tsq, inv_t, inv_v, inv_area, flat_rtol):  # pragma: no cover
    """All derived scores at one position from the correlation and the window statistics."""
    one = np.float32(1.0)
    minus_one = np.float32(-1.0)
    tiny = np.float32(1e-30)
    diff = max(q - 2.0 * c + tsq, 0.0)
    numerator = c - mean_term
    centred = q - square_sums * inv_area
    flag = np.uint8(0)
    if q > 0.0:
        r = inv_t / np.sqrt(max(np.float32(q), tiny))
        ccorr_n = min(max(np.float32(c) * r, minus_one), one)
        sqdiff_n = min(np.float32(diff) * r, one)
    else:
        ccorr_n = minus_one
        sqdiff_n = one
        flag |= EMPTY
    if centred > flat_rtol * q:
        v = np.float32(numerator) * inv_v / np.sqrt(max(np.float32(centred), tiny))
        ccoeff_n = min(max(v, minus_one), one)
    else:
        ccoeff_n = minus_one
        flag |= FLAT
    return diff, sqdiff_n, ccorr_n, numerator, ccoeff_n, flag


@njit(parallel=True, cache=True, boundscheck=False, nogil=True)
def derive_gray(cc, image, h, w, tsq, tmean, tvar, flat_rtol, blocks,
                sqdiff, sqdiff_n, ccorr_n, ccoeff, ccoeff_n, flags):  # pragma: no cover - compiled
    """Fill the five derived maps and the flag map for a gray (H, W) target.

    cc: (ny, nx) float32 correlation; h, w: template size; tsq: sum of the template's squares;
    tmean: the template's mean; tvar: its centred energy; blocks: row blocks for the threads.
    """
    ny, nx = cc.shape
    width = image.shape[1]
    inv_area = 1.0 / (h * w)
    inv_t = np.float32(1.0 / np.sqrt(tsq)) if tsq > 0.0 else np.float32(0.0)
    inv_v = np.float32(1.0 / np.sqrt(tvar)) if tvar > 0.0 else np.float32(0.0)
    for b in prange(blocks):
        first = b * ny // blocks
        last = (b + 1) * ny // blocks
        column_sum = np.zeros(width)
        column_sq = np.zeros(width)
        for i in range(first, last):
            if i == first:
                for r in range(first, first + h):
                    for j in range(width):
                        v = np.float64(image[r, j])
                        column_sum[j] += v
                        column_sq[j] += v * v
            else:
                for j in range(width):
                    old = np.float64(image[i - 1, j])
                    new = np.float64(image[i + h - 1, j])
                    column_sum[j] += new - old
                    column_sq[j] += new * new - old * old
            s = 0.0
            q = 0.0
            for j in range(w):
                s += column_sum[j]
                q += column_sq[j]
            for j in range(nx):
                if j > 0:
                    s += column_sum[j + w - 1] - column_sum[j - 1]
                    q += column_sq[j + w - 1] - column_sq[j - 1]
                out = _pixel(np.float64(cc[i, j]), q, tmean * s, s * s, tsq, inv_t, inv_v, inv_area, flat_rtol)
                sqdiff[i, j], sqdiff_n[i, j], ccorr_n[i, j], ccoeff[i, j], ccoeff_n[i, j], flags[i, j] = out


@njit(parallel=True, cache=True, boundscheck=False, nogil=True)
def derive_colour(cc, image, h, w, tsq, tmean, tvar, flat_rtol, blocks,
                  sqdiff, sqdiff_n, ccorr_n, ccoeff, ccoeff_n, flags):  # pragma: no cover - compiled
    """As :func:`derive_gray` for an (H, W, 3) target; tmean holds the three channel means."""
    ny, nx = cc.shape
    width = image.shape[1]
    inv_area = 1.0 / (h * w)
    inv_t = np.float32(1.0 / np.sqrt(tsq)) if tsq > 0.0 else np.float32(0.0)
    inv_v = np.float32(1.0 / np.sqrt(tvar)) if tvar > 0.0 else np.float32(0.0)
    m0, m1, m2 = tmean[0], tmean[1], tmean[2]
    for b in prange(blocks):
        first = b * ny // blocks
        last = (b + 1) * ny // blocks
        column_sum = np.zeros((width, 3))
        column_sq = np.zeros(width)
        for i in range(first, last):
            rows = range(first, first + h) if i == first else range(i + h - 1, i + h)
            if i > first:
                for j in range(width):
                    for k in range(3):
                        old = np.float64(image[i - 1, j, k])
                        column_sum[j, k] -= old
                        column_sq[j] -= old * old
            for r in rows:
                for j in range(width):
                    for k in range(3):
                        v = np.float64(image[r, j, k])
                        column_sum[j, k] += v
                        column_sq[j] += v * v
            s0 = s1 = s2 = q = 0.0
            for j in range(w):
                s0 += column_sum[j, 0]
                s1 += column_sum[j, 1]
                s2 += column_sum[j, 2]
                q += column_sq[j]
            for j in range(nx):
                if j > 0:
                    a, z = j + w - 1, j - 1
                    s0 += column_sum[a, 0] - column_sum[z, 0]
                    s1 += column_sum[a, 1] - column_sum[z, 1]
                    s2 += column_sum[a, 2] - column_sum[z, 2]
                    q += column_sq[a] - column_sq[z]
                out = _pixel(np.float64(cc[i, j]), q, m0 * s0 + m1 * s1 + m2 * s2,
                             s0 * s0 + s1 * s1 + s2 * s2, tsq, inv_t, inv_v, inv_area, flat_rtol)
                sqdiff[i, j], sqdiff_n[i, j], ccorr_n[i, j], ccoeff[i, j], ccoeff_n[i, j], flags[i, j] = out


def row_blocks(ny: int) -> int:
    """How many row blocks to split `ny` output rows into (a few per thread, at least one)."""
    return max(1, min(ny, 4 * get_num_threads()))
