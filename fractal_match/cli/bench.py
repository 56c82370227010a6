"""Benchmarks behind `fractal-match bench`: contenders interleaved in one run, medians reported.

On noisy machines the ratios between contenders measured in the same run are what matter.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .._checks import check_positive_int
from .._errors import FractalMatchError
from ._verdict import verdict
from ..atomic import write_atomic
from ..engine._methods import METHOD_INFO, METHODS
from ..engine.matching import match_all, match_many
from ..progress import Progress, ensure


def environment() -> dict:
    """The run environment (see :func:`fractal_match.experiments.store.environment`) plus time and thread counts."""
    from ..experiments.store import environment as base

    return {**base(), "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "opencv_threads": cv2.getNumThreads()}


def _interleaved(contenders: dict[str, Callable[[], object]], repeats: int, warmup: int = 2,
                 on_run: Callable[[], None] | None = None) -> dict[str, dict]:
    """Time each contender `repeats` times, rotating the order every round; medians and ranges in ms.
    Each first runs `warmup` times untimed (numba compilation, caches, allocator). `on_run()` is
    called after each timed run (progress)."""
    for run in contenders.values():
        for _ in range(warmup):
            run()
    names = list(contenders)
    samples = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            contenders[name]()
            samples[name].append((time.perf_counter() - start) * 1e3)
            if on_run is not None:
                on_run()
    return {name: {"median_ms": float(np.median(v)), "min_ms": float(np.min(v)), "max_ms": float(np.max(v))}
            for name, v in samples.items()}


def bench_matching(repeats: int = 15, quick: bool = False, echo: Callable[[str], None] = print,
                   progress: Progress | None = None) -> dict:
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
    many_counts = (1, 2) if quick else (1, 4, 9)
    task = ensure(progress).start("bench matching: table rows", 2 * len(sizes) + 2 * len(many_counts))
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
            task.advance()
    geo = lambda key: float(np.exp(np.mean([np.log(r[key]) for r in rows])))  # noqa: E731
    worst = max(rows, key=lambda r: r["ours_over_ccorr"])
    summary = {"geomean_ours_over_ccorr": geo("ours_over_ccorr"), "geomean_six_calls_over_ours": geo("six_calls_over_ours"),
               "max_ours_over_ccorr": worst["ours_over_ccorr"],
               "target_ours_over_ccorr_at_most": 1.3, "target_max_ours_over_ccorr_at_most": 1.6,
               "target_six_calls_over_ours_at_least": 6.0}
    echo(verdict("all six maps / one TM_CCORR call (time, geometric mean over the table)",
                  summary["geomean_ours_over_ccorr"], "<=", 1.3))
    echo(verdict(f"worst column ({'gray' if worst['channels'] == 1 else 'colour'} {worst['template']} px)",
                 worst["ours_over_ccorr"], "<=", 1.6))
    echo(verdict("six cv2 calls / all six maps (time, geometric mean)", summary["geomean_six_calls_over_ours"], ">=", 6.0))
    many = _bench_many(base, 32 if quick else 64, many_counts, 3 if quick else repeats, echo, task)
    task.close()
    return {"benchmark": "matching", "repeats": repeats, "quick": quick, "rows": rows, "summary": summary, "many_kernels": many}


def _bench_many(base: np.ndarray, size: int, counts, repeats: int, echo, task) -> list[dict]:
    """Per-kernel time when several same-size kernels meet one target (the experiment's normal
    kernel and its variants): match_many shares the target's window sums among them."""
    height, width = base.shape[:2]
    rng = np.random.default_rng(1)
    echo(f"\nper-kernel ms, {max(counts)} kernels of {size} px or fewer against one {width}x{height} target")
    echo(f"{'image':>6} {'kernels':>8} {'ours':>8} {'1 CCORR':>9} {'6 calls':>9} {'ours/CCORR':>11} {'6calls/ours':>12}")
    rows = []
    for channels in (1, 3):
        target = cv2.cvtColor(base, cv2.COLOR_RGB2GRAY) if channels == 1 else base
        corners = rng.integers(0, (height - size, width - size), (max(counts), 2))
        kernels = [target[y:y + size, x:x + size].copy() for y, x in corners]
        for count in counts:
            chosen = kernels[:count]
            timing = _interleaved({
                "ours": lambda: match_many(target, chosen),
                "ccorr": lambda: [cv2.matchTemplate(target, k, cv2.TM_CCORR) for k in chosen],
                "six_calls": lambda: [cv2.matchTemplate(target, k, METHOD_INFO[m].code) for k in chosen for m in METHODS],
            }, repeats)
            ours, ccorr, six = (timing[k]["median_ms"] / count for k in ("ours", "ccorr", "six_calls"))
            rows.append({"channels": channels, "template": size, "kernels": count, **timing, "ours_per_kernel_ms": ours,
                         "ccorr_per_kernel_ms": ccorr, "six_calls_per_kernel_ms": six})
            label = "gray" if channels == 1 else "colour"
            echo(f"{label:>6} {count:>8} {ours:8.2f} {ccorr:9.2f} {six:9.2f} {ours / ccorr:11.2f} {six / ours:12.2f}")
            task.advance()
    return rows


