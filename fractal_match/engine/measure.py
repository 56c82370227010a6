"""Per-case measures straight from the correlation, without response maps.

A case needs, per method, the best position, its score, the peaks after non-maximum suppression,
the peak-to-sidelobe ratio and the margin over the hit region (:func:`.metrics.evaluate`). None of
that needs the five derived maps in memory. :func:`measure_batch` correlates each template once,
then one compiled pass per template size (:func:`._measures.scan_gray`) makes every method's score
row by row and consumes it where it is made. :func:`best_batch` is the same pass keeping only
each map's best position: what the members of a pose bank need.

The values are those of :func:`.matching.match_batch` followed by :func:`.metrics.evaluate`: the
scores are the same float32 numbers, and every sum is taken in the same order
(``tests/test_measure.py`` checks this against the map-based reference on random inputs). That
holds exactly for integer-valued targets (uint8, uint16, floats holding integers), whose window
sums are exact both ways; the maps slide their window sums down the rows, this pass reads them
from integral images, so for other float targets the two agree to the float64 rounding of the
window sums (about 1e-16 of a sum), which can move a score in its last float32 digit and, at a
window exactly on the flatness threshold, its flag. Masked templates take the map-based path.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import _measures, _targets
from .._errors import DegenerateError
from ._methods import FLAT_RTOL, METHOD_INFO, METHODS, Match, flat_status, map_flatness
from .matching import _masked_one_by_one, _Outcome, check_template, correlations, prepare_batch
from ._masked import match_masked
from .metrics import (PSR_EXCLUDE, Truth, _region_window, _shifted, evaluate, hit_region, instance_measures, is_hit,
                      sidelobe_psr, status_of)
from .peaks import peaks_of_candidates, peaks_of_score

#: bytes of correlations one pass may hold (one float32 map per template)
BUDGET = 96 * 2**20

#: local maxima a full pass keeps per map for each peak asked for: the best ones (and every one
#: tied with the last). NMS looks at the best 64 per peak first and rarely needs more; a map
#: whose NMS needs more than were kept is scored again, and all of its maxima are used.
MAXIMA_PER_PEAK = 1024


def _no_winner(method: str) -> str:
    return (f"undefined: every position is degenerate for {method} "
            "(the target has no contrast under any window)")


def _step(target_shape, size, full: bool = True) -> int:
    """How many same-size templates one pass takes: as many as fit in BUDGET their correlations
    and, for full passes, the local maxima of their six maps at worst (a flat map has one at
    every position, all kept when they tie: 8 + 4 bytes each, before and after grouping; the
    heaps of the kept ones are at most 4 bytes per position, see :class:`_Pass`)."""
    ny, nx = target_shape[0] - size[0] + 1, target_shape[1] - size[1] + 1
    per_template = 4 + (6 * 32 if full else 0)
    return max(1, BUDGET // (per_template * ny * nx))


def _masked(target, template, mask, methods, judge) -> dict:
    """{method: judge(responses, method)} of a masked template (made as maps), or the reason."""
    try:
        outcome = _Outcome(match_masked(target, template, mask, methods), {})
    except DegenerateError:  # undefined methods: the others one by one
        outcome = _masked_one_by_one(target, template, mask, methods)
    found = {m: f"undefined: {exc}" for m, exc in outcome.problems.items()}
    for m in outcome.responses:
        flat = map_flatness(outcome.responses[m], m, outcome.responses.degenerate.get(m), target, template, mask)
        if flat is not None:
            found[m] = flat
            continue
        try:
            found[m] = judge(outcome.responses, m)
        except DegenerateError as exc:
            found[m] = status_of(exc)
    return {m: found[m] for m in methods}


class _Pass:
    """One compiled pass over a target for same-size templates, and what it leaves."""

    def __init__(self, target, sums, templates, methods, truth: Truth | None, full, cc: np.ndarray | None = None,
                 top_k: int = 0):
        self.h, self.w = templates[0].shape[:2]
        self.methods = methods
        if cc is None:  # into this thread's scratch buffer: the pass reads it and is done with it
            shape = (len(templates), target.shape[0] - self.h + 1, target.shape[1] - self.w + 1)
            cc = correlations(target, templates, _targets.scratch("cc", shape, np.float32))
        self.cc = cc
        count, ny, nx = self.cc.shape
        self.nx = nx
        checked = [check_template(t, methods) for t in templates]
        self.problems = [problems for *_, problems in checked]
        self.tsq = np.array([c[0] for c in checked])
        self.tmean = np.array([c[1] / (self.h * self.w) for c in checked])
        self.tvar = np.array([c[2] for c in checked])
        wanted = np.zeros((count, 6), np.bool_)
        for k, problems in enumerate(self.problems):
            for m in methods:
                wanted[k, METHODS.index(m)] = m not in problems
        region, self.top, self.left = np.zeros((0, 0), np.bool_), 0, 0
        if truth is not None:
            rows, cols = _region_window((ny, nx), (self.h, self.w), truth)
            shape = (max(0, rows.stop - rows.start), max(0, cols.stop - cols.start))
            region = np.ascontiguousarray(hit_region(shape, (self.h, self.w), _shifted(truth, cols.start, rows.start)))
            self.top, self.left = rows.start, cols.start
        self.sums = sums
        scan = _measures.scan_colour if target.ndim == 3 else _measures.scan_gray
        (self.best, self.best_value, self.shift, self.count, self.total, self.total_sq, self.low, self.inside, self.inside_count,
         self.outside, self.empties, self.flats, self._index, self._score, self._starts, self._floor) = scan(
            self.cc, *sums, self.h, self.w, self.tsq, self.tmean, self.tvar, FLAT_RTOL, wanted,
            np.full(count, full, np.bool_), region, self.top, self.left, self._kept(top_k, ny * nx))

    @staticmethod
    def _kept(top_k: int, positions: int) -> int:
        """How many local maxima per map the pass keeps at least: MAXIMA_PER_PEAK per peak, or all
        (0) when that is a map's every position anyway (no heap larger than the map)."""
        kept = MAXIMA_PER_PEAK * top_k
        return 0 if kept >= positions else kept

    _energy: float | None = None

    def window_energy(self) -> float:
        """The largest sum of squares of a template-sized window of the target (made on first use)."""
        if self._energy is None:
            isq, h, w = self.sums[1], self.h, self.w
            windows = isq[h:, w:] - isq[:-h, w:] - isq[h:, :-w] + isq[:-h, :-w]
            self._energy = float(windows.max()) if windows.size else 0.0
        return self._energy

    def flat(self, k: int, m: int) -> str | None:
        """:func:`._methods.flat_status` of template k's map of method m, from the pass's best and
        minimum (the whole target's energy from its integral image)."""
        return flat_status(float(self.best_value[k, m]), float(self.low[k, m]), METHODS[m], self.tsq[k],
                           float(self.sums[1][-1, -1]), self.window_energy)

    def best_match(self, k: int, method: str) -> Match | str:
        """The best position of template k's map, or why it has none (no defined position; flat)."""
        m = METHODS.index(method)
        if self.best[k, m] < 0:
            return _no_winner(method)
        flat = self.flat(k, m)
        if flat is not None:
            return flat
        y, x = divmod(int(self.best[k, m]), self.nx)
        sign = -1.0 if METHOD_INFO[method].lower_is_better else 1.0
        return Match(x, y, sign * float(self.best_value[k, m]))

    def measures(self, k: int, method: str, truth: Truth, top_k: int, nms_overlap: float, instances=None) -> dict | str:
        """:func:`.metrics.evaluate`'s measures of template k's map, or why it has none (no
        defined position; a flat map)."""
        m = METHODS.index(method)
        if self.best[k, m] < 0:
            return _no_winner(method)
        flat = self.flat(k, m)
        if flat is not None:
            return flat
        shape = (self.h, self.w)
        y, x = divmod(int(self.best[k, m]), self.nx)
        peak = float(self.best_value[k, m])
        hit, error, overlap = is_hit(x, y, shape, truth)
        first, last = self._starts[k * 6 + m], self._starts[k * 6 + m + 1]
        indices, values = self._index[first:last], self._score[first:last]
        peaks = peaks_of_candidates(indices, values, self.nx, shape, top_k, nms_overlap, self._floor[k, m])
        if peaks is None:  # the pass kept only the map's best local maxima, and NMS needs more: all of them
            score = _measures.window_scores(m, self.cc[k], *self.sums, self.h, self.w, FLAT_RTOL, self.tsq[k],
                                            self.tmean[k], self.tvar[k], 0, self.cc.shape[1], 0, self.nx)
            peaks = peaks_of_score(score, shape, top_k, None, nms_overlap)
        rank = next((i + 1 for i, (px, py, _) in enumerate(peaks) if is_hit(px, py, shape, truth)[0]), 0)
        count = int(self.count[k, m])
        total, total_sq = float(self.total[k, m]), float(self.total_sq[k, m])
        ny = self.cc.shape[1]
        window = _measures.window_scores(m, self.cc[k], *self.sums, self.h, self.w, FLAT_RTOL,
                                      self.tsq[k], self.tmean[k], self.tvar[k], max(0, y - PSR_EXCLUDE),
                                      min(ny, y + PSR_EXCLUDE + 1), max(0, x - PSR_EXCLUDE), min(self.nx, x + PSR_EXCLUDE + 1))
        psr = sidelobe_psr(peak, float(self.shift[k, m]), count, total, total_sq, window)
        low = float(self.low[k, m]) if count else 0.0
        inside_count = int(self.inside_count[k, m])
        result_margin = float("nan")
        if inside_count and inside_count < count and peak > low and np.isfinite(self.outside[k, m]):
            result_margin = (float(self.inside[k, m]) - float(self.outside[k, m])) / (peak - low)
        if method in ("TM_SQDIFF_NORMED", "TM_CCORR_NORMED"):
            degenerate = int(self.empties)
        elif method == "TM_CCOEFF_NORMED":
            degenerate = int(self.flats)
        else:
            degenerate = 0
        found = {
            "x": x, "y": y, "score": -peak if METHOD_INFO[method].lower_is_better else peak,
            "center_error": error, "iou": overlap, "hit": int(hit), "psr": psr, "margin": result_margin, "rank": rank,
            "degenerate": degenerate,
        }
        if instances is not None:
            found.update(instance_measures(peaks, shape, instances))
        return found


