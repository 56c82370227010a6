import math

import numpy as np
import pytest

from fractal_match.geometry import Box
from fractal_match.engine.metrics import (
    SUCCESS_THRESHOLDS,
    Truth,
    evaluate,
    hit_region,
    margin,
    peak_to_sidelobe,
    success_auc,
    success_curve,
)


def test_psr_of_a_single_peak_on_noise():
    rng = np.random.default_rng(0)
    response = rng.normal(0, 1, (60, 60)).astype(np.float32)
    response[30, 30] = 20
    psr = peak_to_sidelobe(response, "TM_CCOEFF")
    side = np.ones((60, 60), bool)
    side[25:36, 25:36] = False
    assert psr == pytest.approx((20 - response[side].mean()) / response[side].std(), rel=1e-6)
    # SQDIFF: lower is better, so the map is negated
    assert peak_to_sidelobe(-response, "TM_SQDIFF") == pytest.approx(psr, rel=1e-6)


def test_hit_criteria_and_evaluate():
    truth = Truth(Box(40, 30, 20, 10), (50.0, 35.0), (20.0, 10.0), "center", 0.25)
    response = np.zeros((80, 90), np.float32)
    response[30, 40] = 1.0  # the template (10 x 20) placed exactly on the object
    response[5, 70] = 0.9
    result = evaluate(response, "TM_CCORR_NORMED", (10, 20), truth)
    assert (result["x"], result["y"], result["hit"], result["rank"]) == (40, 30, 1, 1)
    assert result["center_error"] == 0 and result["iou"] == 1.0
    assert result["margin"] == pytest.approx(0.1)
    response[30, 40] = 0.5  # now the wrong peak wins; the truth is the second peak
    result = evaluate(response, "TM_CCORR_NORMED", (10, 20), truth)
    assert (result["hit"], result["rank"]) == (0, 2)
    assert result["margin"] == pytest.approx(-0.4 / 0.9)
    region = hit_region((80, 90), (10, 20), truth)
    assert region[30, 40] and region[31, 42] and not region[30, 50]  # radius 0.25 * 10 = 2.5 px


def test_iou_criterion_region():
    truth = Truth(Box(10, 10, 20, 20), (20.0, 20.0), (20.0, 20.0), "iou", iou_threshold=0.5)
    region = hit_region((50, 50), (20, 20), truth)
    assert region[10, 10] and region[12, 12] and not region[18, 18]


def test_margin_is_nan_when_the_truth_region_is_empty():
    response = np.random.default_rng(1).random((20, 20)).astype(np.float32)
    assert math.isnan(margin(response, "TM_CCOEFF", np.zeros((20, 20), bool)))


def test_success_curve_and_auc_follow_the_papers_protocol():
    assert len(SUCCESS_THRESHOLDS) == 21 and SUCCESS_THRESHOLDS[0] == 0 and SUCCESS_THRESHOLDS[-1] == 1
    ious = [0.0, 0.3, 0.55, 0.9]
    curve = success_curve(ious)
    assert curve[0] == 0.75 and curve[SUCCESS_THRESHOLDS.index(0.5)] == 0.5 and curve[-1] == 0.0
    assert success_auc(ious) == pytest.approx(np.mean(curve[:-1]))
    assert success_auc([1.0] * 5) == 1.0


@pytest.mark.parametrize("criterion", ["center", "iou"])
@pytest.mark.parametrize("method", ["TM_SQDIFF", "TM_CCOEFF_NORMED"])
def test_fast_evaluate_agrees_with_the_plain_definitions(criterion, method):
    from fractal_match.engine.matching import best_match
    from fractal_match.engine.peaks import find_peaks
    from fractal_match.engine.metrics import is_hit

    rng = np.random.default_rng(7)
    response = rng.random((70, 90)).astype(np.float32)
    degenerate = rng.random((70, 90)) < 0.05
    truth = Truth(Box(40, 30, 20, 12), (50.0, 36.0), (20.0, 12.0), criterion, 0.5, 0.3)
    result = evaluate(response, method, (12, 20), truth, degenerate, top_k=6, nms_overlap=0.2)
    best = best_match(response, method, degenerate)
    assert (result["x"], result["y"], result["score"]) == (best.x, best.y, best.score)
    assert result["psr"] == pytest.approx(peak_to_sidelobe(response, method, degenerate), rel=1e-6)
    region = hit_region(response.shape, (12, 20), truth)
    assert result["margin"] == pytest.approx(margin(response, method, region, degenerate), rel=1e-6)
    peaks = find_peaks(response, method, (12, 20), k=6, max_overlap=0.2, degenerate=degenerate)
    expected_rank = next((i + 1 for i, p in enumerate(peaks) if is_hit(p.x, p.y, (12, 20), truth)[0]), 0)
    assert result["rank"] == expected_rank
    assert result["degenerate"] == int(degenerate.sum())