def bench_fractal(repeats: int = 15, quick: bool = False, echo: Callable[[str], None] = print,
                  progress: Progress | None = None) -> dict:
    """Every generator family at its defaults on the learned mean face, at 256 and 512 px.

    Target: orbit trap at malinc's defaults, 512 px, <= 150 ms median.
    """
    from ..templates.fractal import FAMILIES, fractalize
    from ..templates.kernels import load_kernel

    repeats = check_positive_int(repeats, "repeats", 1, 10000)
    kernel = load_kernel("learned:mean-face")
    sizes = (64, 128) if quick else (256, 512)
    rows = []
    echo(f"{'family':>11} " + " ".join(f"{f'{s} px ms':>10}" for s in sizes))
    task = ensure(progress).start("bench fractal: families", len(FAMILIES))
    for name in FAMILIES:
        timing = _interleaved({str(size): (lambda size=size: fractalize(kernel, name, size=size)) for size in sizes},
                              2 if quick else repeats)
        rows.append({"family": name, **{f"size_{size}": timing[str(size)] for size in sizes}})
        echo(f"{name:>11} " + " ".join(f"{timing[str(s)]['median_ms']:10.1f}" for s in sizes))
        task.advance()
    task.close()
    orbit = next(r for r in rows if r["family"] == "orbit-trap")[f"size_{sizes[-1]}"]["median_ms"]
    summary = {"orbit_trap_largest_ms": orbit, "target_orbit_trap_512_ms_at_most": 150.0}
    echo(verdict(f"orbit trap at malinc defaults, {sizes[-1]} px, median ms", orbit, "<=", 150.0))
    return {"benchmark": "fractal", "repeats": repeats, "quick": quick, "rows": rows, "summary": summary}


def _template_matches(folder) -> int:
    """Template matches a run folder's rows record (each with every method)."""
    from ..report.tables import load_run

    run = load_run(folder)
    return int(np.nansum(run.columns["templates"])) // len(run.methods)


def _original_cases(config, groups, folder: Path) -> list[tuple[str, list[str]]]:
    """The same template matches as the sweep, written as image files for the original loop:
    per group its posed target, and every template the sweep matches against it."""
    from ..experiments.cases import CaseRunner, search_poses
    from ..geometry import Pose, posed_template, transform_target
    from ..images import on_target_scale

    runner = CaseRunner(config)
    cases = []
    for g, group in enumerate(groups):
        loaded = runner.target(group.target)
        target = transform_target(loaded.image, loaded.box, group.pose)[0]
        target_file = str(folder / f"target-{g}.png")
        cv2.imwrite(target_file, target)
        files = []
        for kernel in config.kernels:
            pictures = []
            for variant in config.variants:
                if variant.family in ("bank", "oracle"):
                    picture = on_target_scale(runner.kernel_picture(group.target, kernel), target)
                    scales, rotations = search_poses(variant, group.pose)
                    pictures += [posed_template(picture, Pose(s, r))[0] for s in scales for r in rotations]
                else:
                    pictures.append(on_target_scale(runner.template(group.target, kernel, variant.name).image, target))
            for picture in pictures:
                files.append(str(folder / f"template-{g}-{len(files)}.png"))
                cv2.imwrite(files[-1], picture)
        cases.append((target_file, files))
    return cases


def _original_loop(cases) -> None:
    """The original experiment's loop: per template, load the image and the template, then one
    cv2.matchTemplate call and one minMaxLoc per method."""
    codes = [METHOD_INFO[m].code for m in METHODS]
    for target_file, template_files in cases:
        for template_file in template_files:
            image = cv2.imread(target_file, cv2.IMREAD_UNCHANGED)
            template = cv2.imread(template_file, cv2.IMREAD_UNCHANGED)
            for code in codes:
                cv2.minMaxLoc(cv2.matchTemplate(image, template, code))


