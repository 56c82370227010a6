"""Brute-force pose search: a template bank over scales and rotations, best member per method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .._errors import DegenerateError
from ._methods import METHOD_INFO, METHODS, Match, best_match, check_methods, map_flatness
from ..geometry import Pose, posed_template
from .matching import batch_size, match_batch


@dataclass(frozen=True)
class SearchResult:
    """The best member of a template bank for one method."""

    match: Match
    scale: float
    rotation: float
    template_shape: tuple[int, ...]
    response: np.ndarray
    degenerate: np.ndarray | None


@dataclass(frozen=True)
class Search:
    """The outcome of :func:`search`: per method the winning member, how many templates were
    matched, and why a method has no winner (every member undefined or too large)."""

    results: dict
    templates: int
    problems: dict


def search(target: np.ndarray, template: np.ndarray, rotations: Sequence[float] = (0.0,),
           scales: Sequence[float] = (1.0,), methods: Sequence[str] | str = METHODS,
           masks: bool = False) -> Search:
    """Brute-force pose search: the template at every (scale, rotation) of the bank, matched with
    every method; per method the member with the best score wins (the competitor a fractal must
    beat at equal compute).

    Turned templates fill their corners by replicating the border, or are masked to their own
    pixels with `masks`. Raw scores of different-size members are compared as they are, which
    favours some sizes for the raw methods; the normalised methods compare fairly.
    """
    methods = check_methods(methods)
    results: dict[str, SearchResult] = {}
    problems: dict[str, str] = {}
    poses = [(scale, rotation) for scale in scales for rotation in rotations]
    members = [posed_template(template, Pose(scale, rotation)) for scale, rotation in poses]
    count = len(members)
    # Members of one size share the target's window sums; a slice at a time bounds the memory.
    step = batch_size(np.shape(target), [m.shape for m, _ in members])
    for first in range(0, count, step):
        chunk = slice(first, first + step)
        outcomes = match_batch(target, [m for m, _ in members[chunk]], methods,
                               [k for _, k in members[chunk]] if masks else None)
        for (scale, rotation), (member, mask), outcome in zip(poses[chunk], members[chunk], outcomes):
            for name, found in outcome.items():
                if isinstance(found, str):
                    problems.setdefault(name, found)
                    continue
                response, degenerate = found
                try:
                    best = best_match(response, name, degenerate)
                except DegenerateError as exc:
                    problems.setdefault(name, f"undefined: {exc}")
                    continue
                flat = map_flatness(response, name, degenerate, target, member, mask if masks else None)
                if flat is not None:  # a flat member points nowhere: it never wins
                    problems.setdefault(name, flat)
                    continue
                sign = -1.0 if METHOD_INFO[name].lower_is_better else 1.0
                if name not in results or sign * best.score > sign * results[name].match.score:
                    results[name] = SearchResult(best, scale, rotation, member.shape, response, degenerate)
    return Search(results, count, {m: p for m, p in problems.items() if m not in results})