def _passes(target, sums, prepared, methods, truth: Truth | None, full: bool, top_k: int = 0):
    """(pass, chunk) over the unmasked `prepared` templates: same-size ones together, as many
    per pass as :func:`_step` allows; `sums`: the target's integral images."""
    unmasked = [(i, t) for i, t, k in prepared if k is None]
    groups: dict[tuple, list] = {}
    for index, template in unmasked:
        groups.setdefault(template.shape[:2], []).append((index, template))
    for size, members in groups.items():
        step = _step(target.shape, size, full)
        for first in range(0, len(members), step):
            chunk = members[first: first + step]
            yield _Pass(target, sums, [t for _, t in chunk], methods, truth, full, top_k=top_k), chunk


def _batch(target, templates, methods, masks, truth, full, masked_judge, pass_judge, top_k: int = 0) -> list[dict]:
    """The frame of :func:`measure_batch` and :func:`best_batch`: per template "skipped: ..."
    for every method, the masked ones judged on their maps, the others by passes."""
    methods, target, prepared, errors = prepare_batch(target, templates, methods, masks)
    out: list = [None if error is None else {m: f"skipped: {error}" for m in methods} for error in errors]
    for index, template, mask in prepared:
        if mask is not None:
            out[index] = _masked(target, template, mask, methods, lambda r, m: masked_judge(r, m, template.shape))
    sums = _targets.integrals(target) if any(k is None for *_, k in prepared) else None
    for scan, chunk in _passes(target, sums, prepared, methods, truth, full, top_k):
        for k, (index, _) in enumerate(chunk):
            problems = scan.problems[k]
            out[index] = {m: f"undefined: {problems[m]}" if m in problems else pass_judge(scan, k, m) for m in methods}
    return out


