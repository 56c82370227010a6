import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fractal_match import DegenerateError, ParameterError
from fractal_match.geometry import iou
from fractal_match.engine.matching import (
    METHOD_INFO,
    METHODS,
    Match,
    batch_size,
    best_match,
    match_all,
    match_batch,
    match_many,
    opencv_methods,
)
from fractal_match.engine.peaks import find_peaks

NORMED_TOL = 2e-4
RAW_TOL = 1e-3


def test_method_table_is_complete_and_ordered():
    # A method OpenCV adds later must not be silently missed.
    assert set(opencv_methods()) == set(METHODS)
    assert METHODS == ("TM_SQDIFF", "TM_SQDIFF_NORMED", "TM_CCORR", "TM_CCORR_NORMED", "TM_CCOEFF", "TM_CCOEFF_NORMED")
    for name, info in METHOD_INFO.items():
        assert info.code == getattr(cv2, name)
        assert info.lower_is_better == name.startswith("TM_SQDIFF")


def _random_image(rng, shape, dtype):
    if dtype == "uint8":
        return rng.integers(0, 256, shape).astype(np.uint8)
    if dtype == "uint16":
        return rng.integers(0, 65536, shape).astype(np.uint16)
    return rng.random(shape).astype(np.float32)


def _reference(target, template, method, mask=None):
    """cv2.matchTemplate on what OpenCV accepts (uint8 or float32; float32 for masks)."""
    if mask is not None or target.dtype != np.uint8:
        target, template = target.astype(np.float32), template.astype(np.float32)
        if mask is not None and mask.dtype != np.float32:
            mask = (mask != 0).astype(np.float32)
    try:
        return cv2.matchTemplate(target, template, METHOD_INFO[method].code, mask=mask)
    except cv2.error:
        return None  # OpenCV refuses some masked shapes (e.g. 1-px-wide CCOEFF); nothing to compare


def _corr64(image, kernel):
    h, w = kernel.shape[:2]
    full = cv2.filter2D(image.astype(np.float64), cv2.CV_64F, kernel.astype(np.float64), anchor=(0, 0),
                        borderType=cv2.BORDER_CONSTANT)
    return full[: image.shape[0] - h + 1, : image.shape[1] - w + 1]


def _ccoeff64(target, template, mask=None):
    """TM_CCOEFF in float64 by brute force, as OpenCV defines it (with a mask: both means taken under
    the mask, and both centred pictures weighted by it), summed over channels."""
    h, w = template.shape[:2]
    weights = np.ones((h, w)) if mask is None else (mask != 0 if mask.dtype == np.uint8 else mask).astype(np.float64)
    planes = (lambda a: [a] if a.ndim == 2 else [a[:, :, k] for k in range(a.shape[2])])
    out = np.zeros((target.shape[0] - h + 1, target.shape[1] - w + 1))
    for image, kernel in zip(planes(target.astype(np.float64)), planes(template.astype(np.float64))):
        centred_kernel = weights * (kernel - (weights * kernel).sum() / weights.sum())
        for y in range(out.shape[0]):
            for x in range(out.shape[1]):
                window = image[y:y + h, x:x + w]
                centred = weights * (window - (weights * window).sum() / weights.sum())
                out[y, x] += (centred_kernel * centred).sum()
    return out


def well_conditioned(target, template, mask, rtol=1e-3):
    """Windows whose (mask-weighted) centred energy is at least `rtol` of their energy.

    Below that, CCOEFF_NORMED is dominated by float32 rounding in OpenCV itself (we checked such
    a window against a float64 brute force: OpenCV was off by 3e-4, ours by 2e-16).
    """
    h, w = template.shape[:2]
    weights = np.ones((h, w)) if mask is None else (mask != 0 if mask.dtype == np.uint8 else mask).astype(np.float64)
    planes = [target] if target.ndim == 2 else [target[:, :, k] for k in range(target.shape[2])]
    energy = centred = 0.0
    for plane in planes:
        plane = plane.astype(np.float64)
        mean = _corr64(plane, weights) / weights.sum()
        square = _corr64(plane * plane, weights * weights)
        centred = centred + square - 2 * mean * _corr64(plane, weights * weights) + mean**2 * (weights**2).sum()
        energy = energy + square
    return centred >= rtol * energy