def _tree_rss(root: int) -> tuple[int, int]:
    """(sum, largest) resident set size in bytes of process `root` and its descendants (Linux /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    sizes = []
    for pid in tree:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        sizes += [int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")]
    return sum(sizes), max(sizes, default=0)


def _peak_rss(command: list[str]) -> dict:
    """Run `command`; sample the resident memory of its process tree every 50 ms; peaks in MiB."""
    import subprocess

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_sum = peak_one = 0
    while process.poll() is None:
        total, largest = _tree_rss(process.pid)
        peak_sum, peak_one = max(peak_sum, total), max(peak_one, largest)
        time.sleep(0.05)
    if process.returncode != 0:
        message = process.stderr.read().decode("utf-8", "replace").strip().splitlines()
        raise FractalMatchError(f"{' '.join(command[1:4])} failed: {message[-1] if message else process.returncode}")
    return {"peak_tree_mib": peak_sum / 2**20, "peak_process_mib": peak_one / 2**20, "seconds": time.perf_counter() - started}


_MEMORY_CONFIG = """name = "memory-{n}"
seed = 0
kernels = ["crop"]
[targets]
annotations = ["astronaut/face", "camera/face", "chelsea/left-eye", "coins/coin-3"]
[transforms]
scales = [0.9, 1.1]
rotations = {rotations}
[[variants]]
family = "none"
[[variants]]
family = "orbit-trap"
"""


def _floor(cases) -> Callable[[], None]:
    """The correlation floor: the same templates, already in memory, one TM_CCORR each, with
    OpenCV at one thread (what one worker has); nothing else."""
    from ..experiments.executors import single_threaded

    loaded = [(cv2.imread(target, cv2.IMREAD_UNCHANGED), [cv2.imread(t, cv2.IMREAD_UNCHANGED) for t in templates])
              for target, templates in cases]

    def run() -> None:
        with single_threaded():
            for image, templates in loaded:
                for template in templates:
                    cv2.matchTemplate(image, template, cv2.TM_CCORR)
    return run


def bench_sweep(repeats: int = 3, quick: bool = False, echo: Callable[[str], None] = print,
                progress: Progress | None = None) -> dict:
    """Sweep throughput and memory.

    Throughput: the 36 groups of quick.toml (3 with `quick`) run as a whole `run` with 1
    and with 2 worker processes (process start included), and in this process with one thread
    per pool (warm, no process start); the same template matches through the original
    experiment's loop (load, six cv2.matchTemplate calls, minMaxLoc; OpenCV's own threads); and
    the correlation floor (one TM_CCORR per template in memory, one thread). Interleaved,
    `repeats` times. Memory: peak resident memory of the process tree for a sweep and for one
    with 10x the cases.
    """
    import sys
    import tempfile

    from ..experiments import cases as experiment
    from ..experiments.config import load_config
    from ..experiments.executors import pools_in_workers, single_threaded
    from ..experiments.cases import run_groups
    from ..experiments.plan import expand
    from ..experiments.runs import run_experiment

    repeats = check_positive_int(repeats, "repeats", 1, 1000)
    config = load_config("quick")
    groups = expand(config)
    limit = 3 if quick else len(groups)
    groups = groups[:limit]
    with tempfile.TemporaryDirectory(prefix="fractal-match-bench-") as scratch:
        scratch = Path(scratch)
        (scratch / "files").mkdir()
        cases = _original_cases(config, groups, scratch / "files")
        matches = sum(len(files) for _, files in cases)
        echo(f"sweep: {limit} groups of quick.toml, {matches} template matches (each gives all "
             f"{len(config.methods)} methods' maps); {repeats} repeat(s), contenders interleaved")

        def ours(workers: int) -> Callable[[], None]:
            def run() -> None:
                out = scratch / f"run-{workers}"
                shutil.rmtree(out, ignore_errors=True)
                run_experiment(config, out, executor="processes", workers=workers, limit=limit)
                recorded = _template_matches(out)
                if recorded != matches:  # the contenders must do the same work
                    raise FractalMatchError(f"the sweep recorded {recorded} template matches, the original loop makes {matches}")
            return run

        def in_process() -> None:
            experiment._RUNNERS.clear()  # templates are made again, as a fresh worker makes them
            with single_threaded():
                run_groups(config, groups)

        contenders = {"ours_1_worker": ours(1), "ours_2_workers": ours(2), "ours_in_process": in_process,
                      "original_loop": lambda: _original_loop(cases), "correlation_floor": _floor(cases)}
        task = ensure(progress).start("bench sweep: timed sweeps, then 2 memory runs", len(contenders) * repeats + 2)
        timing = _interleaved(contenders, repeats, warmup=0, on_run=task.advance)  # each sweep starts its own processes
        names = list(contenders)
        seconds = {name: timing[name]["median_ms"] / 1e3 for name in names}
        rate = {name: matches / s for name, s in seconds.items()}
        efficiency = rate["ours_2_workers"] / (2 * rate["ours_1_worker"])
        echo(f"{'contender':>17} {'median s':>9} {'matches/s':>10}")
        for name in names:
            echo(f"{name:>17} {seconds[name]:9.2f} {rate[name]:10.1f}")
        summary = {"template_matches": matches, "median_seconds": seconds, "matches_per_second": rate,
                   "parallel_efficiency": efficiency,
                   "ours_2_workers_over_original": rate["ours_2_workers"] / rate["original_loop"],
                   "ours_1_worker_over_floor": seconds["ours_1_worker"] / seconds["correlation_floor"],
                   "ours_in_process_over_floor": seconds["ours_in_process"] / seconds["correlation_floor"],
                   "target_parallel_efficiency_at_least": 0.85, "target_over_original_at_least": 5.0,
                   "target_over_floor_at_most": 1.6, "target_memory_growth_below": 0.2}
        echo(verdict("parallel efficiency (2 workers / 2 x 1 worker)", efficiency, ">=", 0.85))
        echo(verdict("2 workers / original loop (matches per second)", summary["ours_2_workers_over_original"], ">=", 5.0))
        echo(verdict("1 worker / correlation floor (time)", summary["ours_1_worker_over_floor"], "<=", 1.6))
        echo(f"  (in this process, no process start: {summary['ours_in_process_over_floor']:.2f}x the floor)")
        summary["worker_pools"] = pools_in_workers("processes", 2)[:2]

        poses = 2 if quick else 10
        memory = {}
        for factor in (1, 10):
            rotations = [float(a) for a in np.linspace(0, 180, poses * factor, endpoint=False)]
            path = scratch / f"memory-{factor}.toml"
            path.write_text(_MEMORY_CONFIG.format(n=factor, rotations=rotations), encoding="utf-8")
            groups_count = len(expand(load_config(path)))
            memory[factor] = {"groups": groups_count, **_peak_rss(
                [sys.executable, "-m", "fractal_match", "run", str(path), "--out", str(scratch / f"memory-{factor}"), "--workers", "2"])}
            task.advance()
        task.close()
        growth = memory[10]["peak_tree_mib"] / memory[1]["peak_tree_mib"] - 1
        echo(f"memory: {memory[1]['groups']} groups peak {memory[1]['peak_tree_mib']:.0f} MiB (largest process "
             f"{memory[1]['peak_process_mib']:.0f}); {memory[10]['groups']} groups peak {memory[10]['peak_tree_mib']:.0f} MiB "
             f"(largest {memory[10]['peak_process_mib']:.0f})")
        echo(verdict("memory growth for 10x the cases", growth, "<", 0.2))
    summary.update({"memory": {str(k): v for k, v in memory.items()}, "memory_growth_10x": growth})
    return {"benchmark": "sweep", "repeats": repeats, "quick": quick, "timing": timing, "summary": summary}


def bench_visualize(**options) -> dict:
    """The feature-visualization benchmark (needs the cnn extra): see :mod:`fractal_match.cli.bench_visualize`."""
    from .bench_visualize import bench_visualize as run
    from ..templates.cnn.units import require_jax

    require_jax("bench visualize")
    return run(**options)


BENCHMARKS = {"matching": bench_matching, "fractal": bench_fractal, "sweep": bench_sweep, "visualize": bench_visualize}


def run_benchmark(which: str, repeats: int | None = None, quick: bool = False, out=None,
                  echo: Callable[[str], None] = print, progress: Progress | None = None) -> dict:
    """Run one benchmark by name (or "all"), add the environment, and write JSON to `out` if given.
    `repeats` None uses each benchmark's own default (15 for matching and fractal, 3 for sweep)."""
    names = list(BENCHMARKS) if which == "all" else [which]
    options = {"quick": quick, "echo": echo, "progress": progress, **({} if repeats is None else {"repeats": repeats})}
    results = {name: BENCHMARKS[name](**options) for name in names}
    report = {"environment": environment(), **(results[which] if which != "all" else {"benchmarks": results})}
    if out is not None:
        write_atomic(out, (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    return report
