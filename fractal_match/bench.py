"""Benchmarks behind `fractal-match bench`: contenders interleaved in one run, medians reported.

On noisy machines the ratios between contenders measured in the same run are what matter.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Callable

import cv2
import numpy as np

from ._checks import check_positive_int
from .images import write_atomic
from .matching import METHOD_INFO, METHODS, match_all


def environment() -> dict:
    """The run environment (see :func:`fractal_match.store.environment`) plus time and thread counts."""
    from .store import environment as base

    return {**base(), "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "opencv_threads": cv2.getNumThreads()}


def _interleaved(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, dict]:
    """Time each contender `repeats` times, rotating the order every round; medians and ranges in ms."""
    for run in contenders.values():  # warm-up (numba compilation, caches, allocator)
        run()
        run()
    names = list(contenders)
    samples = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            contenders[name]()
            samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: {"median_ms": float(np.median(v)), "min_ms": float(np.min(v)), "max_ms": float(np.max(v))}
            for name, v in samples.items()}


def bench_matching(repeats: int = 15, quick: bool = False, echo: Callable[[str], None] = print) -> dict:
    """match_all (all six maps) vs six cv2.matchTemplate calls vs one TM_CCORR call.

    Target 1024x768 (256x192 with `quick`), templates 16/32/64/128 px, gray and colour.
    """
    repeats = check_positive_int(repeats, "repeats", 1, 10000)
    rng = np.random.default_rng(0)
    height, width = (192, 256) if quick else (768, 1024)
    sizes = (16, 32) if quick else (16, 32, 64, 128)
    # A smooth random scene (not white noise) so the timing reflects photographs.
    base = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 2)
    rows = []
    echo(f"{'image':>6} {'tpl':>4} {'ours ms':>9} {'1 CCORR':>9} {'6 calls':>9} {'ours/CCORR':>11} {'6calls/ours':>12}")
    for channels in (1, 3):
        target = cv2.cvtColor(base, cv2.COLOR_RGB2GRAY) if channels == 1 else base
        for size in sizes:
            template = target[height // 3 : height // 3 + size, width // 3 : width // 3 + size].copy()
            timing = _interleaved({
                "ours": lambda: match_all(target, template),
                "ccorr": lambda: cv2.matchTemplate(target, template, cv2.TM_CCORR),
                "six_calls": lambda: [cv2.matchTemplate(target, template, METHOD_INFO[m].code) for m in METHODS],
            }, 3 if quick else repeats)
            ours, ccorr, six = (timing[k]["median_ms"] for k in ("ours", "ccorr", "six_calls"))
            row = {"channels": channels, "template": size, "target": [width, height], **timing,
                   "ours_over_ccorr": ours / ccorr, "six_calls_over_ours": six / ours}
            rows.append(row)
            label = "gray" if channels == 1 else "colour"
            echo(f"{label:>6} {size:>4} {ours:9.2f} {ccorr:9.2f} {six:9.2f} {ours / ccorr:11.2f} {six / ours:12.2f}")
    geo = lambda key: float(np.exp(np.mean([np.log(r[key]) for r in rows])))  # noqa: E731
    summary = {"geomean_ours_over_ccorr": geo("ours_over_ccorr"), "geomean_six_calls_over_ours": geo("six_calls_over_ours"),
               "target_ours_over_ccorr_at_most": 2.0, "target_six_calls_over_ours_at_least": 4.0}
    echo(f"geometric mean: ours/CCORR = {summary['geomean_ours_over_ccorr']:.2f} (target <= 2), "
         f"six calls/ours = {summary['geomean_six_calls_over_ours']:.2f} (target >= 4)")
    return {"benchmark": "matching", "repeats": repeats, "quick": quick, "rows": rows, "summary": summary}


def bench_fractal(repeats: int = 15, quick: bool = False, echo: Callable[[str], None] = print) -> dict:
    """Every generator family at its defaults on the learned mean face, at 256 and 512 px.

    Target: orbit trap at malinc's defaults, 512 px, <= 150 ms median.
    """
    from .fractal import FAMILIES, fractalize
    from .kernels import load_kernel

    repeats = check_positive_int(repeats, "repeats", 1, 10000)
    kernel = load_kernel("learned:mean-face")
    sizes = (64, 128) if quick else (256, 512)
    rows = []
    echo(f"{'family':>11} " + " ".join(f"{f'{s} px ms':>10}" for s in sizes))
    for name in FAMILIES:
        timing = _interleaved({str(size): (lambda size=size: fractalize(kernel, name, size=size)) for size in sizes},
                              2 if quick else repeats)
        rows.append({"family": name, **{f"size_{size}": timing[str(size)] for size in sizes}})
        echo(f"{name:>11} " + " ".join(f"{timing[str(s)]['median_ms']:10.1f}" for s in sizes))
    orbit = next(r for r in rows if r["family"] == "orbit-trap")[f"size_{sizes[-1]}"]["median_ms"]
    summary = {"orbit_trap_largest_ms": orbit, "target_orbit_trap_512_ms_at_most": 150.0}
    echo(f"orbit trap at malinc defaults, {sizes[-1]} px: {orbit:.1f} ms median (target <= 150 ms at 512 px)")
    return {"benchmark": "fractal", "repeats": repeats, "quick": quick, "rows": rows, "summary": summary}


BENCHMARKS = {"matching": bench_matching, "fractal": bench_fractal}


def run_benchmark(which: str, repeats: int = 15, quick: bool = False, out=None,
                  echo: Callable[[str], None] = print) -> dict:
    """Run one benchmark by name, add the environment, and write JSON to `out` if given."""
    names = list(BENCHMARKS) if which == "all" else [which]
    results = {name: BENCHMARKS[name](repeats=repeats, quick=quick, echo=echo) for name in names}
    report = {"environment": environment(), **(results[which] if which != "all" else {"benchmarks": results})}
    if out is not None:
        write_atomic(out, (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    return report
