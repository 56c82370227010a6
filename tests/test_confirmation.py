"""The second search's rules: budgets by dimension, an equivalence margin (TOST) and the
invariance comparisons chosen on the tune objects only."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optuna")

from fractal_match.experiments.config import load_config  # noqa: E402
from fractal_match.experiments.plan import split_targets  # noqa: E402
from fractal_match.experiments.settings import Search  # noqa: E402
from fractal_match.report.build import make_report  # noqa: E402
from fractal_match.report.stats import holm  # noqa: E402
from fractal_match.report.tables import Run, comparison_rows, load_run, verdict  # noqa: E402
from fractal_match.search.confirm import confirm, identity_rates, read_search  # noqa: E402
from fractal_match.search.space import variant_point  # noqa: E402
from fractal_match.search.study import families, tune  # noqa: E402


# --- budgets by dimension -----------------------------------------------------------------------

def test_the_budget_rule_gives_max_of_trials_and_four_per_dimension_with_startup_in_proportion():
    rule = Search(trials=24, startup=8, per_dimension=4)
    assert [rule.budget(d) for d in (3, 6, 11, 15)] == [(24, 8), (24, 8), (44, 15), (60, 20)]
    assert Search(trials=24, startup=8).budget(15) == (24, 8)  # without the rule: one budget


def test_the_second_search_declares_its_budgets_and_starts_every_family_at_its_defaults():
    config = load_config("search-dims")
    found = {f.name: f for f in families(config)}
    tpe = {name: f for name, f in found.items() if f.sampler == "tpe"}
    for family in tpe.values():
        dims = len(family.space.dimensions)
        assert family.budget == max(24, 4 * dims) and family.startup == round(8 * family.budget / 24)
        assert family.start == variant_point(family.space, family.variant, config.color, config.template_masks)
    assert (tpe["orbit-trap"].budget, tpe["ifs"].budget, tpe["droste"].budget) == (60, 44, 24)
    assert {found["none"].budget, found["scrambled"].budget} == {4}  # grids: each point once
    first = {f.name: f.budget for f in families(load_config("search"))}  # the first search is unchanged
    assert {b for n, b in first.items() if found[n].sampler == "tpe"} == {24}
    assert config.confirmation.margin == 0.02 and config.confirmation.invariance_rate == 0.5


# --- equivalence: TOST on constructed cases whose answer is known --------------------------------

def _run(first_hits, second_hits, objects, images=None) -> Run:
    """A run of two variants over paired cases (one kernel, one method, one pose per case)."""
    n = len(first_hits)
    groups = [f"g{i:05d}@s1r0" for i in range(n)]
    images = objects if images is None else images
    columns = {
        "group_id": np.array(groups * 2, dtype=object), "kernel": np.array(["k"] * 2 * n, dtype=object),
        "method": np.array(["TM_CCOEFF_NORMED"] * 2 * n, dtype=object),
        "variant": np.array(["orbit-trap"] * n + ["none"] * n, dtype=object),
        "family": np.array(["orbit-trap"] * n + ["none"] * n, dtype=object),
        "hit": np.array(list(first_hits) + list(second_hits), bool), "margin": np.zeros(2 * n),
        "object": np.array(list(objects) * 2, dtype=object), "target": np.array(list(images) * 2, dtype=object),
        "scale": np.ones(2 * n), "rotation": np.zeros(2 * n),
    }
    columns["case_id"] = columns["group_id"]
    return Run(Path("constructed"), {}, columns)


DECLARED = [{"claim": "best fractal vs plain", "method": "TM_CCOEFF_NORMED", "first": "orbit-trap", "second": "none"}]


def _declared_row(first, second, objects, images=None, by="object"):
    row, = comparison_rows(_run(first, second, objects, images), declared=DECLARED, margins={"confirmatory": 0.02},
                           clusters_by=by)
    assert row["holm_set"] == "confirmatory"
    return row


@pytest.mark.parametrize("first, second, expected", [
    # 200 objects, the same hits both ways: no difference and no spread
    (np.arange(200) % 3 == 0, np.arange(200) % 3 == 0, "equivalent"),
    # the fractal finds every object, the plain kernel none: established and positive
    (np.ones(200, bool), np.zeros(200, bool), "superior"),
    (np.zeros(200, bool), np.ones(200, bool), "inferior"),
    # 20 objects, 4 won and 4 lost: no difference shown, and +-0.2 not ruled out
    (np.arange(20) < 4, (np.arange(20) >= 4) & (np.arange(20) < 8), "inconclusive"),
    # 2000 objects, a real gain of 1 point (20 discordant pairs, all one way): superior, and inside +-0.02
    (np.arange(2000) < 60, np.arange(2000) < 40, "superior (and equivalent within +-0.02)"),
    (np.arange(2000) < 40, np.arange(2000) < 60, "inferior (and equivalent within +-0.02)"),
])
def test_tost_gives_the_known_answer(first, second, expected):
    row = _declared_row(first, second, [f"o{i}" for i in range(len(first))])
    assert row["verdict"] == expected, row
    assert row["disagree"] == pytest.approx(np.mean(first != second))
    inside = -0.02 < row["t90_low"] and row["t90_high"] < 0.02  # one comparison: Holm changes nothing
    assert inside == (row["p_tost"] < 0.05) == (row["p_tost_holm"] < 0.05)


def test_cases_of_one_photo_are_not_independent_for_equivalence():
    """2000 cases in 8 photos: 10 gains in each of 4 photos, 10 losses in each of the other 4. As 2000
    independent cases the difference (0) is inside +-0.02; with the photos as the units it is not shown."""
    images = [f"photo{i // 250}" for i in range(2000)]
    first = np.array([i % 250 < 10 and i < 1000 for i in range(2000)])
    second = np.array([i % 250 < 10 and i >= 1000 for i in range(2000)])
    by_case = _declared_row(first, second, [f"o{i}" for i in range(2000)], images, by="object")
    by_photo = _declared_row(first, second, [f"o{i}" for i in range(2000)], images, by="image")
    assert by_case["difference"] == by_photo["difference"] == 0.0
    assert by_case["verdict"] == "equivalent" and by_photo["verdict"] == "inconclusive"
    assert by_case["clusters"] == "object (2000)" and by_photo["clusters"] == "image (8)"


def test_the_cluster_robust_error_is_cr1_with_g_minus_1_degrees_of_freedom():
    from scipy import stats

    from fractal_match.report.stats import cluster_t, tost

    # clusters a, a, b, b, c; differences 1, 0, 0, 0, 1: mean 0.4, cluster residual sums 0.2, -0.8, 0.6
    mean, error, freedom = cluster_t([1, 0, 0, 0, 1], ["a", "a", "b", "b", "c"])
    assert (mean, freedom) == (pytest.approx(0.4), 2) and error == pytest.approx(np.sqrt(3 / 2 * 1.04 / 25))
    upper, lower = tost([1, 0, 0, 0, 1], ["a", "a", "b", "b", "c"], 0.5)
    assert upper == pytest.approx(stats.t.cdf((0.4 - 0.5) / error, 2)) and lower == pytest.approx(stats.t.sf(0.9 / error, 2))
    assert tost([1, 1], ["a", "a"], 0.5) == (1.0, 1.0)  # one cluster: nothing can be shown


def test_the_verdict_reads_holm_adjusted_tests():
    row = {"p_holm": 0.2, "difference": 0.001, "ci_low": -0.01, "ci_high": 0.012, "margin": 0.02}
    assert verdict({**row, "p_tost_holm": 0.049}) == "equivalent"
    assert verdict({**row, "p_tost_holm": 0.05}) == "inconclusive"
    assert verdict({**row, "p_holm": 0.01, "ci_low": 0.001, "p_tost_holm": 0.01}) == "superior (and equivalent within +-0.02)"


# --- invariance: kernels chosen on the tune objects at the identity pose ----------------------------

CONFIG = """
name = "tiny-confirmation"
seed = 0
kernels = ["crop", "bank:ring"]
[targets]
annotations = ["coins/coin-1", "coins/coin-3", "camera/face", "microaneurysms/lesion", "coins/coin-2", "coins/coin-9"]
[transforms]
scales = [1.0]
rotations = [0, 30]
[[variants]]
family = "none"
[[variants]]
family = "rot-sym"
[[variants]]
family = "orbit-trap"
params = { iterations = 40 }
[[variants]]
family = "bank"
[matching]
methods = ["TM_CCOEFF_NORMED", "TM_SQDIFF"]
[split]
tune = 0.5
seed = 0
[search]
trials = 2
startup = 1
start = "config"
[confirmation]
margin = 0.02
reason = "a constructed example"
clusters = "object"
rule = "cases"                # the studies 3 and 4 rule, whose equivalence test may take objects as units
invariance_rate = 0.5
invariance_margin = 0.05
invariance_reason = "a constructed example"
"""


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("confirmation")
    (folder / "tiny.toml").write_text(CONFIG)
    tune(load_config(folder / "tiny.toml"), folder / "tune", executor="serial")
    confirm(folder / "tune", folder / "confirm", executor="serial")
    return folder


def test_the_invariance_kernels_are_chosen_from_the_plain_winners_tune_rows_at_the_identity_pose(confirmed):
    config, _, _, winners = read_search(confirmed / "tune")
    tune_ids, held_ids = ({ref.id for ref in side} for side in split_targets(config))
    declaration = json.loads((confirmed / "confirm" / "declared.json").read_text())
    selection = declaration["chosen"]["invariance"]
    trial = winners["none"]["all"][0]
    assert set(selection["plain"].values()) == {trial}
    path = confirmed / "tune" / "trials" / "none" / f"{trial:04d}" / "results.csv"
    rows = list(csv.DictReader(path.open()))
    assert {r["object"] for r in rows} == tune_ids  # the tune objects only: nothing held out is seen
    for method, kernels in selection["rates"].items():  # recounted here from the rows at scale 1, rotation 0
        for kernel, rate in kernels.items():
            mine = [r["hit"] == "1" for r in rows if (r["method"], r["kernel"], r["scale"], r["rotation"]) ==
                    (method, kernel, "1", "0")]
            assert len(mine) == len(tune_ids) and rate == sum(mine) / len(mine)
    assert all(identity_rates(confirmed / "tune", "none", trial)[m] == r for m, r in selection["rates"].items())
    qualifying = {m: sorted(k for k, r in rates.items() if r >= 0.5) for m, rates in selection["rates"].items()}
    assert selection["qualifying"] == qualifying and "crop" in qualifying["TM_CCOEFF_NORMED"]
    assert declaration["margin"]["delta"] == 0.02 and declaration["margin"]["invariance_delta"] == 0.05
    invariance = [d for d in declaration["declared"] if d["claim"].startswith("invariance: ")]
    assert invariance and all(d["kernels"] == qualifying[d["method"]] and d["poses"] == "changed" for d in invariance)
    for entry in invariance:  # the best fractal for these claims: by its tune rate on those kernels and poses
        tune_rates = selection["chosen"][entry["method"]]["tune rates over the changed poses"]
        fractals = [f for f in ("rot-sym", "orbit-trap") if f != "rot-sym"]  # rot-sym is a control
        assert entry["first"] == max(fractals, key=lambda f: tune_rates[f])
    # measured on the held-out objects, over the changed poses of the qualifying kernels only, Holm apart
    run = load_run(confirmed / "confirm")
    assert set(run.columns["object"]) == held_ids
    found = comparison_rows(run, declared=declaration["declared"], margins={"confirmatory": 0.02, "invariance": 0.05})
    rows_ = [r for r in found if r["holm_set"] == "invariance"]
    pooled = [r for r in found if r["holm_set"] == "confirmatory"]
    assert len(rows_) == len(invariance) and len(pooled) == 3 * 2
    for row, entry in zip(rows_, invariance):
        assert row["n"] == len(held_ids) * 1 * len(entry["kernels"])  # one changed pose (rotation 30)
        assert row["margin"] == 0.05 and row["verdict"]
    for chosen in (rows_, pooled):  # Holm within each family, not across
        assert [r["p_holm"] for r in chosen] == pytest.approx(list(holm([r["p_mcnemar"] for r in chosen])))
        assert [r["p_tost_holm"] for r in chosen] == pytest.approx(list(holm([r["p_tost"] for r in chosen])))
    page = (make_report(confirmed / "confirm") / "index.html").read_text()
    assert "Invariance comparisons" in page and "Equivalence margin δ = 0.02" in page and "margin 0.05" in page
    markdown = (confirmed / "confirm" / "report" / "declared.md").read_text().splitlines()
    table = [line for line in markdown if line.startswith("| TM_")]  # a row per method, then one per invariance claim
    assert len(table) == 2 + len(rows_)
    reported = list(csv.DictReader((confirmed / "confirm" / "report" / "comparisons.csv").open()))
    claims = list(dict.fromkeys(r["claim"] for r in reported if r["holm_set"] == "confirmatory"))
    for row in (r for r in reported if r["holm_set"] == "confirmatory"):  # each cell: its difference and verdict
        line = next(line for line in table if line.startswith(f"| {row['method']} |"))
        cell = line.strip("|").split(" | ")[claims.index(row["claim"]) + 1]
        declared_part, post_hoc = cell.split("; post hoc, photos: ")  # as declared, then the photo-level re-analysis
        assert f"{abs(float(row['difference'])):.3f}" in declared_part and declared_part.strip(" *").endswith(row["verdict"])
        assert post_hoc.strip().endswith(row["verdict_photo"])
    per_kernel = list(csv.DictReader((confirmed / "confirm" / "report" / "comparisons_per_kernel.csv").open()))
    assert {r["kernel"] for r in per_kernel} == {"crop", "bank:ring"} and {r["holm_set"] for r in per_kernel} == {"exploratory"}


def _trial(folder, family, number, rows):
    path = folder / "trials" / family / f"{number:04d}"
    path.mkdir(parents=True)
    with open(path / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["kernel", "method", "scale", "rotation", "hit", "object"])
        writer.writeheader()
        writer.writerows(rows)


def _rows(kernel, method, identity_hits, changed_hits):
    """Rows of 4 tune objects: `identity_hits` of them hit at scale 1, rotation 0; `changed_hits` at rotation 30."""
    return ([{"kernel": kernel, "method": method, "scale": "1", "rotation": "0", "hit": int(i < identity_hits), "object": i}
             for i in range(4)] +
            [{"kernel": kernel, "method": method, "scale": "1", "rotation": "30", "hit": int(i < changed_hits), "object": i}
             for i in range(4)])


def test_the_invariance_selection_takes_the_threshold_inclusively_and_each_methods_own_winners(tmp_path):
    """A per-method search: plain winners differ by method; a kernel at exactly the threshold
    qualifies; the best fractal is the one with the higher tune rate over the changed poses."""
    from dataclasses import replace

    from fractal_match.experiments.config import Variant
    from fractal_match.experiments.settings import Confirmation
    from fractal_match.search.confirm import invariance

    config = replace(load_config("quick"), methods=("TM_SQDIFF", "TM_CCORR"),
                     confirmation=Confirmation(0.02, "r", 0.5, 0.05, "r"))
    found = [type("F", (), {"name": n, "variant": Variant(n, f)})() for n, f in
             (("none", "none"), ("orbit-trap", "orbit-trap"), ("ifs", "ifs"), ("blur", "blur"))]
    winners = {"none": {"TM_SQDIFF": (0, 0, {}), "TM_CCORR": (1, 0, {})},
               "orbit-trap": {"TM_SQDIFF": (0, 0, {}), "TM_CCORR": (0, 0, {})},
               "ifs": {"TM_SQDIFF": (0, 0, {}), "TM_CCORR": (0, 0, {})}, "blur": {"TM_SQDIFF": (0, 0, {}), "TM_CCORR": (0, 0, {})}}
    _trial(tmp_path, "none", 0, _rows("k1", "TM_SQDIFF", 2, 1) + _rows("k2", "TM_SQDIFF", 1, 1) + _rows("k1", "TM_CCORR", 0, 0))
    _trial(tmp_path, "none", 1, _rows("k1", "TM_SQDIFF", 0, 0) + _rows("k1", "TM_CCORR", 3, 1) + _rows("k2", "TM_CCORR", 4, 0))
    _trial(tmp_path, "orbit-trap", 0, _rows("k1", "TM_SQDIFF", 4, 3) + _rows("k1", "TM_CCORR", 4, 0) + _rows("k2", "TM_CCORR", 4, 0))
    _trial(tmp_path, "ifs", 0, _rows("k1", "TM_SQDIFF", 4, 1) + _rows("k1", "TM_CCORR", 4, 2) + _rows("k2", "TM_CCORR", 4, 2))
    _trial(tmp_path, "blur", 0, _rows("k1", "TM_SQDIFF", 4, 1) + _rows("k1", "TM_CCORR", 4, 1) + _rows("k2", "TM_CCORR", 4, 1))
    names = {(f, label): f for f in winners for label in ("TM_SQDIFF", "TM_CCORR")}
    selection, declared = invariance(config, tmp_path, found, winners, names)
    assert selection["plain"] == {"TM_SQDIFF": 0, "TM_CCORR": 1}  # each method's own plain winner
    assert selection["qualifying"] == {"TM_SQDIFF": ["k1"], "TM_CCORR": ["k1", "k2"]}  # 2 of 4 = 0.5 qualifies
    assert selection["chosen"]["TM_SQDIFF"]["best fractal"] == "orbit-trap"  # 3 of 4 changed hits against 1
    assert selection["chosen"]["TM_CCORR"]["best fractal"] == "ifs"  # 4 of 8 against 0
    assert {(d["method"], d["first"], d["second"]) for d in declared} == {
        ("TM_SQDIFF", "orbit-trap", "none"), ("TM_SQDIFF", "orbit-trap", "blur"),
        ("TM_CCORR", "ifs", "none"), ("TM_CCORR", "ifs", "blur")}


def test_the_tuning_report_shows_each_family_against_its_start_and_marks_a_partial_search(confirmed, tmp_path):
    import shutil

    from fractal_match.report.search import _studies, make_search_report, trial_rows

    rows = trial_rows(*_studies(confirmed / "tune"))
    first = {r["family"]: json.loads(r["params"]) for r in rows if r["trial"] == 0}
    assert first["orbit-trap"]["iterations"] == 40  # trial 0 is the variant as the config writes it
    assert first["orbit-trap"]["degree"] == 5 and first["rot-sym"]["color"] is False  # and the defaults elsewhere
    page = (make_search_report(confirmed / "tune", tmp_path / "report") / "index.html").read_text()
    assert "start (trial 0)" in page and "Partial search" not in page
    for family in ("orbit-trap", "rot-sym", "bank"):
        values = [r["hit_rate_all"] for r in rows if r["family"] == family]
        start = next(r["hit_rate_all"] for r in rows if r["family"] == family and r["trial"] == 0)
        assert f"{start:.3f}<br><small>best {max(values) - start:+.3f}</small>" in page
    shutil.copytree(confirmed / "tune", tmp_path / "tune")
    manifest = json.loads((tmp_path / "tune" / "search.json").read_text())
    (tmp_path / "tune" / "search.json").write_text(json.dumps({**manifest, "finished": None}))
    page = (make_search_report(tmp_path / "tune") / "index.html").read_text()
    assert "Partial search: " in page and "--resume</code>" in page
    from typer.testing import CliRunner

    from fractal_match.cli import app

    finished = CliRunner().invoke(app, ["report", str(confirmed / "tune"), "--out", str(tmp_path / "whole")])
    stopped = CliRunner().invoke(app, ["report", str(tmp_path / "tune")])
    assert finished.exit_code == stopped.exit_code == 0
    assert "partial search" not in finished.output and "trials.csv" in finished.output
    total = len(rows)
    line = next(line for line in stopped.output.splitlines() if line.startswith("partial search: "))
    assert f"{total} of {total} trials finished" in line and line.endswith("--resume` completes it")


def test_the_rate_table_marks_follow_the_plain_family_and_leave_out_the_invariance_rows():
    from fractal_match.report.build import _marks

    row = {"method": "TM_SQDIFF", "first": "ifs", "second": "none-t0002", "p_holm": 0.001, "difference": 0.05,
           "ci_low": 0.01, "ci_high": 0.09, "holm_set": "confirmatory"}
    families = {"ifs": "ifs", "none-t0002": "none"}
    assert _marks([row], families) == {("TM_SQDIFF", "ifs"): " ▲"}  # a per-method plain winner's name
    assert _marks([{**row, "holm_set": "invariance"}], families) == {}  # a subset of the cases: not the table's
    assert _marks([row]) == {}  # without families, only a variant called none is the plain kernel


def _constructed_run(tmp_path, gains):
    """A run of two variants over 8 photos x 3 objects x 10 poses: in photo p the fractal hits in
    the cases the plain kernel hits, plus `gains[p]` more (a negative gain: fewer)."""
    from fractal_match.report.tables import Run

    columns = {name: [] for name in ("case_id", "group_id", "target", "object", "kernel", "variant", "family", "method",
                                     "hit", "margin", "scale", "rotation", "status")}
    for p, gain in enumerate(gains):
        for o in range(3):
            for pose in range(10):
                base = (pose + o) % 3 == 0
                for variant, family in (("fractal", "orbit-trap"), ("none", "none")):
                    hit = base if variant == "none" else (base or pose < gain) and not (gain < 0 and base and pose < -gain * 3)
                    group = f"p{p}/o{o}@{pose}"
                    for key, value in (("case_id", f"{group}|k|{variant}"), ("group_id", group), ("target", f"p{p}.png"),
                                       ("object", f"p{p}/o{o}"), ("kernel", "k"), ("variant", variant), ("family", family),
                                       ("method", "TM_CCOEFF_NORMED"), ("hit", hit), ("margin", 0.0), ("scale", 1.0),
                                       ("rotation", float(pose)), ("status", "ok")):
                        columns[key].append(value)
    arrays = {k: np.array(v, dtype=bool if k == "hit" else float if k in ("margin", "scale", "rotation") else object)
              for k, v in columns.items()}
    return Run(tmp_path, {}, arrays)


def test_the_photo_rule_decides_every_declared_verdict(tmp_path):
    """Under rule = "photo" the verdict is the CR2 test's with the photos as the units: a gain in
    every photo is superior; a gain in two photos of eight is not, however many cases they hold."""
    from fractal_match.report.declared import declared_markdown
    from fractal_match.report.stats import photo_test
    from fractal_match.report.tables import comparison_rows

    declared = [{"claim": "best fractal vs plain", "method": "TM_CCOEFF_NORMED", "first": "fractal", "second": "none"}]
    declaration = {"declared": declared, "margin": {"delta": 0.02, "reason": "r", "rule": "photo"}}
    everywhere = comparison_rows(_constructed_run(tmp_path, [2, 3, 2, 4, 2, 3, 2, 3]), declared=declared,
                                 margins={"confirmatory": 0.02}, rule="photo")[0]
    assert everywhere["verdict"] == "superior" and everywhere["photos"] == 8
    hits = _constructed_run(tmp_path, [2, 3, 2, 4, 2, 3, 2, 3])
    first = hits.columns["hit"][hits.columns["variant"] == "fractal"].astype(float)
    second = hits.columns["hit"][hits.columns["variant"] == "none"].astype(float)
    reference = photo_test(first - second, hits.columns["target"][hits.columns["variant"] == "fractal"], 0.02)
    assert everywhere["p_photo"] == pytest.approx(reference.p) and everywhere["photo_dof"] == pytest.approx(7.0)
    one_photo = comparison_rows(_constructed_run(tmp_path, [9, 9, 0, 0, 0, 0, 0, 0]), declared=declared,
                                margins={"confirmatory": 0.02}, rule="photo")[0]
    assert one_photo["p_mcnemar"] < 0.001  # over cases the gain looks certain ...
    assert one_photo["verdict"] == "inconclusive" and one_photo["p_photo_holm"] > 0.05  # ... over photos it is not
    text = declared_markdown([{**one_photo}], declaration)
    assert "Holm-adjusted two-sided CR2 t-test" in text and "95% CR2 t-interval" in text
    cases = comparison_rows(_constructed_run(tmp_path, [9, 9, 0, 0, 0, 0, 0, 0]), declared=declared,
                            margins={"confirmatory": 0.02}, rule="cases")[0]
    # as studies 3 and 4 declared (cases, objects) it is established; with the photos as the units, post hoc, not
    assert cases["verdict"] == "superior" and cases["verdict_photo"] == "inconclusive"


def test_an_interval_that_excludes_zero_beside_inconclusive_says_why():
    from fractal_match.report.declared import _cell

    row = {"difference": -0.06, "photo_low": -0.11, "photo_high": -0.01, "p_photo_holm": 0.12, "verdict": "inconclusive",
           "no_gain": "yes"}
    assert "interval excludes 0 before Holm only" in _cell(row, "photo")
