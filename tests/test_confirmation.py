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

def _run(first_hits, second_hits, objects) -> Run:
    """A run of two variants over paired cases (one kernel, one method, one pose per case)."""
    n = len(first_hits)
    groups = [f"g{i:04d}@s1r0" for i in range(n)]
    columns = {
        "group_id": np.array(groups * 2, dtype=object), "kernel": np.array(["k"] * 2 * n, dtype=object),
        "method": np.array(["TM_CCOEFF_NORMED"] * 2 * n, dtype=object),
        "variant": np.array(["orbit-trap"] * n + ["none"] * n, dtype=object),
        "family": np.array(["orbit-trap"] * n + ["none"] * n, dtype=object),
        "hit": np.array(list(first_hits) + list(second_hits), bool), "margin": np.zeros(2 * n),
        "object": np.array(list(objects) * 2, dtype=object), "scale": np.ones(2 * n), "rotation": np.zeros(2 * n),
    }
    columns["case_id"] = columns["group_id"]
    return Run(Path("constructed"), {}, columns)


DECLARED = [{"claim": "best fractal vs plain", "method": "TM_CCOEFF_NORMED", "first": "orbit-trap", "second": "none"}]


@pytest.mark.parametrize("first, second, expected", [
    # 200 objects, the same hits both ways: the difference is 0 with a 90% interval [0, 0]
    (np.arange(200) % 3 == 0, np.arange(200) % 3 == 0, "equivalent"),
    # the fractal finds every object, the plain kernel none: established and positive
    (np.ones(200, bool), np.zeros(200, bool), "superior"),
    (np.zeros(200, bool), np.ones(200, bool), "inferior"),
    # 20 objects, 4 won and 4 lost: no difference shown, and +-0.2 is not ruled out
    (np.arange(20) < 4, (np.arange(20) >= 4) & (np.arange(20) < 8), "inconclusive"),
    # 2000 objects, a real gain of 1 point (20 discordant pairs, all one way): superior, and inside +-0.02
    (np.arange(2000) < 60, np.arange(2000) < 40, "superior (and within +-0.02)"),
])
def test_tost_gives_the_known_answer(first, second, expected):
    objects = [f"o{i}" for i in range(len(first))]
    row, = comparison_rows(_run(first, second, objects), declared=DECLARED, margin=0.02)
    assert row["holm_set"] == "confirmatory" and row["verdict"] == expected, row
    assert row["ci90_low"] >= row["ci_low"] and row["ci90_high"] <= row["ci_high"]  # 90% inside 95%


def test_equivalence_needs_the_whole_90_interval_inside_the_margin():
    row = {"p_holm": 1.0, "difference": 0.0, "ci_low": -0.03, "ci_high": 0.03}
    assert verdict({**row, "ci90_low": -0.019, "ci90_high": 0.019}, 0.02) == "equivalent"
    assert verdict({**row, "ci90_low": -0.021, "ci90_high": 0.0}, 0.02) == "inconclusive"
    assert verdict({**row, "ci90_low": 0.0, "ci90_high": 0.02}, 0.02) == "inconclusive"  # the bound itself: not inside


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
invariance_rate = 0.5
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
    assert selection["plain"] == {"family": "none", "trial": trial}
    path = confirmed / "tune" / "trials" / "none" / f"{trial:04d}" / "results.csv"
    rows = list(csv.DictReader(path.open()))
    assert {r["object"] for r in rows} == tune_ids  # the tune objects only: nothing held out is seen
    for method, kernels in selection["rates"].items():  # recounted here from the rows at scale 1, rotation 0
        for kernel, rate in kernels.items():
            mine = [r["hit"] == "1" for r in rows if (r["method"], r["kernel"], r["scale"], r["rotation"]) ==
                    (method, kernel, "1", "0")]
            assert len(mine) == len(tune_ids) and rate == sum(mine) / len(mine)
    assert identity_rates(confirmed / "tune", "none", trial) == selection["rates"]
    qualifying = {m: sorted(k for k, r in rates.items() if r >= 0.5) for m, rates in selection["rates"].items()}
    assert selection["qualifying"] == qualifying and "crop" in qualifying["TM_CCOEFF_NORMED"]
    assert declaration["margin"]["delta"] == 0.02
    invariance = [d for d in declaration["declared"] if d["claim"].startswith("invariance: ")]
    assert invariance and all(d["kernels"] == qualifying[d["method"]] and d["poses"] == "changed" for d in invariance)
    # measured on the held-out objects, over the changed poses of the qualifying kernels only, Holm apart
    run = load_run(confirmed / "confirm")
    assert set(run.columns["object"]) == held_ids
    found = comparison_rows(run, declared=declaration["declared"], margin=0.02)
    rows_ = [r for r in found if r["holm_set"] == "invariance"]
    assert len(rows_) == len(invariance)
    for row, entry in zip(rows_, invariance):
        assert row["n"] == len(held_ids) * 1 * len(entry["kernels"])  # one changed pose (rotation 30)
        assert row["verdict"] in ("superior", "inferior", "equivalent", "inconclusive") or "within" in row["verdict"]
    assert [r["p_holm"] for r in rows_] == pytest.approx(list(holm([r["p_mcnemar"] for r in rows_])))
    page = (make_report(confirmed / "confirm") / "index.html").read_text()
    assert "Invariance comparisons" in page and "Equivalence margin δ = 0.02" in page
    assert (confirmed / "confirm" / "report" / "comparisons_per_kernel.csv").is_file()
    per_kernel = list(csv.DictReader((confirmed / "confirm" / "report" / "comparisons_per_kernel.csv").open()))
    assert {r["kernel"] for r in per_kernel} == {"crop", "bank:ring"} and {r["holm_set"] for r in per_kernel} == {"exploratory"}


def test_the_tuning_report_shows_each_family_against_its_start_and_marks_a_partial_search(confirmed, tmp_path):
    import shutil

    from fractal_match.report.search import _studies, make_search_report, trial_rows

    rows = trial_rows(*_studies(confirmed / "tune"))
    page = (make_search_report(confirmed / "tune", tmp_path / "report") / "index.html").read_text()
    assert "start (trial 0)" in page and "Partial search" not in page
    for family in ("orbit-trap", "rot-sym", "bank"):
        values = [r["hit_rate_all"] for r in rows if r["family"] == family]
        start = next(r["hit_rate_all"] for r in rows if r["family"] == family and r["trial"] == 0)
        assert max(values) >= start and f"{start:.3f}<br><small>best {max(values) - start:+.3f}</small>" in page
    shutil.copytree(confirmed / "tune", tmp_path / "tune")
    manifest = json.loads((tmp_path / "tune" / "search.json").read_text())
    (tmp_path / "tune" / "search.json").write_text(json.dumps({**manifest, "finished": None}))
    page = (make_search_report(tmp_path / "tune") / "index.html").read_text()
    assert "Partial search: " in page and "--resume</code>" in page
