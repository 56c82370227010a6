"""One target, one kernel (and its variants): match with every method, keep the peaks, and write
the detection grid and a matches table. Everything is computed before anything is written."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ._checks import check_positive_int
from ._errors import ImageError
from .images import write_atomic
from .matching import METHODS, Match, check_methods, find_peaks, match_all

MATCH_COLUMNS = ("variant", "method", "rank", "x", "y", "w", "h", "score", "degenerate")


@dataclass
class Detection:
    """The outcome of matching several templates against one target."""

    target: np.ndarray
    methods: tuple[str, ...]
    variants: list = field(default_factory=list)  # report.figures.Variant
    peaks: dict = field(default_factory=dict)  # (variant, method) -> list[Match]
    degenerate: dict = field(default_factory=dict)  # (variant, method) -> count

    def rows(self) -> list[dict]:
        """One row per (variant, method, rank), the columns of :data:`MATCH_COLUMNS`."""
        rows = []
        for variant in self.variants:
            h, w = variant.template.shape[:2]
            for method in self.methods:
                for rank, match in enumerate(self.peaks[variant.name, method], start=1):
                    rows.append({"variant": variant.name, "method": method, "rank": rank, "x": match.x,
                                 "y": match.y, "w": w, "h": h, "score": f"{match.score:.9g}",
                                 "degenerate": self.degenerate[variant.name, method]})
        return rows


def detect(target: np.ndarray, templates: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
           methods: Sequence[str] = METHODS, top_k: int = 1) -> Detection:
    """Match each (name, template, mask) against `target` with all `methods` in one pass each."""
    from .report.figures import Variant  # figures are L2 too; imported late to keep start-up light

    methods = check_methods(methods)
    top_k = check_positive_int(top_k, "top-k", 1, 1000)
    detection = Detection(target, methods)
    for name, template, mask in templates:
        responses = match_all(target, template, methods, mask=mask)
        best = {}
        for method in methods:
            degenerate = responses.degenerate.get(method)
            best[method] = responses.best(method)
            detection.peaks[name, method] = find_peaks(responses[method], method, template.shape, k=top_k,
                                                       degenerate=degenerate) or [best[method]]
            detection.degenerate[name, method] = responses.degenerate_count(method)
        detection.variants.append(Variant(name, template, responses, best))
    return detection


def matches_csv(detection: Detection) -> bytes:
    """The matches table as CSV bytes."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MATCH_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(detection.rows())
    return buffer.getvalue().encode("utf-8")


def check_output_dir(out: Path) -> Path:
    """Refuse an output folder that is an existing file or cannot be created/written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ImageError(f"{out}: is an existing file (allowed: a folder, new or existing)")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ImageError(f"{out}: cannot be a folder, because {probe} is a file")
    import os

    if not os.access(probe, os.W_OK | os.X_OK):
        raise ImageError(f"{out}: folder is not writable")
    return out


def write_detection(detection: Detection, out, title: str, metadata: dict, truth=None) -> list[Path]:
    """Write detection_grid.png/.svg and matches.csv into `out` (atomically, file by file)."""
    from .report.figures import detection_grid, save_figure

    out = check_output_dir(Path(out))
    table = matches_csv(detection)  # computed before anything is written
    figure = detection_grid(detection.target, detection.variants, detection.methods, truth=truth, title=title)
    written = save_figure(figure, out / "detection_grid", metadata)
    written.append(write_atomic(out / "matches.csv", table))
    return written


def best_table(detection: Detection) -> list[tuple[str, str, Match, int]]:
    """(variant, method, best match, degenerate count) for printing."""
    return [(v.name, m, v.best[m], detection.degenerate[v.name, m]) for v in detection.variants for m in detection.methods]