def test_masked_ccoeff_normed_is_exact_against_a_float64_brute_force():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (12, 18)).astype(np.uint8)
    template = rng.integers(0, 256, (3, 4)).astype(np.uint8)
    mask = rng.random((3, 4)).astype(np.float32) + 0.05
    ours = match_all(target, template, ["TM_CCOEFF_NORMED"], mask=mask)["TM_CCOEFF_NORMED"]
    m, t = mask.astype(float), template.astype(float)
    tp = m * (t - (m * t).sum() / m.sum())
    for y in range(ours.shape[0]):
        for x in range(ours.shape[1]):
            window = target[y : y + 3, x : x + 4].astype(float)
            ip = m * (window - (m * window).sum() / m.sum())
            expected = (tp * ip).sum() / np.sqrt((tp**2).sum() * (ip**2).sum())
            assert ours[y, x] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("colour", [False, True])
def test_masked_ccoeff_normed_calls_a_constant_region_undefined(colour):
    """Windows inside an exactly constant region (a silhouette's black, a sky) have no variance:
    the FFT correlations give them rounding noise of either sign, which must not become a score
    (it used to: noise over noise, or +-1 from a division by zero)."""
    import warnings

    rng = np.random.default_rng(3)
    shape = (120, 160, 3) if colour else (120, 160)
    target = rng.integers(0, 256, shape).astype(np.uint8)
    target[20:80, 30:100] = 0
    target[90:115, 5:60] = 255
    template = rng.integers(0, 256, (21, 17, 3) if colour else (21, 17)).astype(np.uint8)
    mask = (rng.random((21, 17)) > 0.3).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        responses = match_all(target, template, ["TM_CCOEFF_NORMED"], mask=mask)
    flat = responses.degenerate["TM_CCOEFF_NORMED"]
    assert flat is not None and flat[20:60, 30:84].all() and flat[90:95, 5:44].all()
    assert not flat[:, 110:].any()  # texture everywhere there: scores, as OpenCV gives (tested above)


def test_masked_ccoeff_is_exact_on_a_near_flat_target():
    rng = np.random.default_rng(27)
    target = np.clip(np.rint(32767.5 + (rng.random((27, 27, 3)) - 0.5) * 65.535), 0, 65535).astype(np.uint16)
    template = rng.integers(0, 65536, (27, 27, 3)).astype(np.uint16)
    mask = rng.random((27, 27)).astype(np.float32) + 0.05
    ours = float(match_all(target, template, ["TM_CCOEFF"], mask=mask)["TM_CCOEFF"][0, 0])
    m = mask.astype(float)
    truth = 0.0
    for k in range(3):
        window, kernel = target[:, :, k].astype(float), template[:, :, k].astype(float)
        tp = m * (kernel - (m * kernel).sum() / m.sum())
        ip = m * (window - (m * window).sum() / m.sum())
        truth += (tp * ip).sum()
    assert ours == pytest.approx(truth, rel=1e-6)


def assert_agrees(target, template, mask=None, methods=METHODS):
    try:
        responses = match_all(target, template, methods, mask=mask)
    except DegenerateError:
        return None
    for method in methods:
        ours = responses[method]
        assert ours.dtype == np.float32
        assert ours.shape == (target.shape[0] - template.shape[0] + 1, target.shape[1] - template.shape[1] + 1)
        assert np.isfinite(ours).all(), f"{method}: NaN or Inf in our map"
        ref = _reference(target, template, method, mask)
        if ref is None:
            continue
        ok = np.isfinite(ref)
        degenerate = responses.degenerate[method]
        if degenerate is not None:
            ok &= ~degenerate
        if method in ("TM_CCOEFF", "TM_CCOEFF_NORMED"):
            # OpenCV's float32 cancels on near-flat windows, raw CCOEFF as much as the normalised one
            # (a near-flat uint16 case: OpenCV off by 183 from the float64 truth, ours by 2e-5)
            ok &= well_conditioned(target, template, mask)
        if not ok.any():
            continue
        error = np.abs(ours.astype(np.float64) - ref)[ok].max()
        tolerance = NORMED_TOL if METHOD_INFO[method].normed else RAW_TOL * max(np.abs(ref[ok]).max(), 1e-12)
        if error > tolerance and method == "TM_CCOEFF":
            # a covariance near zero between well-conditioned template and window cancels in OpenCV's
            # float32 sums (a float32 case: OpenCV 1.59955e-5, ours 1.606719e-5, the float64 truth
            # 1.606719e-5): then the float64 truth judges, and OpenCV must be the one that is off
            truth = _ccoeff64(target, template, mask)
            ours_error = np.abs(ours.astype(np.float64) - truth)[ok].max()
            assert ours_error <= RAW_TOL * max(np.abs(truth[ok]).max(), 1e-12), f"{method}: max error {ours_error} from the truth"
            assert ours_error < np.abs(ref - truth)[ok].max(), f"{method}: OpenCV is nearer the truth than ours"
            continue
        assert error <= tolerance, f"{method}: max error {error} (allowed {tolerance})"
        # Same best location except exact ties: our choice is also optimal in OpenCV's map.
        best = responses.best(method)
        if ok[best.y, best.x]:
            optimum = ref[ok].min() if METHOD_INFO[method].lower_is_better else ref[ok].max()
            assert abs(ref[best.y, best.x] - optimum) <= 2 * tolerance, f"{method}: best location differs"
    return responses


