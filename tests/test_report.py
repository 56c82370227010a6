import csv
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fractal_match.cli import app
from fractal_match.report import make_report
from fractal_match.report.stats import mcnemar_exact, wilson_interval

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_run"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return make_report(FIXTURE, tmp_path_factory.mktemp("report"))


def results():
    return list(csv.DictReader((FIXTURE / "results.csv").open()))


def test_summary_counts_match_the_results(report):
    rows = results()
    summary = {(r["method"], r["variant"]): r for r in csv.DictReader((report / "summary.csv").open())
               if r["scale"] == "all" and r["kernel"] == "all"}
    for (method, variant), row in summary.items():
        cases = [r for r in rows if r["method"] == method and r["variant"] == variant]
        hits = sum(r["hit"] == "1" for r in cases)
        assert int(row["n"]) == len(cases) and int(row["hits"]) == hits
        low, high = wilson_interval(hits, len(cases))
        assert float(row["ci_low"]) == pytest.approx(low, abs=1e-5)
        assert float(row["ci_high"]) == pytest.approx(high, abs=1e-5)
        margins = [float(r["margin"]) for r in cases if r["margin"] not in ("", "nan")]
        if margins:
            assert float(row["median_margin"]) == pytest.approx(np.median(margins), abs=1e-5)
    assert set(summary) == {(m, v) for m in ("TM_SQDIFF", "TM_CCOEFF_NORMED") for v in ("none", "orbit-trap", "rot-sym", "bank")}
    per_kernel = [r for r in csv.DictReader((report / "summary.csv").open()) if r["kernel"] != "all"]
    assert {r["kernel"] for r in per_kernel} == {"crop", "bank:ring"}
    for (method, variant), row in summary.items():
        parts = [r for r in per_kernel if r["method"] == method and r["variant"] == variant]
        assert sum(int(r["n"]) for r in parts) == int(row["n"]) and sum(int(r["hits"]) for r in parts) == int(row["hits"])
    cells = [r for r in csv.DictReader((report / "summary.csv").open()) if r["scale"] != "all"]
    assert len(cells) == 2 * 4 * 2 * 2  # methods x variants x scales x rotations


def test_comparisons_count_discordant_pairs(report):
    rows = results()
    comparisons = list(csv.DictReader((report / "comparisons.csv").open()))
    pairs = {(r["method"], r["first"], r["second"]) for r in comparisons}
    assert ("TM_SQDIFF", "orbit-trap", "none") in pairs and ("TM_SQDIFF", "orbit-trap", "rot-sym") in pairs
    assert ("TM_CCOEFF_NORMED", "orbit-trap", "bank") in pairs and ("TM_CCOEFF_NORMED", "bank", "none") in pairs
    for row in comparisons:
        def hits(variant):
            return {(r["group_id"], r["kernel"]): r["hit"] == "1" for r in rows
                    if r["method"] == row["method"] and r["variant"] == variant}
        first, second = hits(row["first"]), hits(row["second"])
        b = sum(first[k] and not second[k] for k in first)
        c = sum(second[k] and not first[k] for k in first)
        assert (int(row["b"]), int(row["c"]), int(row["n"])) == (b, c, len(first))
        assert float(row["p_mcnemar"]) == pytest.approx(mcnemar_exact(b, c), rel=1e-5)
        assert float(row["p_holm"]) >= float(row["p_mcnemar"]) - 1e-12
        assert float(row["ci_low"]) <= float(row["difference"]) + 1e-9 <= float(row["ci_high"]) + 2e-9


