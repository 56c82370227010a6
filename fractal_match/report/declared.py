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
            "<th>difference</th><th>95% CI</th><th>Holm p</th><th>established</th>"
            + ("<th>disagree</th><th>90% t-interval</th><th>TOST Holm p</th><th>no gain &gt; δ</th><th>verdict</th>"
               if verdicts else "") + "</tr>")
    body = "".join(
        f"<tr><td>{html.escape(r['claim'])}</td><td>{html.escape(r['method'])}</td><td>{html.escape(r['first'])}</td>"
        f"<td>{html.escape(r['second'])}</td><td>{r['n']}</td><td>{r['b']}</td><td>{r['c']}</td><td>{_fmt(r['difference'])}</td>"
        f"<td>[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]</td><td>{r['p_holm']:.2g}</td>"
        f"<td>{'yes' if established(r) else 'no'}</td>"
        + (f"<td>{_fmt(r['disagree'])}</td><td>[{_fmt(r['t90_low'])}, {_fmt(r['t90_high'])}]</td>"
           f"<td>{r['p_tost_holm']:.2g}</td><td>{r['no_gain']}</td><td><b>{html.escape(r['verdict'])}</b></td>"
           if verdicts and "verdict" in r else "<td></td>" * 5 if verdicts else "") + "</tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def _invariance_text(selection: dict, margin: dict | None) -> str:
    if not selection:
        return ""
    parts = []
    for method, kernels in selection["qualifying"].items():
        if kernels:
            picked = selection.get("chosen", {}).get(method, {})
            parts.append(f"{html.escape(method)}: {', '.join(html.escape(k) for k in kernels)} (best fractal "
                         f"{html.escape(str(picked.get('best fractal')))}, best control "
                         f"{html.escape(str(picked.get('best control')))})")
        else:
            parts.append(f"{html.escape(method)}: none ({html.escape(selection.get('notes', {}).get(method, ''))})")
    delta = f" Equivalence margin {margin['invariance_delta']:g} ({html.escape(margin['invariance_reason'])})." \
        if margin and margin.get("invariance_delta") else ""
    note = f" {html.escape(selection['note'])}." if selection.get("note") else ""
    return (f"<p><b>Invariance</b> (the blog's own claim): the same claims on the kernels whose plain template finds "
            f"its object at scale 1 and rotation 0 on at least {selection['rate']:g} of the tune objects, measured over "
            f"the changed poses only; the kernels, and the best fractal and control (by their tune hit rate on those "
            f"kernels and poses), were chosen on the tune objects before any held-out case ran. Holm over these apart "
            f"from the pooled ones.{delta} Per method: {'; '.join(parts)}.{note}</p>")


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
        text += (f" Equivalence margin δ = {margin['delta']:g} ({html.escape(margin['reason'])}). <em>Superior</em> or "
                 "<em>inferior</em>: established (Holm p &lt; 0.05 and the 95% cluster-bootstrap interval excludes zero). "
                 "<em>Equivalent</em>: both one-sided cluster-robust t-tests against ±δ reject after Holm (TOST; units: "
                 f"{html.escape(margin.get('clusters', 'image'))}s, G − 1 degrees of freedom; the 90% t-interval is "
                 "shown). <em>No gain &gt; δ</em>: the upper test alone rejects. Else <em>inconclusive</em>. Disagree: "
                 "the share of cases where the two variants differ; an equivalence with a variant that seldom differs "
                 "from the plain kernel says little about fractals.")
    text += "</p>" + _table(pooled, verdicts)
    selection = declaration.get("chosen", {}).get("invariance", {})
    if selection or invariant:
        text += (f"<h3 id='invariance'>Invariance comparisons (confirmatory, Holm over these {len(invariant)})</h3>"
                 + _invariance_text(selection, margin) + (_table(invariant, verdicts) if invariant else ""))
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


def _signed(value: float) -> str:
    return "" if math.isnan(value) else f"{value:+.3f}".replace("-", "\u2212").replace("+0.000", "0.000")


def _cell(row: dict) -> str:
    """One comparison in Markdown: difference, 95% interval, Holm p, and the verdict (bold when
    established either way)."""
    text = f"{_signed(row['difference'])} [{_signed(row['ci_low'])}, {_signed(row['ci_high'])}], p {row['p_holm']:.2g}"
    if "verdict" in row:
        text += f"; 90% t [{_signed(row['t90_low'])}, {_signed(row['t90_high'])}]: {row['verdict']}"
    return f"**{text}**" if established(row) else text


def declared_markdown(comparisons: list[dict], declaration: dict | None) -> str:
    """The declared comparisons as Markdown tables, for a README or a findings page to quote: the
    pooled claims one column each, a row per method; the invariance claims a row each (their
    variants differ by method). Empty without a declaration."""
    if not declaration:
        return ""
    text = []
    for family in ("confirmatory", "invariance"):
        rows = [r for r in comparisons if r["holm_set"] == family]
        if not rows:
            continue
        claims = list(dict.fromkeys(r["claim"] for r in rows))
        methods = list(dict.fromkeys(r["method"] for r in rows))
        cells = {(r["claim"], r["method"]): r for r in rows}
        if family == "confirmatory":
            def title(claim):
                pairs = {(r["first"], r["second"]) for r in rows if r["claim"] == claim}
                return f"{claim} ({' − '.join(next(iter(pairs)))})" if len(pairs) == 1 else claim
            text += [f"Declared comparisons, Holm over these {len(rows)}; first minus second, 95% cluster-bootstrap "
                     "interval, Holm p" + ("; 90% cluster-robust t-interval and verdict" if "verdict" in rows[0] else "")
                     + "; bold: established.", "",
                     "| method | " + " | ".join(title(c) for c in claims) + " |", "|---" * (len(claims) + 1) + "|"]
            text += [f"| {m} | " + " | ".join(_cell(cells[c, m]) if (c, m) in cells else "" for c in claims) + " |"
                     for m in methods]
        else:
            text += ["", f"Invariance comparisons, Holm over these {len(rows)}; over the changed poses only.", "",
                     "| method | claim | first − second | n | comparison |", "|---|---|---|---|---|"]
            text += [f"| {r['method']} | {r['claim'].removeprefix('invariance: ')} | {r['first']} − {r['second']} | "
                     f"{r['n']} | {_cell(r)} |" for r in rows]
    return "\n".join(text) + "\n"


__all__ = ["read_declaration", "declared_section", "declared_markdown", "per_kernel_section"]
