"""`tune`: every family's parameters searched with one budget on the tune side of a config's
split. `confirm` (in :mod:`fractal_match.confirm`) then runs the winners on the held-out side.

A tuning folder::

    TUNE/
      config.toml       the search config
      search.json       the config hash, the environment, and per family: the searched space,
                        what is held fixed and why, the budget and the sampler
      study.journal     Optuna's journal file: every trial's parameters, state and values
      trials/NAME/NNNN/ each trial a normal run folder (the family at the trial's parameters, on
                        the tune side), so that every value can be recomputed from its rows
      report/           `fractal-match report TUNE`: history, importances, spaces, winners

Determinism. Trials go in rounds: round n asks every family for its trial n, from a sampler
seeded with (config seed, family, n) that sees exactly the family's trials 0..n-1; the round's
cases then run on the executor and the values are told. So a study does not depend on the
executor, the number of workers or where a run was killed: resuming re-runs a round's unfinished
trials with their stored parameters (their run folders resume too) and ends equal to an
uninterrupted study. The study lives in this process only: workers (local processes, Dask
workers anywhere) receive cases and send rows back, and never touch the journal.
"""

from __future__ import annotations

import csv
import json
import shutil
import warnings
import zlib
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ._errors import ConfigError, FractalMatchError
from .config import Config, Search, Variant
from .executors import execute
from .experiment import ROW_COLUMNS, count_cases, expand, group_row_count, run_groups
from .images import write_atomic
from .progress import Progress, ensure
from .search_space import SearchSpace, bank_space, search_space
from .store import RunError, RunStore, _now, config_toml, environment, lock_folder, unlock

NOT_TUNED = ("oracle", "pnet-detector")  # an upper bound and a reference: no parameters to tune
GROUPS_PER_ITEM = 4  # target x pose groups a worker gets at a time
SEARCH_FILES = (".lock", "config.toml", "search.json", "study.journal", "trials", "report")


class SearchError(FractalMatchError):
    """A search cannot start, resume or be read."""


def optuna():
    """The optuna module (the search extra), quiet: the library never prints."""
    try:
        import optuna as module
    except ImportError:
        raise SearchError('tune and confirm need optuna: pip install "fractal-match[search]"') from None
    module.logging.set_verbosity(module.logging.WARNING)
    return module


@dataclass(frozen=True)
class Family:
    """One study: a variant of the config, the space searched for it and its number of trials."""

    variant: Variant
    space: SearchSpace
    budget: int

    @property
    def name(self) -> str:
        return self.variant.name

    @property
    def sampler(self) -> str:
        return "tpe" if self.space.size is None else "grid"


def search_settings(config: Config) -> Search:
    return config.search if config.search is not None else Search()


def families(config: Config, trials: int | None = None) -> list[Family]:
    """The studies of a search config: every variant but the oracle and the detector, each with
    `trials` (else the config's) trials, or fewer when its space has fewer distinct points (a
    plain kernel has four: colour x masks), each of which it then tries once."""
    where = config.source or config.name
    if config.split is None:
        raise ConfigError(f"{where}: tune needs a [split] (objects divided by image into tune and held-out sets)")
    if config.split.side is not None:
        raise ConfigError(f"{where}: field 'split.side' is set by tune and confirm themselves (remove it)")
    trials = trials or search_settings(config).trials
    found = []
    for variant in config.variants:
        if variant.family in NOT_TUNED:
            continue
        space = bank_space() if variant.family == "bank" else search_space(variant.family, variant.params)
        found.append(Family(variant, space, trials if space.size is None else min(trials, space.size)))
    if not found:
        raise ConfigError(f"{where}: field 'variants' has nothing to tune (oracle and pnet-detector have no parameters)")
    return found


def variant_at(family: Family, values: dict) -> Variant:
    """The family's variant at a trial's sampled values (parameters and its own switches)."""
    params, switches = family.space.params(values)
    if family.variant.family == "bank":
        return replace(family.variant, rotations=params["rotations"], scales=params["scales"], **switches)
    return replace(family.variant, params=params, **switches)


def side_config(config: Config, variants: tuple[Variant, ...], side: str, name: str) -> Config:
    """`config` with these variants, run on one side of its split (made in code: no source)."""
    return replace(config, name=name, variants=variants, split=replace(config.split, side=side), search=None, source=None)


def _distributions(space: SearchSpace) -> dict:
    dist = optuna().distributions
    found = {}
    for dim in space.dimensions:
        if dim.kind == "categorical":
            found[dim.name] = dist.CategoricalDistribution(dim.choices)
        elif dim.kind == "int":
            found[dim.name] = dist.IntDistribution(int(dim.low), int(dim.high), log=dim.log)
        else:
            found[dim.name] = dist.FloatDistribution(dim.low, dim.high, log=dim.log)
    return found


