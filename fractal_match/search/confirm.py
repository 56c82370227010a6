"""`confirm TUNE`: each family's winner of a finished search, the plain kernel (tuned likewise),
the one-template bank and the oracle, run on the held-out side of the split only.

The comparisons it tests are declared, in ``declared.json``, before the first case runs, from
the tuning values alone: for each method, the best fractal (the fractal family whose winner
scored highest on the tune split) against the plain kernel, against the best control (chosen
the same way) and against the bank at equal template count (one template). The report applies
Holm over these only; every other comparison is marked exploratory and adjusted on its own.

A config's ``[confirmation]`` adds, declared the same way: the equivalence margins (each declared
comparison is then judged superior, inferior, equivalent or inconclusive), and the invariance
comparisons: the same three claims on the (kernel, method) pairs whose plain kernel finds its
object at scale 1 and rotation 0 on at least ``invariance_rate`` of the tune objects (read from
the plain winner's tune trial), with the best fractal and best control chosen by their tune hit
rate on those pairs over the changed poses, measured over the changed poses only, Holm over
these apart.
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
        changed = (f"; the boxes in {', '.join(f.path.name for f in config.targets.files)} are part of it, and may "
                   "have changed since the search" if config.targets.files else "")
        raise SearchError(f"{folder}: config.toml does not match search.json (hash {config.digest}, "
                          f"search made from {manifest['config_hash']}){changed}")
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


def trial_rows(folder: Path, family: str, trial: int) -> list[dict]:
    """The rows of one tuning trial (its results.csv, or results.csv.xz once compressed), or
    SearchError naming the file."""
    import csv
    import io
    import lzma

    base = Path(folder) / "trials" / family / f"{trial:04d}"
    path = base / "results.csv" if (base / "results.csv").exists() else base / "results.csv.xz"
    try:
        raw = path.read_bytes()
        text = (lzma.decompress(raw) if path.suffix == ".xz" else raw).decode("utf-8")
        return list(csv.DictReader(io.StringIO(text)))
    except (OSError, lzma.LZMAError, UnicodeDecodeError) as exc:
        raise SearchError(f"{path}: cannot be read for the invariance comparisons ({exc})") from None


def _identity(row: dict) -> bool:
    return float(row["scale"]) == 1 and float(row["rotation"]) % 360 == 0


def identity_rates(folder: Path, family: str, trial: int) -> dict:
    """{method: {kernel: hit rate at scale 1 and rotation 0}} of a trial's rows (tune objects
    only: a tuning trial runs the tune side)."""
    counts: dict = {}
    for row in trial_rows(folder, family, trial):
        if _identity(row):
            hits = counts.setdefault(row["method"], {}).setdefault(row["kernel"], [0, 0])
            hits[0] += row["hit"] == "1"
            hits[1] += 1
    return {m: {k: h / n for k, (h, n) in kernels.items()} for m, kernels in counts.items()}


def changed_rate(folder: Path, family: str, trial: int, method: str, kernels) -> float:
    """A trial's tune hit rate for `method` on `kernels` over the changed poses (all but scale 1,
    rotation 0): what the invariance comparisons measure, on the tune objects."""
    hits = [row["hit"] == "1" for row in trial_rows(folder, family, trial)
            if row["method"] == method and row["kernel"] in kernels and not _identity(row)]
    return sum(hits) / len(hits) if hits else 0.0


def invariance(config: Config, folder: Path, found: list, winners: dict, names: dict) -> tuple[dict, list[dict]]:
    """The invariance selection and comparisons (module docs), chosen from tune rows only: per
    method, the kernels whose plain winner hits at the identity pose on >= invariance_rate of the
    tune objects; the best fractal and best control by their winners' tune hit rate on those
    kernels over the changed poses. Returns (the selection, for declared.json; the comparisons)."""
    rate = config.confirmation.invariance_rate if config.confirmation is not None else 0.0
    plain = next((f.name for f in found if f.variant.family == "none"), None)
    if not rate:
        return {}, []
    if plain is None:
        return {"rate": rate, "qualifying": {m: [] for m in config.methods}, "note": "the search has no plain kernel"}, []
    kinds = {f.name: family_kind(f.variant.family) for f in found}
    bank = next((f.name for f in found if f.variant.family == "bank"), None)
    pooled = "all" in next(iter(winners.values()))
    selection = {"rate": rate, "rates": {}, "qualifying": {}, "plain": {}, "chosen": {}, "notes": {},
                 "measure": "hit rate over the changed poses only (all but scale 1, rotation 0)"}
    declared = []
    for method in config.methods:
        label = "all" if pooled else method
        trial = winners[plain][label][0]
        rates = identity_rates(folder, plain, trial).get(method, {})
        kernels = sorted(k for k, r in rates.items() if r >= rate)
        selection["plain"][method], selection["rates"][method], selection["qualifying"][method] = trial, rates, kernels
        if not kernels:
            selection["notes"][method] = (f"no kernel's plain template finds its object at scale 1 and rotation 0 on "
                                          f"{rate:g} of the tune objects (best: {max(rates.values(), default=0):.3f})")
            continue
        tune = {f.name: changed_rate(folder, f.name, winners[f.name][label][0], method, kernels) for f in found}

        def best(kind: str) -> str | None:
            return max((f.name for f in found if kinds[f.name] == kind), key=lambda n: tune[n], default=None)

        fractal, control = best("fractal"), best("control")
        selection["chosen"][method] = {"best fractal": fractal, "best control": control,
                                       "tune rates over the changed poses": tune}
        for claim, other in zip(CLAIMS, (plain, control, bank)):
            if fractal is not None and other is not None:
                declared.append({"claim": f"invariance: {claim}", "method": method, "first": names[(fractal, label)],
                                 "second": names[(other, label)], "kernels": kernels, "poses": "changed"})
    return selection, declared


def declare(config: Config, found: list, winners: dict, folder: Path | None = None
            ) -> tuple[tuple[Variant, ...], list[dict], dict]:
    """The confirmation's variants, its declared comparisons and the choice behind them (with
    the tuning `folder`, the invariance comparisons of the config's [confirmation] too)."""
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
    selection, more = invariance(config, folder, found, winners, names) if folder is not None else ({}, [])
    if selection:
        chosen["invariance"] = selection
    return tuple(variants), declared + more, chosen