def random_mask(rng, h: int, w: int, kind: str | None):
    """None, a binary uint8 mask with at least one pixel set, or positive float weights."""
    if kind == "binary":
        mask = (rng.random((h, w)) > 0.3).astype(np.uint8)
        mask.flat[0] = 1
        return mask
    if kind == "weights":
        return rng.random((h, w)).astype(np.float32) + 0.05
    return None


shapes = st.tuples(st.integers(1, 48), st.integers(1, 48), st.integers(1, 48), st.integers(1, 48)).map(
    lambda s: (max(s[0], s[2]), max(s[1], s[3]), s[2], s[3])
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes, st.sampled_from(["uint8", "uint16", "float32"]), st.sampled_from([1, 3]),
       st.sampled_from([None, "binary", "weights"]), st.integers(0, 2**32 - 1))
def test_agrees_with_opencv(shape, dtype, channels, mask_kind, seed):
    rng = np.random.default_rng(seed)
    H, W, h, w = shape
    extra = () if channels == 1 else (3,)
    target = _random_image(rng, (H, W) + extra, dtype)
    template = _random_image(rng, (h, w) + extra, dtype)
    assert_agrees(target, template, random_mask(rng, h, w, mask_kind))


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 3]))
def test_agrees_on_images_with_flat_patches(seed, channels):
    """Near-flat and flat regions: agreement where defined, never NaN/Inf, degenerate counted."""
    rng = np.random.default_rng(seed)
    extra = () if channels == 1 else (3,)
    target = rng.integers(0, 256, (40, 50) + extra).astype(np.uint8)
    target[5:25, 10:40] = rng.integers(0, 256)  # a flat patch larger than the template
    target[30:38, 0:20] = 0  # a black patch
    template = rng.integers(0, 256, (6, 7) + extra).astype(np.uint8)
    responses = assert_agrees(target, template)
    assert responses.degenerate_count("TM_CCOEFF_NORMED") > 0
    flat = responses.degenerate["TM_CCOEFF_NORMED"]
    assert flat[10, 15]  # window fully inside the flat patch
    assert (responses["TM_CCOEFF_NORMED"][flat] == -1.0).all()


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("channels", [1, 3])
def test_perfect_match_scores_one_at_its_position(dtype, channels):
    rng = np.random.default_rng(3)
    target = _random_image(rng, (60, 70) + (() if channels == 1 else (3,)), dtype)
    template = target[17:33, 21:45].copy()
    responses = match_all(target, template)
    for method in METHODS:
        best = responses.best(method)
        assert (best.x, best.y) == (21, 17), method
    assert responses["TM_CCOEFF_NORMED"][17, 21] == pytest.approx(1.0, abs=1e-5)
    assert responses["TM_CCORR_NORMED"][17, 21] == pytest.approx(1.0, abs=1e-5)
    assert responses["TM_SQDIFF_NORMED"][17, 21] == pytest.approx(0.0, abs=1e-5)
    assert responses["TM_SQDIFF"][17, 21] <= 1e-3 * responses["TM_SQDIFF"].max()


