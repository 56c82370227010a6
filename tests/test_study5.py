"""The committed study 5 (results/study5): its tables come back from its rows alone, and every
declared verdict is the photo-level test's (the rule it declared before it ran)."""

from pathlib import Path

from fractal_match.report.declared import read_declaration
from fractal_match.report.tables import COMPARISON_COLUMNS, EQUIVALENCE_COLUMNS, comparison_rows, load_run, to_csv

FOLDER = Path(__file__).resolve().parent.parent / "results" / "study5"


def test_the_committed_study5_gives_its_comparisons_again_with_the_photo_as_the_unit():
    run = load_run(FOLDER)
    declaration = read_declaration(run)
    margin = declaration["margin"]
    assert margin["rule"] == "photo" and len(set(declaration["units"].values())) == 30
    rows = comparison_rows(run, seed=int(run.manifest.get("seed", 0)), declared=declaration["declared"],
                           margins={"confirmatory": margin["delta"], "invariance": margin["invariance_delta"]},
                           clusters_by="image", rule="photo")
    assert to_csv(rows, COMPARISON_COLUMNS + EQUIVALENCE_COLUMNS) == (FOLDER / "report" / "comparisons.csv").read_bytes()
    declared = [r for r in rows if r["holm_set"] in ("confirmatory", "invariance")]
    assert len(declared) == 33 and all(r["photos"] == 30 for r in declared)
    assert all(r["verdict"] == r["verdict_photo"] for r in declared)
    # an established verdict is a Holm-adjusted photo-level p below 0.05, never a case-level one alone
    for r in declared:
        assert r["verdict"].startswith(("superior", "inferior")) == (r["p_photo_holm"] < 0.05)