def test_html_page_is_self_contained_and_every_link_exists(report):
    page = (report / "index.html").read_text()
    links = re.findall(r"(?:href|src)='([^']+)'", page) + re.findall(r'(?:href|src)="([^"]+)"', page)
    assert links and not any(link.startswith(("http:", "https:", "//")) for link in links)
    assert "<script" not in page
    anchors = set(re.findall(r"id=['\"]([^'\"]+)['\"]", page))
    for link in links:
        if link.startswith("#"):  # the table of contents: every anchor it names is on the page
            assert link[1:] in anchors, link
        else:
            assert (report / link).exists(), link
    assert {"rates", "differences", "figures", "run", "pose_heatmaps", "detection_best"} <= anchors
    for figure in ("hit_rate.png", "hit_rate_vs_rotation.png", "hit_rate_vs_scale.png", "pose_heatmaps.png",
                   "gallery.png", "detection_best.png", "detection_worst.png", "detection_typical.png"):
        assert figure in links
    assert "TM_CCOEFF_NORMED" in page and "Wilson" in page


def test_report_is_regenerated_identically(tmp_path, report):
    again = make_report(FIXTURE, tmp_path / "again")
    for name in ("summary.csv", "comparisons.csv", "hit_rate.png", "index.html"):
        if name == "index.html":
            assert (again / name).read_text().replace(str(again), "") == (report / name).read_text().replace(str(report), "")
        else:
            assert (again / name).read_bytes() == (report / name).read_bytes(), name


runner = CliRunner()


def test_cli_report(tmp_path):
    result = runner.invoke(app, ["report", str(FIXTURE), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "index.html").exists()
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["report", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "is not a run folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "not a folder" in result.stderr


def test_a_difference_is_established_only_when_both_tests_agree():
    from fractal_match.report.build import _marks, established

    row = {"method": "TM_SQDIFF", "first": "ifs", "second": "none", "p_holm": 0.001, "difference": 0.05,
           "ci_low": 0.01, "ci_high": 0.09}
    assert established(row) and _marks([row]) == {("TM_SQDIFF", "ifs"): " ▲"}
    assert not established({**row, "ci_low": -0.01})  # interval includes zero
    assert not established({**row, "p_holm": 0.2})
    assert _marks([{**row, "difference": -0.05, "ci_low": -0.09, "ci_high": -0.01}]) == {("TM_SQDIFF", "ifs"): " ▼"}



def test_the_gallery_draws_a_mask_only_where_the_variant_matches_with_it(tmp_path, monkeypatch):
    from dataclasses import replace

    from matplotlib.figure import Figure

    from fractal_match.experiments.config import load_config
    from fractal_match.experiments.cases import CaseRunner
    from fractal_match.experiments.plan import selected_refs
    from fractal_match.report import build

    base = load_config(FIXTURE / "config.toml")
    config = replace(base, variants=tuple(replace(v, template_masks=True) if v.family == "orbit-trap" else v
                                          for v in base.variants))
    runner = CaseRunner(config)
    made = {v.family: runner.template(selected_refs(config)[0], "crop", v.name).mask for v in config.variants
            if v.family in ("orbit-trap", "rot-sym")}
    assert all(mask is not None for mask in made.values())  # both families make masks ...
    drawn = {}

    def capture(picture, templates, title=None):
        drawn.update({t.family: t.mask for t in templates})
        return Figure()

    monkeypatch.setattr(build, "gallery", capture)
    build._gallery_figure(config, runner, tmp_path)
    assert drawn["orbit-trap"] is not None and drawn["rot-sym"] is None  # ... only one matches with its mask


def test_the_committed_demo_run_regenerates_its_tables_byte_for_byte():
    """The report's tables are recomputed from the run folder alone: the committed demo run
    (results/demo/quick) gives its committed summary.csv and comparisons.csv again."""
    from fractal_match.report.declared import read_declaration
    from fractal_match.report.tables import (COMPARISON_COLUMNS, SUMMARY_COLUMNS, comparison_rows, load_run,
                                             summary_rows, to_csv)

    folder = Path(__file__).resolve().parent.parent / "results" / "demo" / "quick"
    run = load_run(folder)
    comparisons = comparison_rows(run, seed=int(run.manifest.get("seed", 0)), declared=(read_declaration(run) or {}).get("declared"))
    assert to_csv(summary_rows(run), SUMMARY_COLUMNS) == (folder / "report" / "summary.csv").read_bytes()
    assert to_csv(comparisons, COMPARISON_COLUMNS) == (folder / "report" / "comparisons.csv").read_bytes()
