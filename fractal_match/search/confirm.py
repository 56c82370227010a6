"""`confirm TUNE`: each family's winner of a finished search, the plain kernel (tuned likewise),
the one-template bank and the oracle, run on the held-out side of the split only.

The comparisons it tests are declared, in ``declared.json``, before the first case runs, from
the tuning values alone: for each method, the best fractal (the fractal family whose winner
scored highest on the tune split) against the plain kernel, against the best control (chosen
the same way) and against the bank at equal template count (one template). The report applies
Holm over these only; every other comparison is marked exploratory and adjusted on its own.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from .._errors import FractalMatchError
from ..experiments.config import Config, Variant, load_config
from ..templates.fractal import family_kind
from .study import (NOT_TUNED, SearchError, best_trials, families, labels, open_storage, optuna, read_manifest,
                   side_config, stored_trials, variant_at)
from ..experiments.store import write_json

CLAIMS = ("best fractal vs plain", "best fractal vs best control", "best fractal vs bank")


def read_search(folder) -> tuple[Config, dict, list, dict]:
    """A finished tuning folder: (config, search.json, families, {family: {label: (trial, value,
    parameters)}}), the winner of each family for each method ("all" when the objective is
    pooled); ties go to the earlier trial."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest["finished"] is None:
        raise SearchError(f"{folder}: the search is not finished (it stopped before its last trial); continue it with "
                          "`fractal-match tune CONFIG --out TUNE --resume`")
    config = load_config(folder / "config.toml")
    if manifest["config_hash"] != config.digest:
        raise SearchError(f"{folder}: config.toml does not match search.json (hash {config.digest}, "
                          f"search made from {manifest['config_hash']})")
    found = families(config, stored_trials(manifest))
    storage, _ = open_storage(folder)
    complete = optuna().trial.TrialState.COMPLETE
    chosen = {}
    for family in found:
        try:
            study = optuna().load_study(study_name=family.name, storage=storage)
        except KeyError:
            raise SearchError(f"{folder}: study.journal holds no study {family.name!r}") from None
        trials = study.get_trials(deepcopy=False, states=(complete,))
        if len(trials) != family.budget:
            raise SearchError(f"{folder}: study {family.name} has {len(trials)} finished trials, its budget is "
                              f"{family.budget}; continue it with `fractal-match tune CONFIG --out TUNE --resume`")
        chosen[family.name] = {label: (t.number, t.values[i], t.params)
                               for i, (label, t) in enumerate(best_trials(trials, labels(config)).items())}
    return config, manifest, found, chosen


def declare(config: Config, found: list, winners: dict) -> tuple[tuple[Variant, ...], list[dict], dict]:
    """The confirmation's variants, its declared comparisons and the choice behind them."""
    variants, names = [], {}
    for family in found:
        distinct = sorted({number for number, _, _ in winners[family.name].values()})
        for number in distinct:
            name = family.name if len(distinct) == 1 else f"{family.name}-t{number:04d}"
            params = next(p for n, _, p in winners[family.name].values() if n == number)
            variants.append(replace(variant_at(family, params), name=name))
            for label, (n, _, _) in winners[family.name].items():
                if n == number:
                    names[(family.name, label)] = name
    variants += [v for v in config.variants if v.family in NOT_TUNED]
    if not any(v.family == "oracle" for v in variants):
        variants.append(Variant("oracle", "oracle"))
    kinds = {f.name: family_kind(f.variant.family) for f in found}
    plain = next((f.name for f in found if f.variant.family == "none"), None)
    bank = next((f.name for f in found if f.variant.family == "bank"), None)

    def best(kind: str, label: str) -> str | None:
        return max((f.name for f in found if kinds[f.name] == kind), key=lambda n: winners[n][label][1], default=None)

    declared, chosen = [], {}
    for label in next(iter(winners.values())):
        fractal, control = best("fractal", label), best("control", label)
        if fractal is None:
            raise SearchError(f"{config.source or config.name}: the search has no fractal family, so nothing to confirm")
        chosen[label] = {"best fractal": fractal, "best control": control, "plain": plain, "bank": bank}
        methods = list(config.methods) if label == "all" else [label]
        for claim, other in zip(CLAIMS, (plain, control, bank)):
            if other is not None:
                declared += [{"claim": claim, "method": m, "first": names[(fractal, label)], "second": names[(other, label)]}
                             for m in methods]
    return tuple(variants), declared, chosen


def confirm(tune_folder, out, resume: bool = False, executor: str = "processes", workers: int | None = None,
            scheduler: str | None = None, progress=None) -> dict:
    """Run the confirmation of the search in `tune_folder` into the run folder `out`."""
    from ..experiments.plan import make_plan
    from ..experiments.runs import run_experiment, run_progress

    config, manifest, found, winners = read_search(tune_folder)
    variants, declared, chosen = declare(config, found, winners)
    run_config = side_config(config, variants, "held-out", f"{config.name}-confirm")
    declaration = {"tune_folder": str(Path(tune_folder).resolve()), "search_hash": manifest["config_hash"],
                   "chosen": chosen, "declared": declared, "holm_over": "the declared comparisons only",
                   "winners": {f: {label: {"trial": n, "tune_value": v} for label, (n, v, _) in w.items()}
                               for f, w in winners.items()}}

    def declare_in(folder: Path) -> None:
        """Once the run folder is open, before its first case: write the declaration, or check
        that a resumed confirmation declared the same."""
        path = folder / "declared.json"
        if not path.exists():
            write_json(path, declaration)
            return
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FractalMatchError(f"{path}: unreadable ({exc})") from None
        if any(before.get(key) != json.loads(json.dumps(declaration[key])) for key in ("declared", "chosen", "winners")):
            raise FractalMatchError(f"{path}: declares other comparisons than this search gives (choose another --out)")

    plan = make_plan(run_config)
    summary = run_experiment(plan, out, resume=resume, executor=executor, workers=workers, scheduler=scheduler,
                             progress=None if progress is None else run_progress(progress, plan), on_open=declare_in)
    return {**summary, "declared": declared, "chosen": chosen, "config": run_config}
