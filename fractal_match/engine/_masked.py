"""The masked forms of the six methods (OpenCV's documented definitions), from a few float64
correlations. Used by :func:`fractal_match.engine.matching.match_all` when a mask is given."""

from __future__ import annotations

import cv2
import numpy as np

from ._methods import FLAT_RTOL, Responses, fill_worst, template_error


#: a window energy from FFT correlations below this share of the largest is rounding noise: the
#: window is all black (or flat, for the centred energy) and its normalised score is degenerate
NOISE_FLOOR = 1e-10


def _correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid-region cross-correlation in float64, summed over channels.

    The masked forms subtract nearly equal correlations, so they are computed in float64
    (``cv2.filter2D`` with the anchor at the kernel's corner is a correlation) rather than with
    ``cv2.matchTemplate``, whose float32 result would lose the difference.
    """
    h, w = kernel.shape[:2]
    ny, nx = image.shape[0] - h + 1, image.shape[1] - w + 1
    image = image.astype(np.float64, copy=False)
    kernel = kernel.astype(np.float64, copy=False)
    if kernel.ndim == 2:
        pairs = [(image, kernel)]
    else:
        pairs = [(np.ascontiguousarray(image[:, :, k]), np.ascontiguousarray(kernel[:, :, k])) for k in range(kernel.shape[2])]
    total = None
    for plane, weights in pairs:
        full = cv2.filter2D(plane, cv2.CV_64F, weights, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)[:ny, :nx]
        total = full if total is None else total + full
    return total


def match_masked(target, template, weights, methods) -> Responses:
    """The masked definitions of OpenCV's documentation, from a few correlations.

    With M the weights (broadcast over channels), n_k = sum(M_k) and per-channel weighted means
    tm_k = sum(M_k T_k) / n_k and im_k(x) = corr(I_k, M_k)(x) / n_k:
    CCORR = corr(I, M^2 T); SQDIFF = sum((M T)^2) - 2 CCORR + corr(I^2, M^2);
    CCOEFF = sum_k [corr(I_k, M_k^2 (T_k - tm_k)) - im_k sum(M_k^2 (T_k - tm_k))].
    """
    target = target.astype(np.float64)
    t64 = template.astype(np.float64)
    colour = target.ndim == 3
    channels = 3 if colour else 1
    if colour and weights.ndim == 2:
        weights = np.repeat(weights[:, :, None], 3, axis=2)
    m64 = weights.astype(np.float64)
    m2 = m64 * m64
    maps: dict[str, np.ndarray] = {}
    degenerate: dict[str, np.ndarray | None] = {}

    wanted = set(methods)
    split_t = [t64] if not colour else [t64[:, :, k] for k in range(channels)]
    split_i = [target] if not colour else [np.ascontiguousarray(target[:, :, k]) for k in range(channels)]
    split_m = [m64] if not colour else [m64[:, :, k] for k in range(channels)]
    # corr(I_k^2, M_k^2) per channel: the window energies (SQDIFF and the normed forms, summed over
    # the channels) and CCOEFF_NORMED's, made once for both
    energies = None
    every_channel = bool(wanted & {"TM_SQDIFF", "TM_CCORR_NORMED", "TM_SQDIFF_NORMED"})
    if every_channel or "TM_CCOEFF_NORMED" in wanted:  # CCOEFF_NORMED alone skips the masked-out channels
        energies = [_correlate(i_k * i_k, m_k * m_k) if every_channel or m_k.sum() > 0 else None
                    for i_k, m_k in zip(split_i, split_m)]
    if wanted & {"TM_CCORR", "TM_SQDIFF", "TM_CCORR_NORMED", "TM_SQDIFF_NORMED"}:
        cc = _correlate(target, m2 * t64)
        tsq = float(np.sum(m2 * t64 * t64))
        if tsq <= 0 and wanted & {"TM_CCORR_NORMED", "TM_SQDIFF_NORMED"}:
            raise template_error(template, "TM_CCORR_NORMED", "is zero wherever the mask is set")
    if wanted & {"TM_SQDIFF", "TM_CCORR_NORMED", "TM_SQDIFF_NORMED"}:
        q = energies[0]
        for more in energies[1:]:  # in channel order, as _correlate sums them
            q = q + more
        q = np.maximum(q, 0.0)
        # From FFTs, a window of an all-black region has an energy of rounding noise, not zero
        empty = q <= NOISE_FLOOR * float(np.max(q, initial=0.0))
        norm = np.sqrt(np.where(empty, 1.0, q) * max(tsq, np.finfo(float).tiny))
    if wanted & {"TM_CCOEFF", "TM_CCOEFF_NORMED"}:
        numerator = 0.0
        centred = 0.0
        energy = 0.0
        tvar = 0.0
        tenergy = 0.0
        for k, (t_k, i_k, m_k) in enumerate(zip(split_t, split_i, split_m)):
            n_k = float(m_k.sum())
            if n_k <= 0:
                continue  # this channel is masked out entirely
            mk2 = m_k * m_k
            t_c = t_k - float((m_k * t_k).sum()) / n_k
            weighted = mk2 * t_c
            im_k = _correlate(i_k, m_k) / n_k
            numerator = numerator + _correlate(i_k, weighted) - im_k * float(weighted.sum())
            if "TM_CCOEFF_NORMED" in wanted:
                i2 = energies[k]
                i1 = _correlate(i_k, mk2) if not np.array_equal(mk2, m_k) else im_k * n_k
                centred = centred + i2 - 2.0 * im_k * i1 + im_k * im_k * float(mk2.sum())
                energy = energy + i2
                tvar += float(np.sum(mk2 * t_c * t_c))
                tenergy += float(np.sum(mk2 * t_k * t_k))

    for name in methods:
        bad = None
        if name == "TM_CCORR":
            out = cc
        elif name == "TM_SQDIFF":
            out = np.maximum(q - 2.0 * cc + tsq, 0.0)
        elif name == "TM_CCORR_NORMED":
            out = np.clip(cc / norm, -1.0, 1.0)
            bad = empty
        elif name == "TM_SQDIFF_NORMED":
            out = np.maximum(q - 2.0 * cc + tsq, 0.0) / norm  # OpenCV does not saturate the masked form
            bad = empty
        elif name == "TM_CCOEFF":
            out = numerator
        else:  # TM_CCOEFF_NORMED
            if tvar <= FLAT_RTOL * tenergy:
                raise template_error(template, name, "has zero variance where the mask is set")
            # The correlations come from FFTs, so a window of an all-black region has an energy
            # and a centred energy of rounding noise, either sign: flat there too, with a floor
            # far below the variance of any real texture (NOISE_FLOOR of the largest window energy).
            bad = centred <= FLAT_RTOL * energy + NOISE_FLOOR * float(np.max(energy, initial=0.0))
            out = np.clip(numerator / np.sqrt(np.where(bad, 1.0, centred) * tvar), -1.0, 1.0)
        out = np.asarray(out).astype(np.float32)
        fill_worst(out, bad, name)
        maps[name] = out
        degenerate[name] = bad
    return Responses(maps, degenerate)