def test_inverted_template_scores_minus_one():
    rng = np.random.default_rng(4)
    target = rng.random((50, 50)).astype(np.float32)
    template = 1.0 - target[10:20, 12:30]
    responses = match_all(target, template, ["TM_CCOEFF_NORMED"])
    assert responses["TM_CCOEFF_NORMED"][10, 12] == pytest.approx(-1.0, abs=1e-5)
    assert responses["TM_CCOEFF_NORMED"].min() == pytest.approx(-1.0, abs=1e-5)


def test_inputs_are_not_modified_and_single_method_subset_matches_full():
    rng = np.random.default_rng(5)
    target = rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)
    template = target[5:15, 5:20].copy()
    mask = (rng.random((10, 15)) > 0.5).astype(np.uint8)
    copies = [a.copy() for a in (target, template, mask)]
    full = match_all(target, template)
    match_all(target, template, mask=mask)
    for original, copy in zip((target, template, mask), copies):
        assert np.array_equal(original, copy)
    for method in METHODS:
        alone = match_all(target, template, [method])
        assert list(alone) == [method]
        np.testing.assert_array_equal(alone[method], full[method])


def test_flat_template_is_an_error_for_ccoeff_normed_only():
    target = np.random.default_rng(6).integers(0, 256, (30, 30)).astype(np.uint8)
    flat = np.full((5, 5), 77, np.uint8)
    with pytest.raises(DegenerateError, match="zero variance.*TM_CCOEFF_NORMED"):
        match_all(target, flat)
    others = [m for m in METHODS if m != "TM_CCOEFF_NORMED"]
    responses = match_all(target, flat, others)
    assert np.allclose(responses["TM_CCOEFF"], 0.0, atol=1e-3 * np.abs(responses["TM_CCORR"]).max())
    with pytest.raises(DegenerateError, match="all zero"):
        match_all(target, np.zeros((5, 5), np.uint8), ["TM_CCORR_NORMED"])


def test_all_black_target_is_degenerate_everywhere_and_never_a_best_match():
    target = np.zeros((20, 20), np.uint8)
    template = np.random.default_rng(7).integers(1, 256, (5, 5)).astype(np.uint8)
    responses = match_all(target, template)
    for method in ("TM_SQDIFF_NORMED", "TM_CCORR_NORMED", "TM_CCOEFF_NORMED"):
        assert responses.degenerate_count(method) == 16 * 16
        assert np.isfinite(responses[method]).all()
        assert responses[method][0, 0] == METHOD_INFO[method].worst
        with pytest.raises(DegenerateError, match="every position is degenerate"):
            responses.best(method)
    assert responses.best("TM_SQDIFF").score == pytest.approx(float((template.astype(float) ** 2).sum()), rel=1e-6)


def test_degenerate_position_is_never_best_even_when_its_value_ties():
    # SQDIFF_NORMED saturates at 1, which is also its degenerate value: the flag decides.
    response = np.array([[1.0, 1.0], [1.0, 1.0]], np.float32)
    degenerate = np.array([[True, False], [True, True]])
    assert best_match(response, "TM_SQDIFF_NORMED", degenerate) == Match(1, 0, 1.0)


def test_masked_matching_ignores_pixels_outside_the_mask():
    rng = np.random.default_rng(8)
    target = rng.integers(0, 256, (50, 60)).astype(np.uint8)
    template = target[20:36, 30:46].copy()
    mask = np.zeros((16, 16), np.uint8)
    mask[4:12, 4:12] = 255
    template[mask == 0] = 255 - template[mask == 0]  # corrupt everything the mask hides
    responses = match_all(target, template, mask=mask)
    for method in METHODS:
        if method in ("TM_CCORR",):
            continue  # raw correlation favours bright windows, masked or not
        assert (responses.best(method).x, responses.best(method).y) == (30, 20), method
    assert responses["TM_CCOEFF_NORMED"][20, 30] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    "target, template, kwargs, message",
    [
        (np.zeros((10, 10), np.uint8), np.zeros((11, 5), np.uint8), {}, "larger than the target"),
        (np.zeros((10, 10, 3), np.uint8), np.zeros((5, 5), np.uint8), {}, "channel"),
        (np.zeros((10, 10), np.uint8), np.ones((5, 5), np.uint8), {"methods": ["TM_FOO"]}, "unknown method 'TM_FOO'"),
        (np.zeros((10, 10), np.uint8), np.ones((5, 5), np.uint8), {"mask": np.ones((4, 5))}, "does not fit the template"),
        (np.zeros((10, 10), np.uint8), np.ones((5, 5), np.uint8), {"mask": np.zeros((5, 5))}, "selects no pixel"),
        (np.full((10, 10), np.nan, np.float32), np.ones((5, 5), np.float32), {}, "NaN or Inf"),
        (np.zeros((10, 10), np.int32), np.ones((5, 5), np.int32), {}, "pixel type int32"),
        (np.zeros((10, 10, 4), np.uint8), np.ones((5, 5, 4), np.uint8), {}, "not an image"),
    ],
)
def test_bad_input_raises_parameter_error(target, template, kwargs, message):
    with pytest.raises(ParameterError, match=message):
        match_all(target, template, **kwargs)


