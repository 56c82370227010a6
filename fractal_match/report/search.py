"""The report of a tuning folder: for each family its optimization history and parameter
importances, the searched space (and what was held, and why) and the winner; trials.csv holds
every trial. Everything is read from the folder (search.json and the study journal)."""

from __future__ import annotations

import html
import json
import math
import shlex
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..atomic import write_atomic
from ..search.study import best_trials, mean_value
from ..progress import Progress, ensure
from .figures import save_figure
from ._page import docs_line, head
from .plots import _SAFE, _short
from .tables import to_csv



def _studies(folder: Path) -> tuple[dict, dict]:
    """(search.json, {family: study}) of a tuning folder."""
    from ..search.study import SearchError, open_storage, optuna, read_manifest

    manifest = read_manifest(folder)
    storage, _ = open_storage(folder)
    names = {s.study_name for s in optuna().get_all_study_summaries(storage)}
    studies = {name: optuna().load_study(study_name=name, storage=storage) for name in manifest["families"] if name in names}
    if not studies:
        raise SearchError(f"{folder / 'study.journal'}: holds no study of this search yet")
    return manifest, studies


def _complete(study) -> list:
    from ..search.study import optuna

    return study.get_trials(deepcopy=False, states=(optuna().trial.TrialState.COMPLETE,))


def _labels(manifest: dict) -> list[str]:
    """What a trial's values stand for, as search.json records it: ["all"] or the methods."""
    return manifest["methods"] if manifest["objective"] == "per-method" else ["all"]


def trial_rows(manifest: dict, studies: dict) -> list[dict]:
    labels = _labels(manifest)
    rows = []
    for name, study in studies.items():
        for trial in study.get_trials(deepcopy=False):
            values = trial.values or [math.nan] * len(labels)
            rows.append({"family": name, "trial": trial.number, "state": trial.state.name,
                         **{f"hit_rate_{_short(label)}": v for label, v in zip(labels, values)},
                         "params": json.dumps(trial.params, sort_keys=True)})
    return rows


def importances(study) -> dict[str, float]:
    """PED-ANOVA importances (Optuna's estimator that needs no scikit-learn, and is
    deterministic) of the searched dimensions for the (mean) value; {} when the trials do not
    vary enough to say (fewer than 4 finished, or all values equal)."""
    from ..search.study import optuna

    trials = _complete(study)
    if len(trials) < 4 or len({mean_value(t) for t in trials}) < 2:
        return {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the estimator is marked experimental
        evaluator = optuna().importance.PedAnovaImportanceEvaluator()
        found = optuna().importance.get_param_importances(study, evaluator=evaluator, target=mean_value)
    # Optuna orders tied importances as a set of names iterates, which changes with each process's
    # string hashing (PYTHONHASHSEED): by importance, then by name, the figure is the same every time
    return dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))


def _panels(count: int, width: float, height: float, sharey: bool = False) -> tuple[Figure, list]:
    """A figure of `count` panels, four to a row, each `width` x `height` inches; unused ones hidden."""
    columns = min(4, count)
    rows = math.ceil(count / columns)
    fig = Figure(figsize=(width * columns, height * rows), layout="constrained")
    axes = list(np.atleast_1d(fig.subplots(rows, columns, sharey=sharey, squeeze=False)).ravel())
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def history_figure(studies: dict, budgets: dict, startup: dict | None = None) -> Figure:
    """One panel per family: each trial's value (dots) and the best so far (a step line), on one
    value axis for all (from 0 to a little above the best value of the search); a dashed line
    where a TPE family's random start (`startup[name]` trials) ends."""
    fig, axes = _panels(len(studies), 3.4, 2.6, sharey=True)
    top = max((mean_value(t) for study in studies.values() for t in _complete(study)), default=0.0)
    for ax, (name, study) in zip(axes, studies.items()):
        trials = _complete(study)
        numbers = [t.number for t in trials]
        values = [mean_value(t) for t in trials]
        ax.plot(numbers, values, "o", color=_SAFE[2], markersize=4, label="trial")
        if values:
            ax.step(numbers, np.maximum.accumulate(values), where="post", color=_SAFE[0], label="best so far")
        if (startup or {}).get(name):
            ax.axvline(startup[name] - 0.5, color=_SAFE[6], linestyle="--", linewidth=1, label="TPE from here")
        ax.set_title(f"{name} ({len(trials)} of {budgets.get(name, len(trials))} trials)", fontsize=10)
        ax.set_xlabel("trial")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, max(0.05, min(1.0, 1.15 * top)))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("tune hit rate")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("optimization history per family (tune split)", fontsize=12)
    return fig


