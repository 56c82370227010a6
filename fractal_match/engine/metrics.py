"""Per-case, per-method measures of how well a response map finds the ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .._errors import FlatMapError
from ._methods import METHOD_INFO, best_match, flat_reason, is_flat, score_map
from ._fused import scan_map
from ._scan import best_outside
from ..geometry import Box, iou
from .peaks import peaks_of_candidates

#: IoU thresholds of the success curve (the template-matching papers' protocol).
SUCCESS_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(21))

#: Half-size of the window around the peak that is left out of the sidelobe for PSR.
PSR_EXCLUDE = 5


@dataclass(frozen=True)
class Truth:
    """Where the object is in a target, and what counts as finding it.

    ``criterion`` "center": hit when the detected box's centre is within ``center_fraction`` x
    min(w, h) of the object's true size (used for scale/rotation sweeps, where IoU cannot exceed
    min(s, 1/s)^2); "iou": hit when IoU > ``iou_threshold`` (used for pairs datasets).

    A detection's box is the template's footprint at the matched position, or, with
    ``footprint = (w, h)``, a box of that size about the footprint's centre: the box the template
    stands for (a square template made from a 45 x 32 kernel is judged as a 45 x 32 box, so that
    it can reach the IoU the kernel itself can). The centre, and so the "center" rule, is the same
    either way.
    """

    box: Box
    center: tuple[float, float]
    size: tuple[float, float]  # the transformed object's (w, h), before axis-aligning
    criterion: str = "center"
    center_fraction: float = 0.25
    iou_threshold: float = 0.5
    footprint: tuple[float, float] | None = None

    def judged(self, template_shape) -> tuple[float, float, float, float]:
        """(dx, dy, w, h): a detection at top-left (x, y) of a template of `template_shape` is
        judged as the box (x + dx, y + dy, w, h)."""
        th, tw = template_shape[:2]
        if self.footprint is None:
            return 0.0, 0.0, float(tw), float(th)
        fw, fh = self.footprint
        return (tw - fw) / 2.0, (th - fh) / 2.0, float(fw), float(fh)

    @property
    def radius(self) -> float:
        return self.center_fraction * min(self.size)


def rule_text(criterion: str, center_fraction: float = 0.25, iou_threshold: float = 0.5) -> str:
    """What counts as a hit under `criterion`, in words (for pages, terminals and metadata)."""
    if criterion == "center":
        return f"the detection's centre within {center_fraction:g} x the object's shorter side of the true centre"
    return f"IoU > {iou_threshold:g} of the box the template stands for with the true box"


def hit_region(shape: tuple[int, int], template_shape: tuple[int, ...], truth: Truth) -> np.ndarray:
    """Boolean map over template positions: would a detection there count as a hit?"""
    th, tw = template_shape[:2]
    ys = np.arange(shape[0], dtype=np.float64)[:, None]
    xs = np.arange(shape[1], dtype=np.float64)[None, :]
    if truth.criterion == "center":
        return (xs + tw / 2.0 - truth.center[0]) ** 2 + (ys + th / 2.0 - truth.center[1]) ** 2 <= truth.radius**2
    dx, dy, jw, jh = truth.judged(template_shape)
    xs, ys = xs + dx, ys + dy
    bx, by, bw, bh = truth.box
    inter = np.maximum(0.0, np.minimum(xs + jw, bx + bw) - np.maximum(xs, bx)) * \
        np.maximum(0.0, np.minimum(ys + jh, by + bh) - np.maximum(ys, by))
    return inter / (jw * jh + bw * bh - inter) > truth.iou_threshold


def is_hit(x: float, y: float, template_shape, truth: Truth) -> tuple[bool, float, float]:
    """(hit, centre error, IoU) of a detection with top-left (x, y)."""
    th, tw = template_shape[:2]
    error = math.hypot(x + tw / 2.0 - truth.center[0], y + th / 2.0 - truth.center[1])
    dx, dy, jw, jh = truth.judged(template_shape)
    overlap = iou((x + dx, y + dy, jw, jh), truth.box)
    hit = error <= truth.radius if truth.criterion == "center" else overlap > truth.iou_threshold
    return hit, error, overlap


def peak_to_sidelobe(response: np.ndarray, method: str, degenerate: np.ndarray | None = None) -> float:
    """(peak - mean of sidelobe) / std of sidelobe; the sidelobe is every defined position outside
    an 11x11 window around the peak (SQDIFF maps negated). NaN when the sidelobe is flat or empty."""
    score = score_map(response, method)
    valid = np.ones(score.shape, bool) if degenerate is None else ~degenerate
    best = best_match(response, method, degenerate)
    side = valid.copy()
    side[max(0, best.y - PSR_EXCLUDE): best.y + PSR_EXCLUDE + 1, max(0, best.x - PSR_EXCLUDE): best.x + PSR_EXCLUDE + 1] = False
    values = score[side]
    spread = float(values.std(dtype=np.float64)) if values.size else 0.0
    if values.size < 2 or spread == 0:
        return float("nan")
    return float((float(score[best.y, best.x]) - values.mean(dtype=np.float64)) / spread)


def margin(response: np.ndarray, method: str, region: np.ndarray, degenerate: np.ndarray | None = None) -> float:
    """(best score in the hit region - best outside) / (max - min), SQDIFF negated; positive
    means the truth wins. NaN when either side is empty or the map is flat."""
    score = score_map(response, method)
    valid = np.ones(score.shape, bool) if degenerate is None else ~degenerate
    inside, outside = score[region & valid], score[~region & valid]
    span = float(score[valid].max() - score[valid].min()) if valid.any() else 0.0
    if inside.size == 0 or outside.size == 0 or span == 0:
        return float("nan")
    return float((inside.max() - outside.max()) / span)


def _region_window(shape, template_shape, truth: Truth) -> tuple[slice, slice]:
    """Rows and columns of template positions that can possibly be hits (a box around the region)."""
    th, tw = template_shape[:2]
    if truth.criterion == "center":
        reach = truth.radius
        cx, cy = truth.center[0] - tw / 2.0, truth.center[1] - th / 2.0
        x0, x1, y0, y1 = cx - reach, cx + reach, cy - reach, cy + reach
    else:  # IoU > t needs the boxes to overlap
        dx, dy, jw, jh = truth.judged(template_shape)
        bx, by, bw, bh = truth.box
        x0, x1, y0, y1 = bx - jw - dx, bx + bw - dx, by - jh - dy, by + bh - dy
    rows = slice(max(0, int(math.floor(y0))), max(0, min(shape[0], int(math.ceil(y1)) + 1)))
    cols = slice(max(0, int(math.floor(x0))), max(0, min(shape[1], int(math.ceil(x1)) + 1)))
    return rows, cols


def evaluate(response: np.ndarray, method: str, template_shape, truth: Truth, degenerate: np.ndarray | None = None,
             top_k: int = 5, nms_overlap: float = 0.3, instances=None) -> dict:
    """Every per-case measure for one method's map: best x, y, score; centre error; IoU; hit; PSR;
    margin; rank of the first hit among the NMS peaks (0 if none of the top k); degenerate count.

    One float32 score map is made and everything is read from it (same values as
    :func:`peak_to_sidelobe`, :func:`margin` and :func:`~fractal_match.engine.peaks.find_peaks`).
    A map with no spread over its defined positions points nowhere: :class:`FlatMapError`. Judged
    here against the scores' own size, which finds fewer flat maps than the engine's rule against
    the size of the terms (:func:`._methods.map_flatness`), which callers that know the target and
    template apply first. With `instances`, the truths of every object of
    the label in the photo (the posed target), the top-k peaks are also matched to them:
    :func:`instance_measures`.
    """
    score = score_map(response, method, degenerate, copy=False)  # read only: no copy unless it must change
    best, shift, count, total, total_sq, low, indices, values = scan_map(score, np.float32(-np.inf))
    if best < 0:
        best_match(response, method, degenerate)  # raises the DegenerateError that says why
    y, x = divmod(int(best), score.shape[1])
    peak = float(score[y, x])
    if is_flat(peak, low, method, max(abs(peak), abs(float(low)))):
        raise FlatMapError(flat_reason(method, -peak if METHOD_INFO[method].lower_is_better else peak))
    hit, error, overlap = is_hit(x, y, template_shape, truth)
    peaks = peaks_of_candidates(indices, values, score.shape[1], template_shape, top_k, nms_overlap)
    rank = next((i + 1 for i, (px, py, _) in enumerate(peaks) if is_hit(px, py, template_shape, truth)[0]), 0)
    # PSR: the sidelobe is every defined position outside the 11x11 window around the peak
    window = score[max(0, y - PSR_EXCLUDE): y + PSR_EXCLUDE + 1, max(0, x - PSR_EXCLUDE): x + PSR_EXCLUDE + 1]
    psr = sidelobe_psr(peak, shift, count, total, total_sq, window)
    # margin: best where a detection would be a hit minus best elsewhere, over the range
    rows, cols = _region_window(score.shape, template_shape, truth)
    local = score[rows, cols]
    region = hit_region(local.shape, template_shape, _shifted(truth, cols.start, rows.start)) & np.isfinite(local)
    low = low if count else 0.0
    result_margin = float("nan")
    if region.any() and region.sum() < count and peak > low:
        inside = float(local[region].max())
        peak_inside = rows.start <= y < rows.stop and cols.start <= x < cols.stop and region[y - rows.start, x - cols.start]
        # the best outside is the peak itself, unless the peak is in the region: then one more pass
        outside = best_outside(score, rows.start, cols.start, region) if peak_inside else peak
        if np.isfinite(outside):
            result_margin = (inside - outside) / (peak - low)
    found = {
        "x": x, "y": y, "score": float(response[y, x]), "center_error": error, "iou": overlap, "hit": int(hit),
        "psr": psr, "margin": result_margin, "rank": rank,
        "degenerate": 0 if degenerate is None else int(np.count_nonzero(degenerate)),
    }
    if instances is not None:
        found.update(instance_measures(peaks, template_shape, instances))
    return found


# --- every instance: a photo's objects of one label against the ranked peaks ---------------------

#: The columns a row gains when a run judges every instance in the photo ([evaluation] instances =
#: "image"): the photo's objects of the label, the peaks ranked (at most top_k), the ranks of the
#: peaks that found an object (space-separated), recall at top_k and average precision.
INSTANCE_MEASURES = ("objects", "peaks", "matched", "recall", "ap")

#: COCO's recall thresholds for its interpolated average precision: 0, 0.01, ..., 1.
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)


def match_instances(peaks, template_shape, truths, shapes=None) -> list[int]:
    """For each peak (x, y, ...) in rank order, the index in `truths` of the object it finds, or
    -1. Greedy, as the detection benchmarks match: each peak takes, among the objects no better
    peak took, the one it fits best under the rule (highest IoU; or, under the centre rule, the
    smallest centre error over that object's radius); ties go to the object listed last, as
    COCOeval's matching does. Each object is found at most once. `shapes`: each peak's own
    (h, w), for detections of several sizes (a detector's boxes)."""
    taken = [False] * len(truths)
    found = []
    for number, peak in enumerate(peaks):
        px, py = peak[0], peak[1]
        shape = template_shape if shapes is None else shapes[number]
        choice, fit = -1, None
        for index, truth in enumerate(truths):
            if taken[index]:
                continue
            hit, error, overlap = is_hit(px, py, shape, truth)
            if not hit:
                continue
            value = overlap if truth.criterion != "center" else -error / truth.radius if truth.radius > 0 else 0.0
            if fit is None or value >= fit:
                choice, fit = index, value
        if choice >= 0:
            taken[choice] = True
        found.append(choice)
    return found


def average_precision(hits, objects: int) -> float:
    """Average precision of ranked detections (`hits`: whether each, best first, found an
    object) against `objects` objects, as COCO computes it: precision made non-increasing from
    the right, read at the 101 recall thresholds (the first detection reaching each; 0 past the
    last recall reached) and averaged. NaN when there is no object."""
    if objects <= 0:
        return float("nan")
    hits = np.asarray(hits, bool)
    if hits.size == 0:
        return 0.0
    tp = np.cumsum(hits, dtype=np.float64)
    fp = np.cumsum(~hits, dtype=np.float64)
    recall = tp / objects
    precision = tp / (fp + tp + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    at = np.searchsorted(recall, RECALL_THRESHOLDS, side="left")
    values = np.where(at < precision.size, precision[np.minimum(at, precision.size - 1)], 0.0)
    return float(values.mean())


def recall_at(ranks, objects: int, k: int) -> float:
    """The share of `objects` found by the peaks of rank at most `k` (`ranks`: the ranks of the
    peaks that found one, each object at most once). Never decreases with k."""
    return sum(1 for rank in ranks if rank <= k) / objects if objects > 0 else float("nan")


def instance_measures(peaks, template_shape, truths, shapes=None) -> dict:
    """The :data:`INSTANCE_MEASURES` of ranked peaks against a photo's objects (`truths`)."""
    found = match_instances(peaks, template_shape, truths, shapes)
    ranks = [rank for rank, index in enumerate(found, start=1) if index >= 0]
    objects = len(truths)
    return {"objects": objects, "peaks": len(peaks), "matched": " ".join(map(str, ranks)),
            "recall": recall_at(ranks, objects, len(peaks)) if peaks else (0.0 if objects else float("nan")),
            "ap": average_precision([index >= 0 for index in found], objects)}


def status_of(exc: Exception) -> str:
    """A row's status for a map that gives no detection: "flat: ..." or "undefined: ..."."""
    return str(exc) if isinstance(exc, FlatMapError) else f"undefined: {exc}"


def sidelobe_psr(peak: float, shift: float, count: int, total: float, total_sq: float, window: np.ndarray) -> float:
    """PSR from a map's sums: `count` finite scores whose (score - `shift`) sum to `total` and
    whose squares sum to `total_sq`, less the finite scores of `window` (the 11x11 around the
    peak). NaN when fewer than two remain or they do not vary."""
    window = window[np.isfinite(window)].astype(np.float64) - shift
    side_n = count - window.size
    if side_n < 2:
        return float("nan")
    mean = (total - window.sum()) / side_n
    variance = max((total_sq - np.square(window).sum()) / side_n - mean * mean, 0.0)
    return (peak - shift - mean) / math.sqrt(variance) if variance > 0 else float("nan")


def _shifted(truth: Truth, dx: int, dy: int) -> Truth:
    """The same truth in the coordinates of a window whose origin is (dx, dy)."""
    box = Box(truth.box.x - dx, truth.box.y - dy, truth.box.w, truth.box.h)
    return replace(truth, box=box, center=(truth.center[0] - dx, truth.center[1] - dy))


def success_curve(ious) -> np.ndarray:
    """Fraction of cases with IoU above each threshold in :data:`SUCCESS_THRESHOLDS`."""
    ious = np.asarray(ious, np.float64)
    return np.array([(ious > t).mean() if ious.size else float("nan") for t in SUCCESS_THRESHOLDS])


def success_auc(ious) -> float:
    """Area under the success curve: the mean of the curve without its last point."""
    return float(success_curve(ious)[:-1].mean())