def test_best_match_agrees_with_minmaxloc():
    rng = np.random.default_rng(9)
    response = rng.random((30, 40)).astype(np.float32)
    low, high, low_at, high_at = cv2.minMaxLoc(response)
    assert best_match(response, "TM_SQDIFF") == Match(low_at[0], low_at[1], low)
    assert best_match(response, "TM_CCOEFF") == Match(high_at[0], high_at[1], high)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(METHODS), st.floats(0.0, 0.9), st.integers(1, 8))
def test_find_peaks_are_local_extrema_without_overlap(seed, method, max_overlap, k):
    rng = np.random.default_rng(seed)
    target = cv2.GaussianBlur(rng.integers(0, 256, (80, 90)).astype(np.uint8), (0, 0), 2)
    template = rng.integers(0, 256, (9, 11)).astype(np.uint8)
    if np.ptp(template) == 0:
        return
    responses = match_all(target, template)
    peaks = find_peaks(responses[method], method, template.shape, k=k, max_overlap=max_overlap,
                       degenerate=responses.degenerate[method])
    assert 1 <= len(peaks) <= k
    assert peaks[0] == responses.best(method) or peaks[0].score == responses.best(method).score
    sign = -1 if METHOD_INFO[method].lower_is_better else 1
    scores = [sign * p.score for p in peaks]
    assert scores == sorted(scores, reverse=True)
    for i, a in enumerate(peaks):
        for b in peaks[i + 1:]:
            assert iou((a.x, a.y, 11, 9), (b.x, b.y, 11, 9)) <= max_overlap + 1e-12
    # min_score keeps only matches at least that good
    threshold = peaks[-1].score
    kept = find_peaks(responses[method], method, template.shape, k=k, max_overlap=max_overlap,
                      min_score=threshold, degenerate=responses.degenerate[method])
    assert all(sign * p.score >= sign * threshold for p in kept)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("channels", [1, 3])
def test_many_templates_equal_one_at_a_time(dtype, channels):
    # Shared window sums must not change a single value: same sizes, mixed sizes, a mask.
    rng = np.random.default_rng(21)
    target = _random_image(rng, (70, 90) + (() if channels == 1 else (3,)), dtype)
    templates = [target[y:y + 12, x:x + 15].copy() for y, x in ((3, 4), (30, 50), (41, 7))]
    templates += [target[10:30, 20:29].copy(), _random_image(rng, (12, 15) + templates[0].shape[2:], dtype)]
    masks = [None, None, (rng.random((12, 15)) > 0.3).astype(np.uint8), None, None]
    together = match_many(target, templates, masks=masks)
    for template, mask, responses in zip(templates, masks, together):
        alone = match_all(target, template, mask=mask)
        assert list(responses) == list(alone)
        for method in METHODS:
            np.testing.assert_array_equal(responses[method], alone[method])
            assert (responses.degenerate[method] is None) == (alone.degenerate[method] is None)


def test_batch_keeps_other_templates_when_one_is_degenerate_or_too_large():
    rng = np.random.default_rng(22)
    target = rng.integers(0, 256, (40, 40)).astype(np.uint8)
    good = target[5:15, 6:16].copy()
    flat = np.full((10, 10), 9, np.uint8)
    huge = np.zeros((50, 10), np.uint8)
    good_map, flat_maps, huge_maps = match_batch(target, [good, flat, huge], METHODS)
    alone = match_all(target, good)
    for method in METHODS:
        np.testing.assert_array_equal(good_map[method][0], alone[method])
        assert huge_maps[method].startswith("skipped: template (10x50 px) is larger than the target")
    assert flat_maps["TM_CCOEFF_NORMED"].startswith("undefined: template has zero variance")
    assert all(not isinstance(flat_maps[m], str) for m in METHODS if m != "TM_CCOEFF_NORMED")
    with pytest.raises(DegenerateError, match="zero variance"):
        match_many(target, [good, flat])
    with pytest.raises(ParameterError, match="2 masks for 1 templates"):
        match_many(target, [good], masks=[None, None])


