"""`fractal-match report RUN_DIR`: tables, figures and an HTML page, from a run folder alone.

Nothing is re-run except what the few detection grids show (their maps are not stored) and the
gallery of the variants (templates are cheap and deterministic).
"""

from __future__ import annotations

import html
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from .._errors import FractalMatchError
from ..templates.fractal import SPECIAL_VARIANTS
from ..atomic import write_atomic
from ..progress import Progress, ensure
from .figures import detection_grid, gallery, save_figure
from .partial import Partial, partial_run
from .._checks import claim_output_dir, remove_stale
from ._page import GENERATOR, docs_line, head

REPORT_TABLES = ("summary.csv", "detections.csv", "comparisons.csv", "secondary.csv", "declared.md",
                 "comparisons_per_kernel.csv", "index.html")
REPORT_FIGURES = ("hit_rate", "hit_rate_vs_rotation", "hit_rate_vs_scale", "pose_heatmaps", "success_curves", "gallery",
                  "detection_best", "detection_typical", "detection_worst")
from .plots import hit_rate_curves, hit_rate_heatmap, pose_heatmaps, success_curve_figure
from .declared import _fmt, declared_markdown, declared_section, per_kernel_section, read_declaration
from .detections import (DETECTION_COLUMNS, SECONDARY_COLUMNS, detection_rows, detections_section, secondary_rows,
                         shared_line, top_k)
from .tables import (COMPARISON_COLUMNS, EQUIVALENCE_COLUMNS, SUMMARY_COLUMNS, Run, comparison_rows, established,
                     established_photo, family_kind, load_run, per_kernel_rows, success_curves, summary_rows, to_csv)


def _marks(comparisons: list[dict], families: dict | None = None, photo: bool = False) -> dict:
    """(method, variant) -> a mark where the variant's difference from the plain kernel (family
    `none`, whatever its name: a per-method winner is `none-tNNNN`), pooled over every case, is
    established (the invariance family's subsets excluded); with `photo`, by the photo-level test."""
    def plain(name: str) -> bool:
        return (families or {}).get(name, name) == "none"

    counts = established_photo if photo else established
    return {(row["method"], row["first"]): " ▲" if row["difference"] > 0 else " ▼"
            for row in comparisons if plain(row["second"]) and row.get("holm_set") != "invariance" and counts(row)}


#: How the page names the test behind a mark or a significant difference, per rule.
_ESTABLISHED = {
    False: ("the exact McNemar test on the paired cases, Holm-adjusted over every comparison (in a confirmation: "
            "within its set, declared or exploratory), gives p &lt; 0.05 <em>and</em> the 95% cluster-bootstrap "
            "interval of the difference (resampling source objects) excludes zero"),
    True: ("the CR2 t-test with the photos as the units (Bell–McCaffrey degrees of freedom), Holm-adjusted within "
           "its set (declared or exploratory), gives p &lt; 0.05; the McNemar test over cases and the bootstrap "
           "over objects are exploratory"),
}


def _families(run: Run) -> dict:
    return dict(zip(run.columns["variant"], run.columns["family"]))


def _config(run: Run):
    """The run's config, if it can still be loaded (its data must be where it was)."""
    from ..experiments.config import load_config

    try:
        return load_config(run.folder / "config.toml")
    except FractalMatchError:
        return None


def _judging(run: Run, config) -> tuple[str, dict]:
    """(what counts as a hit, as a sentence for the page; {variant: a note under its name}): the
    oracle is no upper bound where pairs are among the targets (their own change of view is
    unknown to it). Without the config (its data moved): nothing."""
    if config is None:
        return "", {}
    from ..experiments.plan import describe_hit_rule, describe_instances, describe_sizing, selected_refs

    refs = selected_refs(config)
    notes = {}
    if any(ref.kind == "pair" for ref in refs):
        notes = {v.name: "not an upper bound here (pairs)" for v in config.variants if v.family == "oracle"}
    sizing, instances = describe_sizing(config), describe_instances(config)
    return f"{describe_hit_rule(config, refs)}. {sizing[0].upper()}{sizing[1:]}. {instances[0].upper()}{instances[1:]}", notes


