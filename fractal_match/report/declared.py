"""A confirmation's declaration on the report page: the comparisons declared before the held-out
run (declared.json), each family with its own Holm adjustment, the equivalence verdicts against
the declared margin, the invariance selection, and the exploratory paired tests per kernel."""

from __future__ import annotations

import html
import json
import math

from .._errors import FractalMatchError
from .tables import Run, established


def read_declaration(run: Run) -> dict | None:
    """declared.json of a confirmation (None for other runs); its "declared" list is required."""
    path = run.folder / "declared.json"
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        found["declared"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise FractalMatchError(f"{path}: unreadable declaration ({exc})") from None
    return found


def _fmt(value, digits: int = 3) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return html.escape(str(value))


def _table(rows: list[dict], verdicts: bool) -> str:
    head = ("<tr><th>claim</th><th>method</th><th>first</th><th>second</th><th>n</th><th>b</th><th>c</th>"
            "<th>difference</th><th>95% CI</th>" + ("<th>90% CI</th>" if verdicts else "") +
            "<th>Holm p</th><th>established</th>" + ("<th>verdict</th>" if verdicts else "") + "</tr>")
    body = "".join(
        f"<tr><td>{html.escape(r['claim'])}</td><td>{html.escape(r['method'])}</td><td>{html.escape(r['first'])}</td>"
        f"<td>{html.escape(r['second'])}</td><td>{r['n']}</td><td>{r['b']}</td><td>{r['c']}</td><td>{_fmt(r['difference'])}</td>"
        f"<td>[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]</td>"
        + (f"<td>[{_fmt(r['ci90_low'])}, {_fmt(r['ci90_high'])}]</td>" if verdicts else "")
        + f"<td>{r['p_holm']:.2g}</td><td>{'yes' if established(r) else 'no'}</td>"
        + (f"<td><b>{html.escape(r['verdict'])}</b></td>" if verdicts else "") + "</tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def _invariance_text(selection: dict) -> str:
    if not selection:
        return ""
    chosen = "; ".join(f"{html.escape(m)}: {', '.join(html.escape(k) for k in kernels) or 'none'}"
                       for m, kernels in selection["qualifying"].items())
    note = f" {html.escape(selection['note'])}." if selection.get("note") else ""
    return (f"<p><b>Invariance</b> (the blog's own claim): the same claims on the kernels whose plain template finds "
            f"its object at scale 1 and rotation 0 on at least {selection['rate']:g} of the tune objects (chosen on the "
            f"tune objects, from the plain winner's tune trial, before any held-out case ran), measured over the changed "
            f"poses only; Holm over these apart from the pooled ones. Qualifying kernels per method: {chosen}.{note}</p>")


def declared_section(comparisons: list[dict], declaration: dict | None) -> str:
    """The declared families, every comparison (established or not) in the order declared."""
    if not declaration:
        return ""
    pooled = [r for r in comparisons if r["holm_set"] == "confirmatory"]
    invariant = [r for r in comparisons if r["holm_set"] == "invariance"]
    margin = declaration.get("margin")
    verdicts = margin is not None
    text = (f"<h2 id='declared'>Declared comparisons (confirmatory)</h2><p>Declared in <a href='../declared.json'>"
            f"declared.json</a> from the tuning values before any held-out case ran; Holm over the {len(pooled)} pooled "
            "comparisons only. Every other comparison in comparisons.csv is exploratory (Holm over those separately).")
    if verdicts:
        text += (f" Equivalence margin δ = {margin['delta']:g} ({html.escape(margin['reason'])}): <em>equivalent</em> "
                 "when the 90% cluster-bootstrap interval lies inside ±δ (two one-sided tests at 5%); <em>superior</em> "
                 "or <em>inferior</em> when established; else <em>inconclusive</em>.")
    text += "</p>" + _table(pooled, verdicts)
    selection = declaration.get("chosen", {}).get("invariance", {})
    if selection or invariant:
        text += (f"<h3 id='invariance'>Invariance comparisons (confirmatory, Holm over these {len(invariant)})</h3>"
                 + _invariance_text(selection) + (_table(invariant, verdicts) if invariant else ""))
    return text


def per_kernel_section(rows: list[dict]) -> str:
    """The paired tests of each kernel alone (exploratory): the established ones on the page,
    every one in comparisons_per_kernel.csv."""
    if not rows:
        return ""
    shown = [r for r in rows if established(r)]
    body = "".join(
        f"<tr><td>{html.escape(r['kernel'])}</td><td>{html.escape(r['method'])}</td><td>{html.escape(r['first'])}</td>"
        f"<td>{html.escape(r['second'])}</td><td>{r['n']}</td><td>{_fmt(r['difference'])}</td>"
        f"<td>[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]</td><td>{r['p_holm']:.2g}</td></tr>" for r in shown)
    return (f"<h2 id='per-kernel-tests'>Paired tests per kernel (exploratory)</h2><p>The comparisons above for each "
            f"kernel alone, Holm over each kernel's tests; exploratory, as none was declared before the run. "
            f"Established: {len(shown)} of {len(rows)} (all in <a href='comparisons_per_kernel.csv'>"
            "comparisons_per_kernel.csv</a>).</p><table><tr><th>kernel</th><th>method</th><th>first</th><th>second</th>"
            f"<th>n</th><th>difference</th><th>95% CI</th><th>Holm p</th></tr>{body}</table>")


__all__ = ["read_declaration", "declared_section", "per_kernel_section"]
