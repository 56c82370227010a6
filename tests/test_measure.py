"""The measures made without maps (engine/measure.py) equal the map-based reference: every method's
maps from match_batch, then evaluate / best_match / the pose search on them. Exact equality: the
fused pass makes the same float32 scores and takes every sum in the same order."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fractal_match.engine._methods import METHODS, best_match, map_flatness
from fractal_match.engine.matching import match_batch
from fractal_match.engine import _targets
from fractal_match.engine import measure as measure_module
from fractal_match.engine.measure import best_batch, measure_batch, search_measures
from fractal_match.engine.metrics import Truth, evaluate
from fractal_match.engine.pose_search import search
from fractal_match.geometry import Box, Pose, posed_template


def _reference(target, templates, methods, truth, top_k, nms_overlap):
    """match_batch's maps, each judged by evaluate (the map-based path the runs used before),
    a map with no spread first told flat by map_flatness (no detection)."""
    out = []
    for template, outcome in zip(templates, match_batch(target, templates, methods)):
        row = {}
        for method, found in outcome.items():
            if isinstance(found, str):
                row[method] = found
                continue
            try:
                row[method] = evaluate(found[0], method, template.shape, truth, found[1], top_k, nms_overlap)
            except Exception as exc:  # noqa: BLE001 - the reason is compared as text
                row[method] = f"undefined: {exc}"
            flat = map_flatness(found[0], method, found[1], target, template)
            if flat is not None:
                row[method] = flat
        out.append(row)
    return out


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = float(a[key]), float(b[key])
        if not (x == y or (math.isnan(x) and math.isnan(y))):
            return False
    return True


@st.composite
def cases(draw):
    """A target with the hard parts a map can have, templates cut from it (and a few made up),
    and a truth anywhere, the image edge and beyond included."""
    colour = draw(st.booleans())
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    shape = (height, width, 3) if colour else (height, width)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["noise", "levels", "flat", "zeros", "half-empty", "spot"]))
    levels = {"noise": 256, "levels": 3, "flat": 1}.get(kind, 256)
    target = rng.integers(0, levels, shape) * (255 // max(levels - 1, 1))
    if kind == "zeros":
        target[:] = 0
    elif kind == "half-empty":
        target[: height // 2] = 0  # windows with no energy: undefined normalised scores
    elif kind == "spot":
        target[:] = 9
        target[height // 3: height // 3 + 3, width // 3: width // 3 + 3] = 200  # flat around one spot: ties
    if draw(st.booleans()):
        target = target.astype(np.uint8)
    else:  # float, on multiples of 1/256: every window sum is exact, so the reference's blocks agree
        target = (target / 256.0).astype(np.float32)
    templates = []
    for _ in range(draw(st.integers(1, 4))):
        h, w = draw(st.integers(1, height)), draw(st.integers(1, width))
        y, x = draw(st.integers(0, height - h)), draw(st.integers(0, width - w))
        template = target[y:y + h, x:x + w].copy()
        if draw(st.booleans()):
            template = template[::-1, ::-1].copy()
        templates.append(template)
    if draw(st.booleans()):  # a same-size pair (shares one pass), and a constant template
        templates.append(np.full_like(templates[0], templates[0].flat[0]))
    bx, by = draw(st.integers(-10, width + 5)), draw(st.integers(-10, height + 5))
    bw, bh = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    criterion = draw(st.sampled_from(["center", "iou"]))
    truth = Truth(Box(bx, by, bw, bh), (bx + bw / 2.0, by + bh / 2.0), (float(bw), float(bh)), criterion,
                  draw(st.sampled_from([0.25, 1.0])), draw(st.sampled_from([0.1, 0.5])))
    methods = draw(st.sampled_from([METHODS, ("TM_CCOEFF_NORMED",), ("TM_SQDIFF", "TM_CCORR_NORMED")]))
    return target, templates, methods, truth, draw(st.integers(1, 6)), draw(st.sampled_from([0.0, 0.3, 1.0]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_measures_equal_the_map_based_reference(case):
    target, templates, methods, truth, top_k, nms_overlap = case
    expected = _reference(target, templates, methods, truth, top_k, nms_overlap)
    found = measure_batch(target, templates, methods, truth, top_k, nms_overlap)
    for want, got in zip(expected, found):
        for method in methods:
            assert _same(want[method], got[method]), (method, want[method], got[method])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases(), st.sampled_from([1, 2, 8]))
def test_measures_equal_the_reference_when_passes_keep_few_maxima(case, per_peak):
    """A pass keeps only each map's best local maxima: with 1 to 8 per peak asked for, NMS often
    needs more than were kept, and the map is scored again; the peaks (and every measure) stay
    those of the whole map."""
    target, templates, methods, truth, top_k, nms_overlap = case
    expected = _reference(target, templates, methods, truth, top_k, nms_overlap)
    kept = measure_module.MAXIMA_PER_PEAK
    measure_module.MAXIMA_PER_PEAK = per_peak
    try:
        found = measure_batch(target, templates, methods, truth, top_k, nms_overlap)
    finally:
        measure_module.MAXIMA_PER_PEAK = kept
    for want, got in zip(expected, found):
        for method in methods:
            assert _same(want[method], got[method]), (method, want[method], got[method])


def test_a_pass_keeps_a_maps_best_maxima_and_says_below_what():
    """On a map with many local maxima the pass keeps the best (every one >= the floor it
    reports, in row-major order) and drops the rest; with enough kept, nothing is dropped."""
    rng = np.random.default_rng(3)
    target = rng.integers(0, 256, (60, 70)).astype(np.uint8)
    templates = [target[10:15, 20:26].copy()]
    truth = Truth(Box(20, 10, 6, 5), (23.0, 12.5), (6.0, 5.0), "center", 0.25, 0.5)
    sums = _targets.integrals(target)
    kept = measure_module.MAXIMA_PER_PEAK
    measure_module.MAXIMA_PER_PEAK = 10
    try:
        few = measure_module._Pass(target, sums, templates, METHODS, truth, True, top_k=2)  # keeps the best 20
    finally:
        measure_module.MAXIMA_PER_PEAK = kept
    all_of_them = measure_module._Pass(target, sums, templates, METHODS, truth, True, top_k=0)
    for m in range(6):
        index_all = all_of_them._index[all_of_them._starts[m]:all_of_them._starts[m + 1]]
        score_all = all_of_them._score[all_of_them._starts[m]:all_of_them._starts[m + 1]]
        index_few = few._index[few._starts[m]:few._starts[m + 1]]
        floor = few._floor[0, m]
        assert len(index_all) > 100  # a map with many maxima: some are dropped
        assert floor > -np.inf and not all_of_them._floor[0, m] > -np.inf
        assert set(index_all[score_all >= floor]) <= set(index_few) <= set(index_all)
        assert np.all(np.diff(index_few) > 0)
        assert 20 <= len(index_few) < len(index_all)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_best_positions_equal_best_match_of_the_maps(case):
    target, templates, methods, *_ = case
    for template, outcome, got in zip(templates, match_batch(target, templates, methods), best_batch(target, templates, methods)):
        for method, found in outcome.items():
            if isinstance(found, str):
                assert got[method] == found
                continue
            try:
                want = best_match(found[0], method, found[1])
            except Exception as exc:  # noqa: BLE001
                want = f"undefined: {exc}"
            else:
                want = map_flatness(found[0], method, found[1], target, template) or want
            assert got[method] == want


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), colour=st.booleans(), levels=st.sampled_from([2, 256]))
def test_pose_search_winners_equal_the_map_based_search(seed, colour, levels):
    """A bank's winners and their measures: those of the map-based search, ties included (few
    grey levels make many members tie; the first in pose order wins)."""
    rng = np.random.default_rng(seed)
    shape = (48, 56, 3) if colour else (48, 56)
    target = (rng.integers(0, levels, shape) * (255 // (levels - 1))).astype(np.uint8)
    picture = target[10:26, 12:32].copy()
    scales, rotations = (0.8, 1.0, 1.25), (-30.0, 0.0, 30.0, 90.0)
    truth = Truth(Box(12, 10, 20, 16), (22.0, 18.0), (20.0, 16.0), "center")
    reference = search(target, picture, rotations, scales, METHODS)
    members = [posed_template(picture, Pose(s, r))[0] for s in scales for r in rotations]
    winners, problems = search_measures(target, members, METHODS, truth, 5, 0.3)
    assert set(winners) == set(reference.results)
    assert problems == reference.problems
    for method, result in reference.results.items():
        index, measures = winners[method]
        assert members[index].shape == result.template_shape
        assert (scales[index // len(rotations)], rotations[index % len(rotations)]) == (result.scale, result.rotation)
        want = evaluate(result.response, method, result.template_shape, truth, result.degenerate, 5, 0.3)
        assert _same(want, measures), (method, want, measures)


def test_a_perfect_match_scores_one_and_is_a_hit():
    rng = np.random.default_rng(3)
    target = rng.integers(0, 256, (60, 80), dtype=np.uint8)
    truth = Truth(Box(30, 20, 15, 12), (37.5, 26.0), (15.0, 12.0), "center")
    template = target[20:32, 30:45]
    found = measure_batch(target, [template], METHODS, truth)[0]
    assert found["TM_CCOEFF_NORMED"]["score"] == pytest.approx(1.0, abs=1e-5)
    # zero up to the float32 rounding of the correlation (about 1e-7 of the template's energy)
    assert 0.0 <= found["TM_SQDIFF"]["score"] <= 1e-6 * float(np.sum(template.astype(np.float64) ** 2))
    for method in METHODS[:2] + METHODS[3:]:  # raw CCORR favours bright windows, not the object
        assert (found[method]["x"], found[method]["y"], found[method]["hit"], found[method]["rank"]) == (30, 20, 1, 1)


def test_bad_templates_are_reported_per_template():
    target = np.zeros((20, 20), np.uint8)
    target[5:10, 5:10] = 100
    truth = Truth(Box(5, 5, 5, 5), (7.5, 7.5), (5.0, 5.0), "center")
    too_large, constant, good = np.ones((30, 4), np.uint8), np.full((4, 4), 7, np.uint8), target[4:11, 4:11].copy()
    found = measure_batch(target, [too_large, constant, good], METHODS, truth)
    assert all(v.startswith("skipped: template (4x30 px) is larger") for v in found[0].values())
    assert found[1]["TM_CCOEFF_NORMED"].startswith("undefined: template has zero variance")
    assert isinstance(found[1]["TM_CCORR_NORMED"], dict)
    assert found[2]["TM_CCOEFF_NORMED"]["hit"] == 1