def _plugins(run: Run) -> dict:
    """Figure metadata naming the plug-ins (package and version) the run used, as its manifest
    records them (runs made before manifests did: nothing)."""
    return {"plugins": run.manifest["plugins"]} if "plugins" in run.manifest else {}


def _shown_method(run: Run) -> str:
    """The method the chosen cases are ranked and drawn by."""
    return "TM_CCOEFF_NORMED" if "TM_CCOEFF_NORMED" in run.methods else run.methods[0]


def _chosen_cases(run: Run, variant: str) -> list[tuple[str, int, str]]:
    """(label, row index, what it means) of three cases of `variant`, by margin (the best score
    where a detection would be a hit minus the best elsewhere, over the map's range): the hit
    with the largest margin (the largest margin of all if nothing hit), the median, the smallest."""
    c = run.columns
    rows = np.flatnonzero(run.where(variant=variant, method=_shown_method(run)) & ~np.isnan(c["margin"]))
    if rows.size == 0:
        return []
    order = rows[np.argsort(c["margin"][rows], kind="stable")]
    hits = [index for index in order if c["hit"][index]]
    best = (("best", hits[-1], "the hit with the largest margin") if hits
            else ("best (no case hit)", order[-1], "no case hit: the largest margin"))
    chosen = [best, ("typical", order[len(order) // 2], "the median margin"), ("worst", order[0], "the smallest margin")]
    return [(label, int(index), meaning) for label, index, meaning in chosen]


def _detection_figures(run: Run, config, runner, out: Path, fractal: str, chosen, task, svg: bool = False) -> list[tuple[str, str]]:
    """Redraw the original experiment's figure for the `chosen` cases of the variant `fractal`."""
    from ..engine.detect import detect
    from ..experiments.plan import expand
    from ..images import on_target_scale
    from ..geometry import transform_target

    if not chosen:
        return []
    variants = {v.name: v for v in config.variants}
    color = runner.switches(variants[fractal])[0]  # drawn in the fractal's colour mode, with the plain kernel if it shares it
    baseline = next((v.name for v in config.variants if v.family == "none" and runner.switches(v)[0] == color), None)
    groups = {g.id: g for g in expand(config)}
    figures = []
    c = run.columns
    for label, index, meaning in chosen:
        group = groups.get(c["group_id"][index])
        if group is None:
            continue
        kernel = c["kernel"][index]
        loaded = runner.target(group.target, color)
        target, box, _, _ = transform_target(loaded.image, loaded.box, group.pose)
        entries = []
        for name in [v for v in (baseline, fractal) if v is not None]:
            template = runner.template(group.target, kernel, name)
            image = on_target_scale(template.image, target)
            mask = template.mask if runner.switches(variants[name])[1] else None
            entries.append((name, image, mask))
        detection = detect(target, entries, config.methods, top_k=1)
        title = f"{label} case for {fractal} (margin {c['margin'][index]:.3f}): {c['case_id'][index]}"
        stem = f"detection_{label.split()[0]}"
        rows = (c["group_id"] == group.id) & (c["kernel"] == kernel)  # each detection as the run judged it
        hits = {(v, m): bool(h) for v, m, h in zip(c["variant"][rows], c["method"][rows], c["hit"][rows])}
        save_figure(detection_grid(target, detection.variants, detection.methods, truth=box, title=title, hits=hits),
                    out / stem, {"case_id": c["case_id"][index], **_plugins(run)}, svg=svg)
        task.advance()
        figures.append((f"{stem}.png", f"The original experiment's figure for the {label} case of {fractal} "
                        f"({meaning} under {_shown_method(run)}; margin: best score where a detection would hit minus best "
                        f"elsewhere, over the map's range): {html.escape(c['case_id'][index])}. Dashed blue: the true box; green: a hit, red: a miss, as the run judged it."))
    return figures


def _gallery_figure(config, runner, out: Path, svg: bool = False, meta: dict | None = None) -> list[tuple[str, str]]:
    from ..experiments.plan import selected_refs

    refs = selected_refs(config)
    if not refs:
        return []
    kernel = config.kernels[0]
    # as matched: a mask is drawn (left-out pixels over black) only where the variant matches with it
    shown = [v for v in config.variants if v.family not in SPECIAL_VARIANTS]
    templates = [runner.template(refs[0], kernel, v.name) for v in shown]
    templates = [t if runner.switches(v)[1] else replace(t, mask=None) for t, v in zip(templates, shown)]
    picture = runner.kernel_picture(refs[0], kernel, config.color)
    save_figure(gallery(picture, templates, title=f"variants of {kernel} for {refs[0].id}"), out / "gallery", meta or {},
                svg=svg)
    return [("gallery.png", f"The generated variants of the kernel {html.escape(kernel)} for {html.escape(refs[0].id)}, "
             "as they are matched: black marks pixels a template mask leaves out, only where the variant matches with "
             "masks (bank and oracle are the kernel itself at other poses; pnet-detector uses no kernel).")]


def make_report(run_dir, out=None, progress: Progress | None = None, svg: bool = False,
                overwrite: bool = False) -> Path:
    """Write summary.csv, comparisons.csv, figures (PNG; with `svg` also SVG) and index.html into
    RUN_DIR/report (or `out`: new, empty, an earlier report, or anything with `overwrite`). Files
    of an earlier report that this one does not write (an SVG, a table) are removed."""
    ours = True  # RUN_DIR/report is the run's own
    if out is not None:
        page = _earlier_page(Path(out))  # index.html counts as the report's only if a report wrote it
        ours = claim_output_dir(Path(out), "report", lambda name: is_report_file(name) and (name != "index.html" or page),
                                overwrite=overwrite)
    if (Path(run_dir) / "search.json").is_file():  # a tuning folder
        from .search import make_search_report

        return make_search_report(run_dir, out, progress, svg)
    progress = ensure(progress)
    with progress.step("report: reading the run", total=1) as task:
        run = load_run(run_dir)
        task.advance()
    out = Path(out) if out is not None else run.folder / "report"
    if out.exists() and not out.is_dir():
        raise FractalMatchError(f"{out}: is an existing file (allowed: a folder)")
    out.mkdir(parents=True, exist_ok=True)
    with progress.step("report: tables and paired statistics", total=2) as task:
        summary = summary_rows(run)
        task.advance()
        declaration = read_declaration(run)
        declared = declaration["declared"] if declaration else None
        margin = (declaration or {}).get("margin")
        margins = {family: margin[key] for family, key in (("confirmatory", "delta"), ("invariance", "invariance_delta"))
                   if margin and margin.get(key)}
        seed = int(run.manifest.get("seed", 0))
        photo = (margin or {}).get("rule", "cases") == "photo"  # a declaration's rule decides every mark too
        comparisons = comparison_rows(run, seed=seed, declared=declared, margins=margins,
                                      clusters_by=(margin or {}).get("clusters", "image"),
                                      rule="photo" if photo else "cases")
        per_kernel = per_kernel_rows(run, seed=seed) if len(set(run.columns["kernel"])) > 1 else []
        task.advance()
    detections = detection_rows(run)
    write_atomic(out / "summary.csv", to_csv(summary, SUMMARY_COLUMNS))
    write_atomic(out / "detections.csv", to_csv(detections, DETECTION_COLUMNS))
    write_atomic(out / "comparisons.csv", to_csv(comparisons, COMPARISON_COLUMNS + (EQUIVALENCE_COLUMNS if margins else ())))
    secondary = secondary_rows(run, declared)
    if secondary:
        write_atomic(out / "secondary.csv", to_csv(secondary, SECONDARY_COLUMNS))
    if declaration:
        write_atomic(out / "declared.md", declared_markdown(comparisons, declaration, secondary).encode("utf-8"))
    if per_kernel:
        write_atomic(out / "comparisons_per_kernel.csv", to_csv(per_kernel, ("kernel",) + COMPARISON_COLUMNS))
    posed = any(r["scale"] != "all" for r in summary)
    config = _config(run)
    # the fractal drawn: a confirmation's declared best fractal, else the config's first one
    fractal = declared[0]["first"] if declared else _first_fractal(config) if config is not None else None
    chosen = _chosen_cases(run, fractal) if fractal else []
    drawn = (4 if posed else 2) + (config is not None) + len(chosen)
    with progress.step("report: figures", total=drawn) as task:
        figures = _figures(run, summary, comparisons, posed, out, task, svg, photo)
        if config is not None:
            from ..experiments.cases import CaseRunner

            runner = CaseRunner(config)  # one runner: templates made for the gallery serve the grids too
            figures += _gallery_figure(config, runner, out, svg, _plugins(run))
            task.advance()
            figures += _detection_figures(run, config, runner, out, fractal, chosen, task, svg)
    partial = partial_run(run.folder, run.manifest, config)
    sections = declared_section(comparisons, declaration, secondary), per_kernel_section(per_kernel), \
        detections_section(run, detections, top_k(run))
    write_atomic(out / "index.html", _page(run, summary, comparisons, figures, partial, *_judging(run, config),
                                           sections=sections, photo=photo).encode("utf-8"))
    written = ["summary.csv", "detections.csv", "comparisons.csv", "index.html", *(["secondary.csv"] if secondary else []),
               *(["declared.md"] if declaration else []), *(["comparisons_per_kernel.csv"] if per_kernel else [])]
    written += [name for figure, _ in figures for name in (figure, *([Path(figure).with_suffix(".svg").name] if svg else []))]
    if ours:
        remove_stale(out, is_report_file, written)
    return out


def _earlier_page(folder: Path) -> bool:
    """Whether `folder`/index.html is a page this tool wrote (a report or a tuning report, of
    this version or an earlier one)."""
    page = folder / "index.html"
    if not page.is_file():
        return False
    head = page.read_text(encoding="utf-8", errors="replace")[:2000]
    return GENERATOR in head or "<title>fractal-match report: " in head or "<title>fractal-match search: " in head


def is_report_file(name: str) -> bool:
    """A file a run's report writes (and may remove when a later report does not write it)."""
    return name in REPORT_TABLES or (name.endswith((".png", ".svg")) and Path(name).stem in REPORT_FIGURES)


def _first_fractal(config) -> str | None:
    return next((v.name for v in config.variants if family_kind(v.family) == "fractal"), None)


def _figures(run: Run, summary, comparisons, posed: bool, out: Path, task, svg: bool = False,
             photo: bool = False) -> list[tuple[str, str]]:
    """The figures drawn from the rows alone (no matching)."""
    methods, variants = run.methods, run.variants
    meta = {"run": run.folder.name, "config_hash": run.manifest.get("config_hash", ""), **_plugins(run)}
    figures: list[tuple[str, str]] = []
    save_figure(hit_rate_heatmap(summary, methods, variants, _marks(comparisons, _families(run), photo)), out / "hit_rate",
                meta, svg=svg)
    task.advance()
    figures.append(("hit_rate.png", "Hit rate per method and variant over every kernel, object and pose. "
                    "▲/▼: established above/below the plain kernel (" + (
                        "Holm-adjusted CR2 p < 0.05, the photos as the units)." if photo else
                        "Holm-adjusted exact McNemar p < 0.05 and a cluster-bootstrap interval that excludes zero).")))
    if posed:
        for axis in ("rotation", "scale"):
            save_figure(hit_rate_curves(summary, methods, variants, axis), out / f"hit_rate_vs_{axis}", meta, svg=svg)
            task.advance()
            figures.append((f"hit_rate_vs_{axis}.png", f"Hit rate against {axis}, one panel per method, Wilson 95% bands."))
        pooled = {r["variant"]: [] for r in summary if r["scale"] == "all"}
        for r in summary:
            if r["scale"] == "all" and r["kernel"] == "all":
                pooled[r["variant"]].append(r["hit_rate"])
        families = dict(zip(run.columns["variant"], run.columns["family"]))
        candidates = [v for v in variants if v != "none" and families.get(v) not in ("oracle", "pnet-detector")]
        best = max(candidates, key=lambda v: np.mean(pooled[v])) if candidates else None
        shown = [v for v in (best, "none") if v is not None and v in variants]
        save_figure(pose_heatmaps(summary, methods, shown), out / "pose_heatmaps", meta, svg=svg)
        task.advance()
        figures.append(("pose_heatmaps.png", f"Hit rate over rotation x scale for the best variant ({html.escape(str(best))}, "
                        "by mean hit rate, oracle and detector excluded) and for the plain kernel."))
    else:
        save_figure(success_curve_figure(success_curves(run), methods, variants), out / "success_curves", meta, svg=svg)
        task.advance()
        figures.append(("success_curves.png", "Success rate over IoU thresholds (pairs protocol); AUC in the legend."))
    return figures


def _rate_table(run: Run, summary: list[dict], kernel: str, marks: dict, notes: dict | None = None) -> str:
    """Hit rate (and Wilson interval) per method x variant for one kernel or "all"; `notes`: a
    few words under a variant's name."""
    pooled = {(r["method"], r["variant"]): r for r in summary if r["scale"] == "all" and r["kernel"] == kernel}
    notes = notes or {}
    head = "".join(f"<th>{html.escape(v)}" + (f"<br><small>{html.escape(notes[v])}</small>" if v in notes else "") + "</th>"
                   for v in run.variants)
    body = ""
    for method in run.methods:
        cells = ""
        for variant in run.variants:
            r = pooled.get((method, variant))
            if r is None:
                cells += "<td></td>"
                continue
            mark = marks.get((method, variant), "")
            cls = " class='up'" if "▲" in mark else " class='down'" if "▼" in mark else ""
            cells += (f"<td{cls}><b>{r['hit_rate']:.2f}</b>{mark}<br><small>[{_fmt(r['ci_low'], 2)}, "
                      f"{_fmt(r['ci_high'], 2)}]</small></td>")
        body += f"<tr><th>{html.escape(method)}</th>{cells}</tr>"
    return f"<table><tr><th>method</th>{head}</tr>{body}</table>"


def _anchor(figure_file: str) -> str:
    """The page anchor of a figure: its file name without the suffix."""
    return Path(figure_file).stem


def _banner(partial: Partial | None) -> str:
    """A partial run says so above everything else, with the command that completes it."""
    if partial is None:
        return ""
    of = f" of {partial.planned}" if partial.planned is not None else ""
    return (f"<p class='partial' id='partial'><strong>Partial run: {partial.done}{of} target x pose groups finished</strong> "
            "(the run stopped before its end: <code>--limit</code>, Ctrl-C or a crash), so every table and figure "
            f"below covers those groups only. <code>{html.escape(partial.command)}</code> completes it; then "
            "<code>fractal-match report</code> on the folder redraws this page.</p>")


def _page(run: Run, summary: list[dict], comparisons: list[dict], figures: list[tuple[str, str]],
          partial: Partial | None = None, rule: str = "", notes: dict | None = None, sections=("", "", ""),
          photo: bool = False) -> str:
    marks = _marks(comparisons, _families(run), photo)
    kernels = [k for k in dict.fromkeys(r["kernel"] for r in summary) if k != "all"]
    per_kernel = "".join(f"<h3>kernel {html.escape(k)}</h3>{_rate_table(run, summary, k, {}, notes)}" for k in kernels)
    manifest = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>"
                       for k, v in sorted(run.manifest.items()))
    significant = [r for r in comparisons if (established_photo if photo else established)(r)]
    comp_rows = "".join(
        f"<tr><td>{html.escape(r['method'])}</td><td>{html.escape(r['first'])}</td><td>{html.escape(r['second'])}</td>"
        f"<td>{r['n']}</td><td>{r['photos']}</td><td>{r['b']}</td><td>{r['c']}</td><td>{_fmt(r['difference'])}</td>"
        f"<td>[{_fmt(r['photo_low'])}, {_fmt(r['photo_high'])}]</td><td>{r['p_photo_holm']:.2g}</td>"
        f"<td>[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]</td><td>{r['p_holm']:.2g}</td>"
        f"<td>{html.escape(r.get('holm_set', ''))}</td></tr>" for r in significant)
    differences = (
        "<div class='scroll'><table><tr><th>method</th><th>first</th><th>second</th><th>n</th><th>photos</th><th>b</th>"
        "<th>c</th><th>difference</th><th>95% CR2 interval (photos)</th><th>Holm p (CR2)</th>"
        f"<th>95% bootstrap CI (objects)</th><th>Holm p (McNemar)</th><th>Holm set</th></tr>{comp_rows}</table></div>"
        if significant else f"<p><em>None of the {len(comparisons)} comparisons is established.</em></p>")
    figure_html = "".join(f"<figure id='{_anchor(f)}'><a href='{f}'><img src='{f}' alt='{html.escape(caption)}'></a>"
                          f"<figcaption>{caption}</figcaption></figure>" for f, caption in figures)
    declared, kernel_tests, detections = sections
    sections = [*([("declared", "Declared comparisons")] if declared else []), ("rates", "Hit rate per method and variant"),
                *([("detections", "Detections")] if detections else []), *([("per-kernel", "Hit rate per kernel")] if per_kernel else []),
                ("differences", "Significant paired differences"), *([("per-kernel-tests", "Paired tests per kernel")] if kernel_tests else []),
                ("figures", "Figures"), ("run", "Run")]
    toc = "".join(f"<li><a href='#{key}'>{title}</a>" + (
        "<ul>" + "".join(f"<li><a href='#{_anchor(f)}'>{_anchor(f).replace('_', ' ')}</a></li>" for f, _ in figures) + "</ul>"
        if key == "figures" else "") + "</li>" for key, title in sections)
    title = f"fractal-match report: {run.manifest.get('name', run.folder.name)}"
    return head(title) + f"""<h1>fractal-match report: {html.escape(str(run.manifest.get('name', run.folder.name)))}</h1>
{_banner(partial)}
<p>{len(run)} result rows ({len(run) // max(1, len(run.methods))} cases x {len(run.methods)} methods) from
<code>{html.escape(run.folder.name)}</code>. Files: <a href="summary.csv">summary.csv</a>, <a href="comparisons.csv">comparisons.csv</a>.</p>
<nav class="toc"><strong>Contents</strong><ul>{toc}</ul></nav>
{declared}
<h2 id="rates">Hit rate per method and variant</h2>
<p>Bold: hit rate over every kernel, object and pose; below: Wilson 95% interval. ▲/▼ (green/red): established
above/below the plain kernel (<code>none</code>): {_ESTABLISHED[photo]}.{(" What counts as a hit: " + html.escape(rule) + ".") if rule else ""}{shared_line(run)}</p>
{_rate_table(run, summary, "all", marks, notes)}
{detections}
{"<h2 id='per-kernel'>Hit rate per kernel</h2><p>The same, for each kernel alone (marks are for the pooled comparisons only).</p>" + per_kernel if per_kernel else ""}
<h2 id="differences">Significant paired differences</h2>
<p>Every comparison in <a href="comparisons.csv">comparisons.csv</a> whose difference is established ({_ESTABLISHED[photo]}:
{len(significant)} of {len(comparisons)}). b: first hits where second misses; c: the reverse; difference: hit rate of first
minus second, with its 95% CR2 t-interval over photos and its 95% cluster-bootstrap interval over source objects; each
p is Holm-adjusted within its set.</p>
{differences}
{kernel_tests}
<h2 id="figures">Figures</h2>{figure_html}
<h2 id="run">Run</h2><table class="manifest">{manifest}</table>
{docs_line()}
</body></html>
"""