def test_batch_size_keeps_the_maps_of_a_slice_within_the_budget():
    for target, shapes, budget in (((768, 1024), [(64, 64)], 96 * 2**20), ((2000, 2000), [(9, 9), (300, 40)], 2**26),
                                   ((50, 50), [(50, 50)], 10), ((100, 80), [], 2**20)):
        n = batch_size(target, shapes, budget)
        h = min((s[0] for s in shapes), default=1)
        w = min((s[1] for s in shapes), default=1)
        one = 6 * 4 * (target[0] - h + 1) * (target[1] - w + 1)
        assert n >= 1
        assert n == 1 or n * one <= budget
        assert (n + 1) * one > budget


def _reference_peaks(score, shape, k, max_overlap):
    """Greedy NMS the plain way: 3x3 maxima by dilation, a full sort, pairwise IoU."""
    h, w = shape
    neighbourhood = cv2.dilate(score, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    ys, xs = np.nonzero((score >= neighbourhood) & np.isfinite(score))
    order = np.lexsort((xs, ys, -score[ys, xs]))
    peaks = []
    for y, x in zip(ys[order], xs[order]):
        if all(iou((x, y, w, h), (px, py, w, h)) <= max_overlap for px, py, _ in peaks):
            peaks.append((int(x), int(y), float(score[y, x])))
        if len(peaks) == k:
            break
    return peaks


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), k=st.integers(1, 40), plateau=st.sampled_from([0.0, 0.5, 0.95]),
       levels=st.sampled_from([0, 4, 50]), max_overlap=st.sampled_from([0.0, 0.3, 0.9]))
def test_peaks_equal_a_plain_greedy_nms(seed, k, plateau, levels, max_overlap):
    # Plateaus (a saturated map), coarse levels (many ties), excluded positions, and enough
    # candidates that only a best part of them is sorted at first.
    rng = np.random.default_rng(seed)
    score = rng.random((int(rng.integers(1, 90)), int(rng.integers(1, 90)))).astype(np.float32)
    if levels:
        score = np.round(score * levels).astype(np.float32)
    score[rng.random(score.shape) < plateau] = score.min()
    score[rng.random(score.shape) < 0.05] = -np.inf
    shape = (int(rng.integers(1, 12)), int(rng.integers(1, 12)))
    from fractal_match.engine.peaks import peaks_of_score

    assert peaks_of_score(score, shape, k, None, max_overlap) == _reference_peaks(score, shape, k, max_overlap)


# --- value scales: a template array on another scale than its target is refused ------------------

def test_a_generated_template_is_matched_on_the_targets_scale_and_never_as_unit_floats():
    """The IFS of an eye crop: a float32 Template on 0-1 against a uint8 photo. Passed as the
    Template it gives the answer of its uint8 picture; its bare 0-1 array is refused (matched as
    it was, TM_SQDIFF_NORMED chose the corner (0, 0) and TM_SQDIFF a window 33 px from the
    uint8 answer)."""
    from fractal_match import fractalize, load_image
    from fractal_match.datasets import find_annotation
    from fractal_match.geometry import crop

    eye = find_annotation("chelsea/left-eye")
    target = load_image(eye.image, "gray")
    template = fractalize(crop(target, eye.box), "ifs")
    assert template.image.dtype == np.float32 and 0 < template.image.max() <= 1
    as_template, as_uint8 = match_all(target, template), match_all(target, template.to_uint8())
    for method in METHODS:
        np.testing.assert_array_equal(as_template[method], as_uint8[method])
    with pytest.raises(ParameterError, match=r"^template: float values in \[0, 1\] are not on the scale of a uint8 "
                                             r"target \(0-255\); pass the Template itself, template.to_uint8\(\)"):
        match_all(target, template.image)
    with pytest.raises(ParameterError, match="not on the scale"):
        match_many(target, [template.to_uint8(), template.image])


