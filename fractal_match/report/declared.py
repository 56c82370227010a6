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


def _p(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2g}"


def _table(rows: list[dict], verdicts: bool, rule: str = "cases") -> str:
    """A declared family's rows. Under the "photo" rule the photo-level columns lead and decide;
    McNemar over cases and the bootstrap over objects follow, exploratory. Under "cases"
    (studies 3 and 4) the declared columns lead and the photo-level verdict follows, post hoc."""
    photo_head = ("<th>photos (df)</th><th>95% CR2 interval</th><th>Holm p (CR2)</th>"
                  + ("<th>TOST Holm p (CR2)</th><th>no gain &gt; δ (CR2)</th>" if verdicts else ""))
    cases_head = "<th>b</th><th>c</th><th>95% object-bootstrap CI</th><th>Holm p (McNemar)</th>"
    if rule == "photo":
        head = ("<tr><th>claim</th><th>method</th><th>first</th><th>second</th><th>n</th><th>difference</th>" + photo_head
                + ("<th>verdict</th><th>disagree</th>" if verdicts else "") + cases_head + "</tr>")
    else:
        head = ("<tr><th>claim</th><th>method</th><th>first</th><th>second</th><th>n</th>" + cases_head.replace("</th><th>95%", "</th><th>difference</th><th>95%", 1)
                + "<th>established</th>"
                + ("<th>disagree</th><th>90% t-interval</th><th>TOST Holm p</th><th>no gain &gt; δ</th><th>verdict</th>"
                   if verdicts else "") + "<th>photos (df), post hoc</th><th>95% CR2 interval</th><th>Holm p (CR2)</th>"
                + ("<th>verdict, photos (post hoc)</th>" if verdicts else "") + "</tr>")
    body = ""
    for r in rows:
        names = (f"<td>{html.escape(r['claim'])}</td><td>{html.escape(r['method'])}</td><td>{html.escape(r['first'])}</td>"
                 f"<td>{html.escape(r['second'])}</td><td>{r['n']}</td>")
        photo = (f"<td>{r['photos']} ({r['photo_dof']:.1f})</td><td>[{_fmt(r['photo_low'])}, {_fmt(r['photo_high'])}]</td>"
                 f"<td>{_p(r['p_photo_holm'])}</td>")
        has = verdicts and "verdict" in r
        cases = (f"<td>{r['b']}</td><td>{r['c']}</td><td>[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]</td>"
                 f"<td>{_p(r['p_holm'])}</td>")
        if rule == "photo":
            body += (f"<tr>{names}<td>{_fmt(r['difference'])}</td>{photo}"
                     + (f"<td>{_p(r['p_tost_photo_holm'])}</td><td>{r['no_gain_photo']}</td>"
                        f"<td><b>{html.escape(r['verdict'])}</b>{_why(r)}</td><td>{_fmt(r['disagree'])}</td>" if has
                        else "<td></td>" * 4 if verdicts else "") + cases + "</tr>")
        else:
            body += (f"<tr>{names}<td>{r['b']}</td><td>{r['c']}</td><td>{_fmt(r['difference'])}</td>"
                     f"<td>[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]</td><td>{_p(r['p_holm'])}</td>"
                     f"<td>{'yes' if established(r) else 'no'}</td>"
                     + (f"<td>{_fmt(r['disagree'])}</td><td>[{_fmt(r['t90_low'])}, {_fmt(r['t90_high'])}]</td>"
                        f"<td>{_p(r['p_tost_holm'])}</td><td>{r['no_gain']}</td><td><b>{html.escape(r['verdict'])}</b></td>"
                        if has else "<td></td>" * 5 if verdicts else "")
                     + photo + (f"<td>{html.escape(r['verdict_photo'])}</td>" if has else "<td></td>" if verdicts else "")
                     + "</tr>")
    return f"<div class='scroll'><table>{head}{body}</table></div>"


def _why(row: dict) -> str:
    """Under an inconclusive verdict whose unadjusted interval excludes zero, the reason."""
    if row["verdict"] == "inconclusive" and (row["photo_low"] > 0 or row["photo_high"] < 0):
        return "<br><small>interval excludes 0 before Holm's adjustment only</small>"
    return ""


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