def importance_figure(found: dict[str, dict[str, float]]) -> Figure:
    """One panel per family: the importance of each searched dimension (sums to 1)."""
    longest = max((len(values) for values in found.values()), default=1)
    fig, axes = _panels(len(found), 3.8, 0.9 + 0.22 * longest)
    for ax, (name, values) in zip(axes, found.items()):
        if not values:
            ax.text(0.5, 0.5, "not enough variation\nto estimate", ha="center", va="center", transform=ax.transAxes, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ordered = sorted(values.items(), key=lambda item: item[1])
            ax.barh(range(len(ordered)), [v for _, v in ordered], color=_SAFE[5])
            ax.set_yticks(range(len(ordered)), [k for k, _ in ordered], fontsize=8)
            ax.set_xlim(0, 1)
            ax.grid(axis="x", alpha=0.3)
        ax.set_title(name, fontsize=10)
    fig.suptitle("parameter importance per family (PED-ANOVA on the tune hit rate)", fontsize=12)
    return fig


def _space_html(entry: dict) -> str:
    dims = "".join(
        f"<li><code>{html.escape(d['name'])}</code>: "
        + (" | ".join(html.escape(str(c)) for c in d["choices"]) if d["kind"] == "categorical"
           else f"{d['kind']} {d['low']:g} to {d['high']:g}{' (log)' if d['log'] else ''}") + "</li>" for d in entry["dimensions"])
    held = "".join(f"<li><code>{html.escape(k)}</code>"
                   + (f" = {html.escape(str(entry['fixed'][k]))}" if k in entry["fixed"] else "") + f": {html.escape(why)}</li>"
                   for k, why in entry["reasons"].items())
    return f"<ul>{dims}</ul>" + (f"<p>held:</p><ul>{held}</ul>" if held else "")


def _starts_from_config(folder: Path) -> bool:
    """Whether the search's TPE families start at the config's variants (``[search] start``)."""
    from ..experiments.config import load_config
    from .._errors import FractalMatchError

    try:
        config = load_config(folder / "config.toml")
    except FractalMatchError:
        return False
    return config.search is not None and config.search.start == "config"


def _progress(folder: Path, manifest: dict, studies: dict) -> tuple[int, int, str]:
    """(trials finished, trials planned, the command that completes the search)."""
    done = sum(len(_complete(s)) for s in studies.values())
    planned = sum(e["budget"] for e in manifest["families"].values())
    return done, planned, f"fractal-match tune {shlex.quote(str(folder / 'config.toml'))} --out {shlex.quote(str(folder))} --resume"


def partial_search(folder) -> str | None:
    """One line for the terminal when a tuning folder's search has not finished (else None)."""
    from ..search.study import read_manifest

    folder = Path(folder)
    if read_manifest(folder)["finished"] is not None:
        return None  # search.json says so: the journal is not opened again
    manifest, studies = _studies(folder)
    done, planned, command = _progress(folder, manifest, studies)
    return f"partial search: {done} of {planned} trials finished; `{command}` completes it"


def make_search_report(folder, out=None, progress: Progress | None = None, svg: bool = False) -> Path:
    """trials.csv, history.png, importances.png and index.html for a tuning folder."""
    folder = Path(folder)
    progress = ensure(progress)
    out = Path(out) if out is not None else folder / "report"
    with progress.step("report: the study", total=3) as task:
        manifest, studies = _studies(folder)
        out.mkdir(parents=True, exist_ok=True)
        rows = trial_rows(manifest, studies)
        columns = tuple(dict.fromkeys(k for r in rows for k in r)) or ("family",)
        write_atomic(out / "trials.csv", to_csv(rows, columns))
        task.advance()
        budgets = {name: entry["budget"] for name, entry in manifest["families"].items()}
        startup = {name: entry.get("startup", manifest["startup"]) for name, entry in manifest["families"].items()
                   if entry["sampler"] == "tpe"}
        save_figure(history_figure(studies, budgets, startup), out / "history", {"folder": folder.name}, svg=svg)
        task.advance()
        found = {name: importances(study) for name, study in studies.items()}
        save_figure(importance_figure(found), out / "importances", {"folder": folder.name}, svg=svg)
        task.advance()
    body, names, from_config = [], _labels(manifest), _starts_from_config(folder)
    for name, entry in manifest["families"].items():
        trials = _complete(studies[name]) if name in studies else []
        winner = "none yet" if not trials else "<br>".join(
            f"{'' if label == 'all' else html.escape(_short(label)) + ': '}trial {best.number}, tune hit rate "
            f"{best.values[i]:.3f}: <code>{html.escape(json.dumps(best.params, sort_keys=True))}</code>"
            for i, (label, best) in enumerate(best_trials(trials, names).items()))
        first = next((t for t in trials if t.number == 0), None)
        start = ("" if not (from_config and entry["sampler"] == "tpe" and first) else
                 f"{mean_value(first):.3f}<br><small>best {max(mean_value(t) for t in trials) - mean_value(first):+.3f}</small>")
        body.append(f"<tr><td>{html.escape(name)}</td><td>{entry['family']}</td><td>{entry['sampler']}</td>"
                    f"<td>{len(trials)} of {entry['budget']}</td><td style='text-align:left'>{_space_html(entry)}</td>"
                    f"<td>{start}</td><td style='text-align:left'>{winner}</td></tr>")
    done, planned, command = _progress(folder, manifest, studies)
    partial = "" if manifest["finished"] is not None else (
        f"<p style='background:#fff3cd;padding:0.5em'><strong>Partial search: {done} of {planned} trials finished.</strong> "
        f"<code>{html.escape(command)}</code> completes it; the winners below are those so far.</p>")
    page = head(f"fractal-match search: {manifest['name']}", "td { vertical-align: top; } ul { margin: 0.2em 0; padding-left: 1.2em; }") + f"""<h1>fractal-match search: {html.escape(manifest['name'])}</h1>
{partial}<p>Each family's parameters searched on the <strong>tune</strong> side of the split only, with the budget in the
table (a family whose space has fewer distinct points tries each once); objective: the tune hit rate
({html.escape(manifest['objective'])}), over {len(manifest['methods'])} method(s). The first trials of a TPE family are
drawn at random (the dashed line in the history).{" Every TPE family's trial 0 is its variant as the config writes it "
"(its defaults): the start column gives that trial's value and how far the best is above it, so no family ends "
"below its start." if from_config else ""} Every trial is a run folder under <code>trials/</code>;
every trial's parameters and values: <a href="trials.csv">trials.csv</a>. These are tuning values, not results:
the winners are tested on held-out objects by <code>fractal-match confirm</code>.</p>
<h2>Families: searched space and winner</h2>
<table><tr><th>variant</th><th>family</th><th>sampler</th><th>trials</th><th>searched (and held)</th><th>start (trial 0)</th><th>winner</th></tr>
{''.join(body)}</table>
<h2>Optimization history</h2><figure><a href="history.png"><img src="history.png" alt="history"></a></figure>
<h2>Parameter importances</h2><figure><a href="importances.png"><img src="importances.png" alt="importances"></a>
<figcaption>PED-ANOVA importance (Optuna's estimator: how much each dimension's distribution among the best trials differs
from its distribution among all) for the tune hit rate, per family; the switches <code>color</code> and <code>template_masks</code> are dimensions like the others.</figcaption></figure>
{docs_line()}
</body></html>
"""
    write_atomic(out / "index.html", page.encode("utf-8"))
    return out
