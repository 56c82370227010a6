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

from ._errors import FractalMatchError
from .config import Config, Variant, load_config
from .fractal import FAMILIES
from .images import write_atomic
from .search import SearchError, directions, families, open_storage, optuna, side_config, variant_at

CLAIMS = ("best fractal vs plain", "best fractal vs best control", "best fractal vs bank")


def _kind(family: str) -> str | None:
    if family == "bank":
        return "bank"
    return FAMILIES[family].kind if family in FAMILIES else None


def read_search(folder) -> tuple[Config, dict, list, dict]:
    """A finished tuning folder: (config, search.json, families, {family: {method: (trial, value)}}),
    the winner of each family for each method ("all" when the objective is pooled); ties go to
    the earlier trial."""
    folder = Path(folder)
    meta = folder / "search.json"
    if not meta.is_file():
        raise SearchError(f"{folder}: is not a tuning folder (no search.json; make one with `fractal-match tune`)")
    manifest = json.loads(meta.read_text())
    if manifest.get("finished") is None:
        raise SearchError(f"{folder}: the search is not finished (it stopped before its last trial); continue it with "
                          "`fractal-match tune CONFIG --out TUNE --resume`")
    config = load_config(folder / "config.toml")
    if manifest.get("config_hash") != config.digest:
        raise SearchError(f"{folder}: config.toml does not match search.json (hash {config.digest}, "
                          f"search made from {manifest.get('config_hash')})")
    found = families(config, max(manifest["budgets"].values()))
    storage, _ = open_storage(folder)
    complete = optuna().trial.TrialState.COMPLETE
    winners = {}
    for family in found:
        study = optuna().load_study(study_name=family.name, storage=storage)
        trials = study.get_trials(deepcopy=False, states=(complete,))
        if len(trials) < family.budget:
            raise SearchError(f"{folder}: the search is not finished ({family.name}: {len(trials)} of {family.budget} "
                              "trials); continue it with `fractal-match tune CONFIG --out TUNE --resume`")
        labels = list(config.methods) if len(directions(config)) > 1 else ["all"]
        winners[family.name] = {}
        for index, label in enumerate(labels):
            best = max(trials, key=lambda t: (t.values[index], -t.number))
            winners[family.name][label] = (best.number, best.values[index], best.params)
    return config, manifest, found, winners


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
    variants += [v for v in config.variants if v.family in ("oracle", "pnet-detector")]
    if not any(v.family == "oracle" for v in variants):
        variants.append(Variant("oracle", "oracle"))
    kinds = {f.name: _kind(f.variant.family) for f in found}
    declared, chosen = [], {}
    for label in next(iter(winners.values())):
        def best(kind):
            pool = [f.name for f in found if kinds[f.name] == kind]
            return max(pool, key=lambda n: winners[n][label][1], default=None)

        fractal, control = best("fractal"), best("control")
        plain = next((f.name for f in found if f.variant.family == "none"), None)
        bank = next((f.name for f in found if f.variant.family == "bank"), None)
        chosen[label] = {"best fractal": fractal, "best control": control, "plain": plain, "bank": bank}
        if fractal is None:
            raise SearchError(f"{config.source or config.name}: the search has no fractal family, so nothing to confirm")
        methods = list(config.methods) if label == "all" else [label]
        for claim, other in zip(CLAIMS, (plain, control, bank)):
            if other is not None:
                declared += [{"claim": claim, "method": m, "first": names[(fractal, label)], "second": names[(other, label)]}
                             for m in methods]
    return tuple(variants), declared, chosen


def confirm(tune_folder, out, resume: bool = False, executor: str = "processes", workers: int | None = None,
            scheduler: str | None = None, progress=None) -> dict:
    """Run the confirmation of the search in `tune_folder` into the run folder `out`."""
    from .runs import run_experiment, run_progress

    config, manifest, found, winners = read_search(tune_folder)
    variants, declared, chosen = declare(config, found, winners)
    run_config = side_config(config, variants, "held-out", f"{config.name}-confirm")
    out = Path(out)
    declaration = {"tune_folder": str(Path(tune_folder)), "search_hash": manifest["config_hash"], "chosen": chosen,
                   "winners": {f: {label: {"trial": n, "tune_value": v} for label, (n, v, _) in w.items()}
                               for f, w in winners.items()},
                   "declared": declared, "holm_over": "the declared comparisons only"}
    text = (json.dumps(declaration, indent=2, sort_keys=True) + "\n").encode("utf-8")
    path = out / "declared.json"
    if path.exists() and path.read_bytes() != text:
        raise FractalMatchError(f"{path}: declares other comparisons than this search gives (choose another --out)")
    if not (out / "manifest.json").exists() or not resume:
        if (out / "manifest.json").exists():
            raise FractalMatchError(f"{out}: already holds a run (use --resume to continue it, or choose another --out)")
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)  # before any case runs
    summary = run_experiment(run_config, out, resume=resume, executor=executor, workers=workers, scheduler=scheduler,
                             progress=None if progress is None else run_progress(progress, run_config))
    return {**summary, "declared": declared, "chosen": chosen, "config": run_config}
