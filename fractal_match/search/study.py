"""`tune`: every family's parameters searched with one budget on the tune side of a config's
split. `confirm` (in :mod:`fractal_match.search.confirm`) then runs the winners on the held-out side.

A tuning folder::

    TUNE/
      config.toml       the search config
      search.json       the config hash, the environment, and per family: the searched space,
                        what is held fixed and why, the budget and the sampler
      study.journal     Optuna's journal file: every trial's parameters, state and values
      trials/NAME/NNNN/ each trial a normal run folder (the family at the trial's parameters, on
                        the tune side), so that every value can be recomputed from its rows
      report/           `fractal-match report TUNE`: history, importances, spaces, winners

Determinism. Round n asks every family for its trial n from a sampler seeded with (config seed,
family, n) that sees exactly trials 0..n-1; the round's cases run on the executor, then the values
are told. So a study depends neither on the executor nor on where a run was killed: a resume re-runs
a round's unfinished trials with their stored parameters and ends equal to an uninterrupted study.
Workers (processes, Dask) receive cases and send rows back; only this process touches the journal.
"""

from __future__ import annotations

import csv
import shutil
import warnings
import zlib
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .._errors import ConfigError
from ..experiments.config import Config, Search, Variant
from ..experiments.executors import execute
from ..experiments.cases import row_columns, run_groups
from ..experiments.plan import group_files, make_plan, split_targets
from ..atomic import remove_leftovers
from ..progress import Progress, ensure
from .folder import (SEARCH_ATOMIC_FILES, SEARCH_FILES, SearchError, open_storage, optuna,
                     read_manifest, stored_trials)
from .space import SearchSpace, bank_space, search_space, variant_point
from ..experiments.runs import check_inputs
from ..experiments.store import (RunError, RunStore, check_measures, config_plugins, environment, foreign_files,
                                 lock_folder, unlock, utc_now, write_config, write_json)

NOT_TUNED = ("oracle", "pnet-detector")  # an upper bound and a reference: no parameters to tune
GROUPS_PER_ITEM = 4  # target x pose groups a worker gets at a time


@dataclass(frozen=True)
class Family:
    """One study: a variant of the config, the space searched for it and its number of trials."""

    variant: Variant
    space: SearchSpace
    budget: int
    start: dict | None = None  # the first trial's values (``[search] start = "config"``), else drawn
    startup: int = 8  # random trials before TPE

    name = property(lambda self: self.variant.name)
    sampler = property(lambda self: "tpe" if self.space.size is None else "grid")


def search_settings(config: Config) -> Search:
    return config.search if config.search is not None else Search()


def families(config: Config, trials: int | None = None) -> list[Family]:
    """The studies of a search config: every variant but the oracle and the detector, each with `trials`
    (else the config's), or its space's distinct points (a plain kernel: colour x masks) if fewer."""
    where = config.source or config.name
    if config.split is None:
        raise ConfigError(f"{where}: tune needs a [split] (objects divided by image into tune and held-out sets)")
    if config.split.side is not None:
        raise ConfigError(f"{where}: field 'split.side' is set by tune and confirm themselves (remove it)")
    split_targets(config)  # both sides exist (at least two separate images), or one line now, before any folder
    settings = search_settings(config)
    trials = settings.trials if trials is None else trials
    found = []
    for variant in config.variants:
        if variant.family in NOT_TUNED:
            continue
        space = bank_space() if variant.family == "bank" else search_space(variant.family, variant.params)
        start = None
        if settings.start == "config" and space.size is None:
            try:
                start = variant_point(space, variant, config.color, config.template_masks)
            except ValueError as exc:
                raise ConfigError(f"{where}: field 'search.start' = 'config' cannot start {variant.name!r}: {exc}") from None
        if space.size is None:  # TPE: the budget rule ([search] per_dimension)
            budget, startup = settings.budget(len(space.dimensions), trials)
        else:
            budget, startup = min(trials, space.size), 0
        found.append(Family(variant, space, budget, start, startup))
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
    return replace(config, name=name, variants=variants, split=replace(config.split, side=side), search=None,
                   confirmation=None, source=None)


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
        sampler = module.samplers.TPESampler(seed=seed, n_startup_trials=family.startup,
                                             multivariate=True, constant_liar=False)
        if number == 0 and family.start is not None:  # every value fixed: the variant as written
            return module.samplers.PartialFixedSampler(family.start, sampler)
        return sampler