def _secondary_table(rows: list[dict], k: str = "k") -> str:
    body = "".join(
        f"<tr><td>{'recall@' + k if r['measure'] == 'recall' else 'AP'}</td><td>{html.escape(r['claim'])}</td>"
        f"<td>{html.escape(r['method'])}</td><td>{html.escape(r['first'])} − {html.escape(r['second'])}</td><td>{r['n']}</td>"
        f"<td>{r['photos']} ({r['photo_dof']:.1f})</td><td>{_fmt(r['difference'])}</td>"
        f"<td>[{_fmt(r['photo_low'])}, {_fmt(r['photo_high'])}]</td><td>{_p(r['p_photo_holm'])}</td></tr>" for r in rows)
    return ("<div class='scroll'><table><tr><th>measure</th><th>claim</th><th>method</th><th>first − second</th><th>n</th>"
            "<th>photos (df)</th><th>difference</th><th>95% CR2 interval</th><th>Holm p (CR2)</th></tr>"
            f"{body}</table></div>")


def declared_section(comparisons: list[dict], declaration: dict | None, secondary: list[dict] | None = None) -> str:
    """The declared families, every comparison (established or not) in the order declared."""
    if not declaration:
        return ""
    pooled = [r for r in comparisons if r["holm_set"] == "confirmatory"]
    invariant = [r for r in comparisons if r["holm_set"] == "invariance"]
    margin = declaration.get("margin")
    verdicts = margin is not None
    rule = (margin or {}).get("rule", "cases")
    text = (f"<h2 id='declared'>Declared comparisons (confirmatory)</h2><p>Declared in <a href='../declared.json'>"
            f"declared.json</a> from the tuning values before any held-out case ran; Holm over the {len(pooled)} pooled "
            "comparisons only. Every other comparison in comparisons.csv is exploratory (Holm over those separately).")
    if verdicts and rule == "photo":
        text += (f" Equivalence margin δ = {margin['delta']:g} ({html.escape(margin['reason'])}). Every verdict takes "
                 "the photos as the independent units: a CR2 cluster-robust t-test with Bell–McCaffrey degrees of "
                 "freedom (df), Holm within the family. <em>Superior</em> or <em>inferior</em>: its two-sided Holm p "
                 "&lt; 0.05. <em>Equivalent</em>: both one-sided tests against ±δ reject after Holm (TOST). <em>No gain "
                 "&gt; δ</em>: the upper one alone. Else <em>inconclusive</em>. The 95% CR2 interval is not adjusted "
                 "for the family, so it can exclude zero while the Holm-adjusted p does not reach 0.05: the verdict "
                 "says so. b, c, the object-bootstrap interval and the McNemar p over cases are exploratory.")
        verdicts = True
    elif verdicts:
        text += (f" Equivalence margin δ = {margin['delta']:g} ({html.escape(margin['reason'])}). <em>Superior</em> or "
                 "<em>inferior</em>: established (Holm p &lt; 0.05 and the 95% cluster-bootstrap interval excludes zero). "
                 "<em>Equivalent</em>: both one-sided cluster-robust t-tests against ±δ reject after Holm (TOST; units: "
                 f"{html.escape(margin.get('clusters', 'image'))}s, G − 1 degrees of freedom; the 90% t-interval is "
                 "shown). <em>No gain &gt; δ</em>: the upper test alone rejects. Else <em>inconclusive</em>. Disagree: "
                 "the share of cases where the two variants differ; an equivalence with a variant that seldom differs "
                 "from the plain kernel says little about fractals. <em>Post hoc</em> (not declared): the same "
                 "comparisons with the photos as the units of every verdict (CR2 t-tests, Bell–McCaffrey df, Holm "
                 "within the family), beside the declared verdict.")
    text += "</p>" + _table(pooled, verdicts, rule)
    if secondary:
        text += ("<h3 id='secondary'>Secondary measures (declared): every instance in the photo</h3><p>The declared "
                 "pooled comparisons on recall@k and AP, over the cases whose photo holds at least two objects of the "
                 "label: first minus second, 95% CR2 interval with the photos as the units, Holm over each measure's "
                 f"comparisons. {html.escape(declaration.get('secondary', ''))}</p>" + _secondary_table(secondary))
    selection = declaration.get("chosen", {}).get("invariance", {})
    if selection or invariant:
        text += (f"<h3 id='invariance'>Invariance comparisons (confirmatory, Holm over these {len(invariant)})</h3>"
                 + _invariance_text(selection, margin) + (_table(invariant, verdicts, rule) if invariant else ""))
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