def measure_batch(target: np.ndarray, templates: Sequence, methods: Sequence[str], truth: Truth,
                  top_k: int = 5, nms_overlap: float = 0.3,
                  masks: Sequence[np.ndarray | None] | None = None, instances=None) -> list[dict]:
    """Per template ``{method: measures}`` (the dict :func:`.metrics.evaluate` gives), or
    ``{method: reason}`` where a method has none: "undefined: ..." for a method the template or
    the target leaves undefined, "skipped: ..." for every method of a template that cannot be
    matched (too large, wrong channels). Equals :func:`.matching.match_batch` followed by
    :func:`.metrics.evaluate`, without making the maps (masked templates excepted). With
    `instances` (the truths of every object of the label in the target) each also holds
    :data:`.metrics.INSTANCE_MEASURES`."""
    return _batch(target, templates, methods, masks, truth, True,
                  lambda r, m, shape: evaluate(r[m], m, shape, truth, r.degenerate[m], top_k, nms_overlap,
                                               instances=instances),
                  lambda scan, k, m: scan.measures(k, m, truth, top_k, nms_overlap, instances), top_k)


def best_batch(target: np.ndarray, templates: Sequence, methods: Sequence[str],
               masks: Sequence[np.ndarray | None] | None = None) -> list[dict]:
    """Per template ``{method: Match}`` (the best position, never at an undefined window), or
    ``{method: reason}`` as in :func:`measure_batch`. What ``best_match`` of each of
    :func:`.matching.match_batch`'s maps gives, without making the maps."""
    return _batch(target, templates, methods, masks, None, False, lambda r, m, shape: r.best(m),
                  lambda scan, k, m: scan.best_match(k, m))


