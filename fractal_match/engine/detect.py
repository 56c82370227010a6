"""One target, one kernel (and its variants): match with every method and keep the peaks."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .._checks import check_positive_int
from ._methods import METHODS, Match, check_methods, map_flatness
from .matching import match_all
from .peaks import find_peaks
from ..progress import Progress, ensure

MATCH_COLUMNS = ("variant", "method", "rank", "x", "y", "w", "h", "score", "degenerate", "status")

#: The columns added when a detection is judged against a true box (see :meth:`Detection.judge`).
JUDGED_COLUMNS = ("hit", "center_error", "iou")


@dataclass(frozen=True)
class Variant:
    """One template shown in a detection grid: its name, picture, and per-method results."""

    name: str
    template: np.ndarray
    responses: Mapping[str, np.ndarray]
    best: Mapping[str, Match | None]  # None: the map is flat, no detection (see `flat`)
    flat: Mapping[str, str] = field(default_factory=dict)  # method -> why its map gives no detection


@dataclass
class Detection:
    """The outcome of matching several templates against one target."""

    target: np.ndarray
    methods: tuple[str, ...]
    variants: list[Variant] = field(default_factory=list)
    peaks: dict = field(default_factory=dict)  # (variant, method) -> list[Match]
    degenerate: dict = field(default_factory=dict)  # (variant, method) -> count
    seconds: float = 0.0  # time spent matching (not loading, making templates or drawing)
    truth: object = None  # a metrics.Truth once judged

    def judge(self, truth) -> None:
        """Judge every peak against `truth` (a :class:`~fractal_match.engine.metrics.Truth`) by
        the engine's rule, as runs do: see :meth:`judgement`."""
        self.truth = truth

    def judgement(self, variant: Variant, match: Match | None) -> tuple[bool, float, float] | None:
        """(hit, centre error, IoU) of `match` of `variant`'s template, or None when not judged;
        no match (a flat map) is a miss with no error or IoU."""
        if self.truth is None:
            return None
        if match is None:
            return False, float("nan"), float("nan")
        from .metrics import is_hit

        hit, error, overlap = is_hit(match.x, match.y, variant.template.shape, self.truth)
        return bool(hit), float(error), float(overlap)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of :meth:`rows`: :data:`MATCH_COLUMNS`, and :data:`JUDGED_COLUMNS` when judged."""
        return MATCH_COLUMNS + (JUDGED_COLUMNS if self.truth is not None else ())

    def rows(self) -> list[dict]:
        """One row per (variant, method, rank), the columns of :attr:`columns` (hit as 1 or 0)."""
        rows = []
        for variant in self.variants:
            h, w = variant.template.shape[:2]
            for method in self.methods:
                if method in variant.flat:  # one row saying why there is no detection
                    row = {"variant": variant.name, "method": method, "rank": "", "x": "", "y": "", "w": w, "h": h,
                           "score": "", "degenerate": self.degenerate[variant.name, method],
                           "status": variant.flat[method]}
                    if self.truth is not None:
                        row.update(hit=0, center_error="", iou="")
                    rows.append(row)
                    continue
                for rank, match in enumerate(self.peaks[variant.name, method], start=1):
                    row = {"variant": variant.name, "method": method, "rank": rank, "x": match.x,
                           "y": match.y, "w": w, "h": h, "score": f"{match.score:.9g}",
                           "degenerate": self.degenerate[variant.name, method], "status": "ok"}
                    judged = self.judgement(variant, match)
                    if judged is not None:
                        row.update(hit=int(judged[0]), center_error=f"{judged[1]:.3f}", iou=f"{judged[2]:.3f}")
                    rows.append(row)
        return rows


def detect(target: np.ndarray, templates: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
           methods: Sequence[str] = METHODS, top_k: int = 1, progress: Progress | None = None) -> Detection:
    """Match each (name, template, mask) against `target` with all `methods` in one pass each."""
    methods = check_methods(methods)
    top_k = check_positive_int(top_k, "top-k", 1, 1000)
    detection = Detection(target, methods)
    started = time.perf_counter()
    with ensure(progress).step("matching", total=len(templates)) as task:
        for name, template, mask in templates:
            _detect_one(detection, target, name, template, mask, top_k)
            task.advance()
    detection.seconds = time.perf_counter() - started
    return detection


def _detect_one(detection: Detection, target, name: str, template, mask, top_k: int) -> None:
    """Match one template with every method of `detection`; add its peaks and best matches."""
    methods = detection.methods
    responses = match_all(target, template, methods, mask=mask)
    best, flat = {}, {}
    for method in methods:
        degenerate = responses.degenerate.get(method)
        detection.degenerate[name, method] = responses.degenerate_count(method)
        reason = map_flatness(responses[method], method, degenerate, target, template, mask)
        if reason is not None:  # every defined position ties: no detection, no peaks
            best[method], flat[method] = None, reason
            detection.peaks[name, method] = []
            continue
        best[method] = responses.best(method)
        detection.peaks[name, method] = find_peaks(responses[method], method, template.shape, k=top_k,
                                                   degenerate=degenerate) or [best[method]]
    detection.variants.append(Variant(name, template, responses, best, flat))


def matches_csv(detection: Detection) -> bytes:
    """The matches table as CSV bytes."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=detection.columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(detection.rows())
    return buffer.getvalue().encode("utf-8")


def best_table(detection: Detection) -> list[tuple[str, str, Match | None, int]]:
    """(variant, method, best match or None for a flat map, degenerate count) for printing."""
    return [(v.name, m, v.best[m], detection.degenerate[v.name, m]) for v in detection.variants for m in detection.methods]