def _cell(row: dict, rule: str = "cases") -> str:
    """One comparison in Markdown. Under the "photo" rule: difference, 95% CR2 interval, Holm p of
    the CR2 test and the verdict (bold when established, with its reason when the interval alone
    excludes zero). Under "cases": as declared (object-bootstrap interval, McNemar Holm p, the
    verdict), then the post hoc photo-level interval, p and verdict."""
    if rule == "photo":
        text = (f"{_signed(row['difference'])} [{_signed(row['photo_low'])}, {_signed(row['photo_high'])}], "
                f"p {row['p_photo_holm']:.2g}")
        if "verdict" in row:
            text += f": {row['verdict']}"
            if row["verdict"] == "inconclusive" and (row["photo_low"] > 0 or row["photo_high"] < 0):
                text += " (interval excludes 0 before Holm only)"
            elif row["verdict"] == "inconclusive" and row["no_gain"] == "yes":
                text += "; no gain > δ"
        return f"**{text}**" if row["p_photo_holm"] < 0.05 else text
    text = f"{_signed(row['difference'])} [{_signed(row['ci_low'])}, {_signed(row['ci_high'])}], p {row['p_holm']:.2g}"
    if "verdict" in row:
        text += f"; 90% t [{_signed(row['t90_low'])}, {_signed(row['t90_high'])}]: {row['verdict']}"
    text = f"**{text}**" if established(row) else text
    if "p_photo_holm" in row:
        interval = (f"[{_signed(row['photo_low'])}, {_signed(row['photo_high'])}]" if not math.isnan(row["photo_low"])
                    else f"no interval ({row['photos']} photo{'s' if row['photos'] != 1 else ''})")
        said = row.get("verdict_photo") or ("established" if row["p_photo_holm"] < 0.05 else "not established")
        text += f"; post hoc, photos: {interval}, p {row['p_photo_holm']:.2g}: {said}"
    return text


def declared_markdown(comparisons: list[dict], declaration: dict | None, secondary: list[dict] | None = None) -> str:
    """The declared comparisons as Markdown tables, for a README or a findings page to quote: the
    pooled claims one column each, a row per method; the invariance claims a row each (their
    variants differ by method). Each table says which test gives its p and what its interval is.
    Empty without a declaration."""
    if not declaration:
        return ""
    rule = (declaration.get("margin") or {}).get("rule", "cases")
    if rule == "photo":
        how = ("first minus second; 95% CR2 t-interval with the photos as the units (Bell–McCaffrey df, not adjusted "
               "for the family); p: Holm-adjusted two-sided CR2 t-test; verdict by the CR2 tests (TOST against ±δ for "
               "equivalence); bold: Holm p < 0.05")
    else:
        how = ("first minus second; 95% cluster-bootstrap interval over objects; p: Holm-adjusted exact McNemar test "
               "over cases; 90% CR1 t-interval and the declared verdict; bold: established as declared; then, post "
               "hoc, the same with the photos as the units: 95% CR2 interval, Holm p of the CR2 test and its verdict")
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
            text += [f"Declared comparisons, Holm over these {len(rows)}; {how}.", "",
                     "| method | " + " | ".join(title(c) for c in claims) + " |", "|---" * (len(claims) + 1) + "|"]
            text += [f"| {m} | " + " | ".join(_cell(cells[c, m], rule) if (c, m) in cells else "" for c in claims) + " |"
                     for m in methods]
        else:
            text += ["", f"Invariance comparisons, Holm over these {len(rows)}; over the changed poses only; {how}.", "",
                     "| method | claim | first − second | n | photos | comparison |", "|---|---|---|---|---|---|"]
            text += [f"| {r['method']} | {r['claim'].removeprefix('invariance: ')} | {r['first']} − {r['second']} | "
                     f"{r['n']} | {r['photos']} | {_cell(r, rule)} |" for r in rows]
    if secondary:
        text += ["", "Secondary measures (declared), over the cases whose photo holds at least two objects of the label; "
                 "first minus second, 95% CR2 t-interval with the photos as the units, p: Holm-adjusted two-sided CR2 "
                 "t-test within each measure.", "",
                 "| measure | method | claim | first − second | photos | difference [95% CR2] | Holm p |", "|---|---|---|---|---|---|---|"]
        text += [f"| {'recall@k' if r['measure'] == 'recall' else 'AP'} | {r['method']} | {r['claim']} | {r['first']} − "
                 f"{r['second']} | {r['photos']} | {_signed(r['difference'])} [{_signed(r['photo_low'])}, "
                 f"{_signed(r['photo_high'])}] | {r['p_photo_holm']:.2g} |" for r in secondary]
    return "\n".join(text) + "\n"


__all__ = ["read_declaration", "declared_section", "declared_markdown", "per_kernel_section"]