def search_measures(target: np.ndarray, members: Sequence[np.ndarray], methods: Sequence[str], truth: Truth,
                    top_k: int = 5, nms_overlap: float = 0.3, instances=None) -> tuple[dict, dict]:
    """The measures of a bank's best member per method, without the members' maps.

    Every member is scored for its best position only; per method the member with the best
    score wins (the first in the given order on a tie), and only the winners are measured, from
    the correlations already made. Returns ({method: (member index, measures)}, {method:
    reason}) for the methods with and without a winner."""
    methods, target, prepared, errors = prepare_batch(target, members, methods, None)
    problems: dict[str, tuple] = {}  # method -> (member index, reason): the first member's reason is kept
    for index, error in enumerate(errors):
        if error is not None:
            for m in methods:
                problems[m] = min(problems.get(m, (index, f"skipped: {error}")), (index, f"skipped: {error}"))
    leaders: dict[str, tuple] = {}  # method -> (score, member index, its template, its correlation)
    sums = _targets.integrals(target) if prepared else None
    for scan, chunk in _passes(target, sums, prepared, methods, None, False):
        taken = {}  # method -> the member of this pass that leads it
        for k, (index, template) in enumerate(chunk):
            for m in methods:
                found = f"undefined: {scan.problems[k][m]}" if m in scan.problems[k] else scan.best_match(k, m)
                if isinstance(found, str):
                    problems[m] = min(problems.get(m, (index, found)), (index, found))
                    continue
                score = scan.best_value[k, METHODS.index(m)]
                leader = leaders.get(m)
                if leader is None or score > leader[0] or (score == leader[0] and index < leader[1]):
                    leaders[m] = (score, index, template, None)
                    taken[m] = k
        # the leaders' correlations out of the pass's buffer (the next pass's), once per member
        copies = {k: scan.cc[k: k + 1].copy() for k in set(taken.values())}
        for m, k in taken.items():
            leaders[m] = leaders[m][:3] + (copies[k],)
    winners: dict[str, tuple] = {}
    by_member: dict[int, list] = {}
    for m in methods:
        if m in leaders:
            by_member.setdefault(leaders[m][1], []).append(m)
    for index, won in by_member.items():
        _, _, template, cc = leaders[won[0]]
        scan = _Pass(target, sums, [template], tuple(won), truth, True, cc, top_k)
        for m in won:
            winners[m] = (index, scan.measures(0, m, truth, top_k, nms_overlap, instances))
    return winners, {m: reason for m, (_, reason) in problems.items() if m not in winners}


__all__ = ["measure_batch", "best_batch", "search_measures"]