def trial_seed(config: Config, family: str, number: int) -> int:
    return int(np.random.SeedSequence([config.seed, zlib.crc32(family.encode()), number]).generate_state(1)[0])


def _sampler(config: Config, family: Family, number: int):
    module = optuna()
    seed = trial_seed(config, family.name, number)
    if family.sampler == "grid":  # trial n takes point n of an order shuffled once per family
        grid = {dim.name: list(dim.choices) for dim in family.space.dimensions}
        return module.samplers.GridSampler(grid, seed=trial_seed(config, family.name, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", module.exceptions.ExperimentalWarning)  # multivariate TPE
        return module.samplers.TPESampler(seed=seed, n_startup_trials=search_settings(config).startup,
                                          multivariate=True, constant_liar=False)


def directions(config: Config) -> list[str]:
    return ["maximize"] * (len(config.methods) if search_settings(config).objective == "per-method" else 1)


def trial_values(folder: Path, config: Config) -> list[float]:
    """A trial's objective, read back from its rows: the hit rate over every row (pooled), or
    one hit rate per method (in the config's order)."""
    hits = {method: [0, 0] for method in config.methods}
    with open(folder / "results.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            count = hits[row["method"]]
            count[0] += float(row["hit"]) > 0
            count[1] += 1
    if search_settings(config).objective == "per-method":
        return [h / n if n else 0.0 for h, n in hits.values()]
    total = sum(n for _, n in hits.values())
    return [sum(h for h, _ in hits.values()) / total if total else 0.0]


def open_storage(folder: Path, repair: bool = False):
    """The study's journal in `folder`. With `repair`, a torn last line (a write cut by a kill)
    is cut off first: Optuna would fail on the next line appended after it. Returns
    (storage, bytes removed)."""
    path = folder / "study.journal"
    removed = 0
    if repair and path.exists():
        data = path.read_bytes()
        kept = data[: data.rfind(b"\n") + 1]
        removed = len(data) - len(kept)
        if removed:
            write_atomic(path, kept)
    journal = optuna().storages.journal
    return optuna().storages.JournalStorage(journal.JournalFileBackend(str(path))), removed


def _describe(config: Config, found: list[Family]) -> dict:
    return {"name": config.name, "config_hash": config.digest, "seed": config.seed, "methods": list(config.methods),
            "objective": search_settings(config).objective, "startup": search_settings(config).startup,
            "families": {f.name: {"family": f.variant.family, "budget": f.budget, "sampler": f.sampler,
                                  "dimensions": [asdict(d) for d in f.space.dimensions],
                                  "fixed": {k: str(v) if isinstance(v, complex) else v for k, v in f.space.fixed.items()},
                                  "reasons": dict(f.space.reasons)} for f in found}}


def _open(config: Config, out: Path, resume: bool, found: list[Family]) -> tuple[object, dict]:
    """Lock the tuning folder and create or check its search.json; (lock, manifest)."""
    meta = out / "search.json"
    started = meta.exists()
    if started and not resume:
        raise RunError(f"{out}: already holds a search (use --resume to continue it, or choose another --out)")
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: is an existing file (allowed: a folder for the search)")
    foreign = [p.name for p in out.iterdir() if p.name not in SEARCH_FILES] if out.exists() else []
    if foreign and not started:
        raise RunError(f"{out}: is not a search folder (it holds {', '.join(sorted(foreign)[:3])}); choose an empty or new --out")
    lock = lock_folder(out)
    try:
        if started:
            manifest = json.loads(meta.read_text())
            if manifest.get("config_hash") != config.digest:
                raise RunError(f"{out}: was made from a different config (hash {manifest.get('config_hash')}, this "
                               f"config {config.digest}); start a new search with another --out")
            manifest["resumed"].append(_now())
        else:
            if config.source is not None:
                shutil.copyfile(config.source, out / "config.toml")
            else:
                write_atomic(out / "config.toml", config_toml(config).encode("utf-8"))
            manifest = {**_describe(config, found), "started": _now(), "resumed": [], **environment()}
        manifest.update(finished=None, budgets={f.name: f.budget for f in found})
        write_atomic(meta, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    except BaseException:
        unlock(lock)
        raise
    return lock, manifest


@dataclass(frozen=True)
class _Job:
    family: Family
    number: int
    config: Config
    folder: Path


def _run_item(item) -> list:
    """Run one work item in a worker: (trial key, config, groups) -> [(trial key, rows)] per group."""
    key, config, groups = item
    return [(key, rows) for _, rows in run_groups(config, groups)]


def _evaluate(config: Config, jobs: list[_Job], executor: str, workers, scheduler, task) -> dict:
    """Run every unfinished group of the jobs' trial configs on the executor; {job: values}."""
    with ExitStack() as stack:
        stores, items = {}, []
        for job in jobs:
            key = (job.family.name, job.number)
            store = stack.enter_context(RunStore(job.folder, job.config, ROW_COLUMNS, resume=True,
                                                 group_rows=group_row_count(job.config)))
            stores[key] = store
            todo = [g for g in expand(job.config) if g.id not in store.done]
            items += [(key, job.config, todo[i : i + GROUPS_PER_ITEM]) for i in range(0, len(todo), GROUPS_PER_ITEM)]
        task.update(completed=0, total=sum(len(i[2]) for i in items))
        for key, rows in execute(_run_item, items, executor, workers, scheduler):
            stores[key].append(rows)
            task.advance()
        for job in jobs:
            groups = expand(job.config)
            stores[(job.family.name, job.number)].finish(cases=count_cases(job.config, groups)[0], groups=len(groups))
    return {(job.family.name, job.number): trial_values(job.folder, config) for job in jobs}


def _params_of(study, family: Family, config: Config, number: int):
    """Trial `number` of a study: (state, parameters): asked now from its seeded sampler, or
    as stored (a trial cut off by a kill is run again with the parameters it was given)."""
    trials = study.get_trials(deepcopy=False)
    if number < len(trials):
        return trials[number].state.name, trials[number].params
    if number != len(trials):
        raise SearchError(f"study {family.name}: has {len(trials)} trial(s), expected {number} (a journal not written by tune?)")
    study.sampler = _sampler(config, family, number)
    trial = study.ask(_distributions(family.space))
    return "RUNNING", trial.params


def best_note(studies: dict) -> str:
    """'best: NAME VALUE (trial N)' over every study's finished trials (pooled: the value;
    per method: the mean over methods)."""
    best = None
    for name, study in studies.items():
        for trial in study.get_trials(deepcopy=False, states=(optuna().trial.TrialState.COMPLETE,)):
            value = float(np.mean(trial.values))
            if best is None or value > best[0]:
                best = (value, name, trial.number)
    return "" if best is None else f"best: {best[1]} {best[0]:.3f} (trial {best[2]})"


def tune(config: Config, out, resume: bool = False, executor: str = "processes", workers: int | None = None,
         scheduler: str | None = None, trials: int | None = None, progress: Progress | None = None) -> dict:
    """Search every family of `config` (see the module docs) into the tuning folder `out`."""
    found = families(config, trials)
    module = optuna()
    progress = ensure(progress)
    out = Path(out)
    lock, manifest = _open(config, out, resume, found)
    try:
        storage, repaired = open_storage(out, repair=True)
        studies = {f.name: module.create_study(storage=storage, study_name=f.name, directions=directions(config),
                                               load_if_exists=True) for f in found}
        complete = module.trial.TrialState.COMPLETE
        done = sum(len(s.get_trials(deepcopy=False, states=(complete,))) for s in studies.values())
        ran = 0
        with progress.step(f"{config.name}: trials", total=sum(f.budget for f in found)) as bar, \
                progress.step(f"{config.name}: groups of this round") as groups:
            bar.update(completed=done, note=best_note(studies))
            for number in range(max(f.budget for f in found)):
                jobs = []
                for family in found:
                    if number >= family.budget:
                        continue
                    state, values = _params_of(studies[family.name], family, config, number)
                    if state == "COMPLETE":
                        continue
                    trial_config = side_config(config, (variant_at(family, values),), "tune",
                                               f"{config.name}-{family.name}-{number:04d}")
                    jobs.append(_Job(family, number, trial_config, out / "trials" / family.name / f"{number:04d}"))
                if not jobs:
                    continue
                results = _evaluate(config, jobs, executor, workers, scheduler, groups)
                for job in jobs:
                    value = results[(job.family.name, job.number)]
                    study = studies[job.family.name]
                    # A grid sampler would call study.stop() once its grid is used up, which only
                    # works inside optimize(); the next ask sets the sampler again anyway.
                    study.sampler = module.samplers.RandomSampler()
                    study.tell(job.number, value if len(value) > 1 else value[0])
                    done, ran = done + 1, ran + 1
                    bar.update(completed=done, note=best_note(studies))
        manifest["finished"] = _now()
        write_atomic(out / "search.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    finally:
        unlock(lock)
    return {"folder": str(out), "trials": sum(f.budget for f in found), "ran": ran, "repaired_bytes": repaired,
            "best": best_note(studies)}


__all__ = ["tune", "families", "Family", "variant_at", "side_config", "trial_values", "open_storage", "SearchError",
           "best_note", "trial_seed", "directions"]