def directions(config: Config) -> list[str]:
    return ["maximize"] * len(labels(config))


def labels(config: Config) -> list[str]:
    """What a trial's values stand for: ["all"] (pooled over methods) or the methods."""
    return list(config.methods) if search_settings(config).objective == "per-method" else ["all"]


def mean_value(trial) -> float:
    """One number per trial (its pooled hit rate, or the mean of its per-method ones)."""
    return float(np.mean(trial.values))


def best_trials(trials: list, names: list[str]) -> dict:
    """{label: finished trial with the best value for it}; ties go to the earlier trial."""
    return {label: max(trials, key=lambda t: (t.values[index], -t.number)) for index, label in enumerate(names)}


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


def _describe(config: Config, found: list[Family], trials: int) -> dict:
    return {"name": config.name, "config_hash": config.digest, "seed": config.seed, "methods": list(config.methods),
            "objective": search_settings(config).objective, "startup": search_settings(config).startup,
            "trials": trials,
            "families": {f.name: {"family": f.variant.family, "budget": f.budget, "sampler": f.sampler,
                                  **({"startup": f.startup} if f.sampler == "tpe" else {}),
                                  "dimensions": [asdict(d) for d in f.space.dimensions],
                                  "fixed": {k: str(v) if isinstance(v, complex) else v for k, v in f.space.fixed.items()},
                                  "reasons": dict(f.space.reasons)} for f in found}}


def _open(config: Config, out: Path, resume: bool, trials: int | None) -> tuple[object, dict, list[Family]]:
    """Lock the tuning folder and create or check its search.json; (lock, manifest, families).
    A resumed search keeps the trials per family it started with."""
    started = (out / "search.json").exists()
    if started and not resume:
        raise RunError(f"{out}: already holds a search (use --resume to continue it, or choose another --out)")
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: is an existing file (allowed: a folder for the search)")
    foreign = foreign_files(out, SEARCH_FILES, SEARCH_ATOMIC_FILES)
    if foreign and not started:
        raise RunError(f"{out}: is not a search folder (it holds {', '.join(foreign[:3])}); choose an empty or new --out")
    manifest = read_manifest(out) if started else None
    if manifest is not None:
        if manifest["config_hash"] != config.digest:
            raise RunError(f"{out}: was made from a different config (hash {manifest['config_hash']}, this "
                           f"config {config.digest}); start a new search with another --out")
        check_measures(out, manifest)
        stored = stored_trials(manifest)
        if trials is not None and trials != stored:
            raise RunError(f"{out}: the search was started with {stored} trials per family; resume it with the "
                           "same --trials (or without it), so that every family keeps one budget")
        trials = stored
    trials = search_settings(config).trials if trials is None else trials
    found = families(config, trials)
    created = not out.exists()
    lock = lock_folder(out)
    try:
        leftovers = remove_leftovers(out, SEARCH_ATOMIC_FILES)  # the lock's holder is the only writer
        if manifest is not None:
            manifest["resumed"].append({"at": utc_now(), "leftovers_removed": leftovers})
        else:
            write_config(out, config)
            manifest = {**_describe(config, found, trials), "started": utc_now(), "resumed": [], **environment(config),
                        **({"leftovers_removed": leftovers} if leftovers else {})}
        manifest["finished"] = None
        write_json(out / "search.json", manifest)
    except BaseException:
        unlock(lock)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return lock, manifest, found


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


def _evaluate(config: Config, jobs: list[_Job], executor: str, workers, scheduler, task) -> tuple[dict, int]:
    """Run the jobs' unfinished groups: ({job: values}, leftover temporary files removed)."""
    with ExitStack() as stack:
        stores, groups, items = {}, {}, []
        for job in jobs:
            key = (job.family.name, job.number)
            plan = make_plan(job.config)
            store = stack.enter_context(RunStore(job.folder, plan, row_columns(plan.config), resume=True))
            stores[key], groups[key] = store, plan.groups
            todo = [g for g in groups[key] if g.id not in store.done]
            items += [(key, job.config, todo[i : i + GROUPS_PER_ITEM]) for i in range(0, len(todo), GROUPS_PER_ITEM)]
        task.update(completed=0, total=sum(len(i[2]) for i in items))
        needs = [plugin for job in jobs for plugin in config_plugins(job.config)]
        for key, rows in execute(_run_item, items, executor, workers, scheduler,
                                 files=lambda item: group_files(item[1], item[2]),  # read by path
                                 plugins=list({(p["kind"], p["name"]): p for p in needs}.values())):
            stores[key].append(rows)
            task.advance()
        for key, store in stores.items():
            store.finish()
        leftovers = sum(store.leftovers for store in stores.values())
    return {(job.family.name, job.number): trial_values(job.folder, config) for job in jobs}, leftovers