@pytest.mark.parametrize("target_dtype", ["uint8", "uint16", "float32"])
def test_a_template_object_takes_the_scale_of_every_target_type(target_dtype):
    from fractal_match import Template

    rng = np.random.default_rng(5)
    unit = rng.random((40, 50)).astype(np.float32)
    full = {"uint8": 255, "uint16": 65535, "float32": 1}[target_dtype]
    target = np.rint(unit * full).astype(target_dtype) if full > 1 else unit
    template = Template(unit[10:22, 5:20].copy(), None, "none")
    responses = match_all(target, template)
    for method in METHODS:
        assert (responses.best(method).x, responses.best(method).y) == (5, 10), method
    assert responses["TM_SQDIFF"][10, 5] <= 1e-6 * responses["TM_SQDIFF"].max()  # the same values, not rescaled ones
    # a float target on 0-255 gets the template on 0-255 too
    on_255 = match_all(unit * np.float32(255), template)
    assert on_255["TM_SQDIFF"][10, 5] <= 1e-6 * on_255["TM_SQDIFF"].max()
    with pytest.raises(ParameterError, match="a float image reaching 999.* has no known value scale"):
        match_all(unit * np.float32(1000), template)


@pytest.mark.parametrize("target, template, message", [
    (np.full((20, 20), 200, np.uint16), np.full((5, 5), 0.5, np.float32), r"uint16 target \(0-65535\)"),
    (np.full((20, 20), 0.5, np.float32), np.full((5, 5), 200, np.uint8), "not on the scale of a float target in"),
    (np.full((20, 20), 200, np.uint8), np.full((5, 5), 4000, np.uint16), "uint16 values up to 4000"),
])
def test_a_plain_array_that_cannot_be_on_the_targets_scale_is_one_line(target, template, message):
    with pytest.raises(ParameterError, match=message) as error:
        match_all(target, template)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("target, template", [
    (np.full((20, 20), 200, np.uint8), np.full((5, 5), 180.0, np.float32)),  # a float array on 0-255
    (np.eye(20, dtype=np.uint8), np.eye(5, dtype=np.float32)),  # a 0/1 target: any 0-1 template is on its scale
    (np.full((20, 20), 0.5, np.float32), np.eye(5, dtype=np.uint8)),  # 0/1 integers against floats on 0-1
    (np.full((20, 20), 30000, np.uint16), np.full((5, 5), 200, np.uint8)),  # a dark uint8 patch may be on 0-65535
    (np.full((20, 20), 200, np.uint8), np.zeros((5, 5), np.float32)),  # zero is zero on every scale
])
def test_arrays_that_may_be_on_the_targets_scale_are_matched_as_they_are(target, template):
    assert set(match_all(target, template, ("TM_SQDIFF", "TM_CCORR"))) == {"TM_SQDIFF", "TM_CCORR"}


def test_the_methods_that_do_not_depend_on_the_scale_take_any_scale():
    """CCORR_NORMED and CCOEFF_NORMED are unchanged by scaling the template: a 0-1 float array
    against a uint8 target gives exactly the maps of its 0-255 version."""
    rng = np.random.default_rng(8)
    target = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    unit = target[5:17, 8:22].astype(np.float32) / 255
    methods = ("TM_CCORR_NORMED", "TM_CCOEFF_NORMED")
    scaled, plain = match_all(target, unit, methods), match_all(target, unit * np.float32(255), methods)
    for method in methods:
        np.testing.assert_allclose(scaled[method], plain[method], atol=1e-5)
    with pytest.raises(ParameterError, match="not on the scale"):
        match_all(target, unit, ("TM_CCORR_NORMED", "TM_SQDIFF"))


def test_a_uint16_target_is_not_told_to_use_to_uint8():
    with pytest.raises(ParameterError) as error:
        match_all(np.full((20, 20), 3000, np.uint16), np.full((5, 5), 0.5, np.float32))
    assert "to_uint8" not in str(error.value) and "times 65535" in str(error.value)


def test_a_float_target_just_above_one_is_still_on_0_to_1():
    from fractal_match.images import on_target_scale

    target = np.full((10, 10), 1.0005, np.float32)
    assert on_target_scale(np.full((3, 3), 0.5, np.float32), target).max() == pytest.approx(0.5)
    assert on_target_scale(np.full((3, 3), 0.5, np.float32), target * 100).max() == pytest.approx(127.5)
