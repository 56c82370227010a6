"""The network itself as a reference row: PNet's pyramid detector, scored like a template match.

A template match gives a box of the template's size at its best position; the detector gives its
best box (any size). Both are judged by the same :class:`~fractal_match.engine.metrics.Truth` and hit
rule, and ranked the same way (the first hit among the top k boxes left by non-maximum
suppression), so that its hit rate sits in the same tables as the templates'. Score-map measures
(PSR, margin) have no meaning for a list of boxes and are NaN.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...geometry import iou
from ...engine.metrics import Truth, instance_measures, is_hit
from .nets import pnet_pyramid

#: Candidates considered for the ranking (by logit, before suppression).
CANDIDATES = 2000


def suppress(boxes: np.ndarray, k: int, max_overlap: float) -> list[np.ndarray]:
    """Greedy non-maximum suppression over boxes given best first: keep a box when it overlaps no
    kept one with IoU > `max_overlap`; at most `k`."""
    kept: list[np.ndarray] = []
    for row in boxes[:CANDIDATES]:
        if all(iou(tuple(row[:4]), tuple(other[:4])) <= max_overlap for other in kept):
            kept.append(row)
            if len(kept) == k:
                break
    return kept


def detector_measures(target: np.ndarray, truth: Truth, top_k: int = 5, nms_overlap: float = 0.3,
                      min_face: int = 20, instances=None) -> dict:
    """The measures of a result row for PNet's best box on `target` (gray or RGB, 0-255); with
    `instances` (the truths of the photo's objects) also its ranked boxes matched to them."""
    boxes = pnet_pyramid(target, min_face=min_face)
    if not len(boxes):
        raise ValueError(f"the target ({target.shape[1]} x {target.shape[0]} px) is smaller than the "
                         f"detector's smallest face ({min_face} px)")
    x, y, w, h, logit = boxes[0]
    hit, error, overlap = is_hit(x, y, (h, w), truth)
    ranked = suppress(boxes, top_k, nms_overlap)
    rank = next((i + 1 for i, b in enumerate(ranked) if is_hit(b[0], b[1], (b[3], b[2]), truth)[0]), 0)
    # x, y as the box's top-left corner, rounded as a template's position is; hit, error and IoU
    # are judged on the box as detected (a template's box has whole-pixel corners anyway)
    found = {"x": int(round(x)), "y": int(round(y)), "score": float(logit), "center_error": error, "iou": overlap,
             "hit": int(hit), "psr": float("nan"), "margin": float("nan"), "rank": rank, "degenerate": 0}
    if instances is not None:  # boxes are judged as detected, each by its own size
        found.update(instance_measures(ranked, None, [replace(t, footprint=None) for t in instances],
                                       [(b[3], b[2]) for b in ranked]))
    return found