def _params_of(study, storage, family: Family, config: Config, number: int):
    """Trial `number` of a study: (state, parameters), asked now from its seeded sampler, or as
    stored: a trial cut off by a kill is run again with the parameters it was given. A kill in
    the middle of an ask leaves only some of them stored: the rest are drawn again exactly as
    then (the same seeded sampler over the same finished trials, in a scratch study) and stored."""
    trials = study.get_trials(deepcopy=False)
    if number > len(trials):
        raise SearchError(f"study {family.name}: has {len(trials)} trial(s), expected {number} (a journal not written by tune?)")
    distributions = _distributions(family.space)
    if number < len(trials) and (trials[number].state.name == "COMPLETE" or set(trials[number].params) == set(distributions)):
        return trials[number].state.name, trials[number].params
    sampler = _sampler(config, family, number)
    if number == len(trials):
        study.sampler = sampler
        return "RUNNING", study.ask(distributions).params
    scratch = optuna().create_study(directions=directions(config), sampler=sampler)
    scratch.add_trials(trials[:number])
    params = scratch.ask(distributions).params
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(family.name), number)
    for name, value in params.items():
        stored = trials[number].params.get(name, value)
        if stored != value:
            raise SearchError(f"study {family.name}: trial {number} holds {name} = {stored!r}, but its sampler gives "
                              f"{value!r} (a journal not written by this version of tune?)")
        if name not in trials[number].params:
            storage.set_trial_param(trial_id, name, distributions[name].to_internal_repr(value), distributions[name])
    return "RUNNING", params


def best_note(studies: dict) -> str:
    """'best: NAME VALUE (trial N)' over every study's finished trials (pooled: the value;
    per method: the mean over methods)."""
    best = None
    for name, study in studies.items():
        for trial in study.get_trials(deepcopy=False, states=(optuna().trial.TrialState.COMPLETE,)):
            value = mean_value(trial)
            if best is None or value > best[0]:
                best = (value, name, trial.number)
    return "" if best is None else f"best: {best[1]} {best[0]:.3f} (trial {best[2]})"


def tune(config: Config, out, resume: bool = False, executor: str = "processes", workers: int | None = None,
         scheduler: str | None = None, trials: int | None = None, progress: Progress | None = None) -> dict:
    """Search every family of `config` (see the module docs) into the tuning folder `out`."""
    module = optuna()
    progress = ensure(progress)
    out = Path(out)
    check_inputs(make_plan(config))
    lock, manifest, found = _open(config, out, resume, trials)
    leftovers = (manifest["resumed"][-1] if manifest["resumed"] else manifest).get("leftovers_removed", 0)
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
                    state, values = _params_of(studies[family.name], storage, family, config, number)
                    if state == "COMPLETE":
                        continue
                    trial_config = side_config(config, (variant_at(family, values),), "tune",
                                               f"{config.name}-{family.name}-{number:04d}")
                    jobs.append(_Job(family, number, trial_config, out / "trials" / family.name / f"{number:04d}"))
                if not jobs:
                    continue
                results, removed = _evaluate(config, jobs, executor, workers, scheduler, groups)
                leftovers += removed
                for job in jobs:
                    value = results[(job.family.name, job.number)]
                    study = studies[job.family.name]
                    # A grid sampler would call study.stop() once its grid is used up, which only
                    # works inside optimize(); the next ask sets the sampler again anyway.
                    study.sampler = module.samplers.RandomSampler()
                    study.tell(job.number, value if len(value) > 1 else value[0])
                    done, ran = done + 1, ran + 1
                    bar.update(completed=done, note=best_note(studies))
        manifest["finished"] = utc_now()
        write_json(out / "search.json", manifest)
    finally:
        unlock(lock)
    return dict(folder=str(out), trials=sum(f.budget for f in found), ran=ran, repaired_bytes=repaired,
                leftovers_removed=leftovers, best=best_note(studies))


__all__ = ["tune", "families", "Family", "variant_at", "side_config", "trial_values", "open_storage", "SearchError",
           "best_note", "trial_seed", "directions"]