def margin_declaration(confirmation) -> dict:
    """The equivalence margins of a [confirmation] and how they are tested, for declared.json."""
    if confirmation.rule == "photo":
        found = {"delta": confirmation.margin, "reason": confirmation.reason, "clusters": "image", "rule": "photo",
                 "test": "every verdict with the photos as the independent units: CR2 cluster-robust t-tests with "
                         "Bell-McCaffrey degrees of freedom, Holm within each family; superior or inferior: the "
                         "two-sided test rejects at 5%; equivalent: both one-sided tests against +-delta reject (TOST); "
                         "'no gain larger than delta': the upper one alone. McNemar over cases and the bootstrap over "
                         "objects are shown, exploratory"}
    else:
        found = {"delta": confirmation.margin, "reason": confirmation.reason, "clusters": confirmation.clusters,
                 "test": f"TOST: both one-sided cluster-robust t-tests (units: {confirmation.clusters}s, G - 1 degrees of "
                         "freedom) against +-delta reject at 5% after Holm within the family; 'no gain larger than "
                         "delta': the upper one alone"}
    if confirmation.invariance_rate:
        found.update(invariance_delta=confirmation.invariance_margin, invariance_reason=confirmation.invariance_reason)
    return found


def replication_config(search: Config, other: Config, variants: tuple[Variant, ...]) -> Config:
    """The run of a search's frozen winners on the objects of `other` (new photos, none of them
    in the search): `other`'s targets, poses and evaluation; the search's kernels, methods and
    matching, which the winners were chosen for. Every object is held out: no [split]."""
    where = other.source or other.name
    if other.split is not None:
        raise FractalMatchError(f"{where}: field 'split': a confirmation on new photos runs every object (allowed: no "
                                "[split] table)")
    for field in ("kernels", "methods", "color", "template_masks", "kernel_size"):
        if getattr(other, field) != getattr(search, field):
            raise FractalMatchError(f"{where}: field {field!r} = {list(getattr(other, field)) if field in ('kernels', 'methods') else getattr(other, field)!r} "
                                    f"is not the search's (allowed: {getattr(search, field)!r}, what the winners were "
                                    "chosen for)")
    mine, theirs = dict(search.kernel_files), dict(other.kernel_files)
    for name, digest in theirs.items():  # a kernel file of the same name must be the same file
        if mine.get(name, digest) != digest:
            raise FractalMatchError(f"{where}: field 'kernels': {name!r} is not the file the search used (its SHA-256 "
                                    f"{digest[:12]}..., the search's {mine[name][:12]}...) (allowed: the search's "
                                    "kernel files, unchanged)")
    return replace(other, variants=variants, search=None, confirmation=None, source=None)


def confirm(tune_folder, out, resume: bool = False, executor: str = "processes", workers: int | None = None,
            scheduler: str | None = None, progress=None, on=None) -> dict:
    """Run the confirmation of the search in `tune_folder` into the run folder `out`: on its
    held-out objects, or with `on` (a config, or its path) on that config's objects, all of
    them new, with that config's [confirmation] declaring margins, rule and measures."""
    from ..experiments.plan import make_plan, photo_units
    from ..experiments.runs import run_experiment, run_progress

    config, manifest, found, winners = read_search(tune_folder)
    variants, declared, chosen = declare(config, found, winners, Path(tune_folder))
    if on is None:
        run_config, confirmation, extra = side_config(config, variants, "held-out", f"{config.name}-confirm"), \
            config.confirmation, {}
    else:
        other = on if isinstance(on, Config) else load_config(on)
        run_config, confirmation = replication_config(config, other, variants), other.confirmation
        extra = {"replication": {"config": str(other.source), "config_hash": other.digest,
                                 "note": "the search's winners frozen, run on this config's objects: none of them "
                                         "was in the search"}}
    if confirmation is not None:
        extra.update({key: getattr(confirmation, key) for key in ("primary", "secondary", "power")
                      if getattr(confirmation, key)})
    declaration = {"tune_folder": str(Path(tune_folder).resolve()), "search_hash": manifest["config_hash"],
                   "chosen": chosen, "declared": declared, "holm_over": "the declared comparisons only",
                   **({"margin": margin_declaration(confirmation)} if confirmation is not None else {}),
                   "winners": {f: {label: {"trial": n, "tune_value": v} for label, (n, v, _) in w.items()}
                               for f, w in winners.items()}, **extra}
    plan = make_plan(run_config)
    units = photo_units(plan.targets)
    if units:
        declaration["units"] = units

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

    summary = run_experiment(plan, out, resume=resume, executor=executor, workers=workers, scheduler=scheduler,
                             progress=None if progress is None else run_progress(progress, plan), on_open=declare_in)
    return {**summary, "declared": declared, "chosen": chosen, "config": run_config}
