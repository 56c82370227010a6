"""tune and confirm: a study resumes after SIGKILL to the same trials and values, runs the same on
Dask, and a confirmation never touches a tune-split object."""

import csv
import json
import lzma
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("optuna")

from fractal_match.experiments import cases as experiment  # noqa: E402
from fractal_match.cli import app  # noqa: E402
from fractal_match.experiments.config import load_config  # noqa: E402
from fractal_match.search.confirm import confirm, read_search  # noqa: E402
from fractal_match.experiments.plan import split_targets  # noqa: E402
from fractal_match.report.search import trial_rows, _studies  # noqa: E402
from fractal_match.report.tables import comparison_rows, load_run  # noqa: E402
from fractal_match.search.study import families, side_config, tune, variant_at  # noqa: E402
from fractal_match.report.stats import holm  # noqa: E402
from fractal_match.experiments.store import config_toml  # noqa: E402

# Coins (4 objects, one image) against a face and a lesion (two more images); 3 trials a family.
CONFIG = """
name = "tiny-search"
seed = 0
kernels = ["crop"]
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
[[variants]]
family = "oracle"
[matching]
methods = ["TM_CCOEFF_NORMED", "TM_SQDIFF"]
[split]
tune = 0.5
seed = 0
[search]
trials = 3
startup = 2
"""

runner = CliRunner()


@pytest.fixture()
def config_path(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(CONFIG)
    return path


def study_trials(folder: Path) -> list[dict]:
    """Every trial of every study: family, number, state, values and parameters."""
    manifest, studies = _studies(folder)
    return trial_rows(manifest, studies)


def trial_rows_without_timing(folder: Path) -> dict:
    found = {}
    for path in sorted((folder / "trials").glob("*/*/results.csv")):
        with open(path, newline="") as handle:
            found[str(path.relative_to(folder))] = sorted(tuple(v for k, v in r.items() if k != "seconds")
                                                          for r in csv.DictReader(handle))
    return found


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search")
    path = folder / "tiny.toml"
    path.write_text(CONFIG)
    tune(load_config(path), folder / "tune", executor="serial")
    return folder / "tune"


def test_every_family_gets_the_same_budget_and_finite_spaces_each_point_once(config_path):
    found = {f.name: f for f in families(load_config(config_path))}
    assert set(found) == {"none", "rot-sym", "orbit-trap", "bank"}  # the oracle has nothing to tune
    assert found["none"].sampler == "grid" and found["none"].budget == 3  # 4 points (colour x masks) > 3 trials
    assert {f.budget for f in found.values()} == {3}
    assert [d.name for d in found["bank"].space.dimensions] == ["rotation", "scale", "color", "template_masks"]
    bank = variant_at(found["bank"], {"rotation": 20.0, "scale": 1.5, "color": True, "template_masks": False})
    assert (bank.rotations, bank.scales, bank.color, bank.template_masks) == ((20.0,), (1.5,), True, False)
    low = variant_at(found["orbit-trap"], {d.name: (d.choices[0] if d.choices else d.low) for d in found["orbit-trap"].space.dimensions})
    assert low.params["iterations"] == 1 and low.params["c"] == complex(-2, -2)  # the family's own ranges


def test_study_is_complete_and_each_value_is_the_hit_rate_of_its_rows(reference):
    rows = study_trials(reference)
    assert len(rows) == 4 * 3 and {r["state"] for r in rows} == {"COMPLETE"}
    tune_objects = {ref.id for ref in split_targets(load_config(reference / "config.toml"))[0]}
    for row in rows:
        with open(reference / "trials" / row["family"] / f"{row['trial']:04d}" / "results.csv", newline="") as handle:
            trial = list(csv.DictReader(handle))
        assert {r["object"] for r in trial} == tune_objects
        assert row["hit_rate_all"] == pytest.approx(sum(float(r["hit"]) for r in trial) / len(trial))
    # the grid family tried three distinct points
    assert len({r["params"] for r in rows if r["family"] == "none"}) == 3


def _killed_in_round_two(config_path, folder: Path) -> list[dict]:
    """Start `tune` and SIGKILL it once round 2 (trial 1 of each family) is running; the trials
    the journal then holds."""
    process = subprocess.Popen([sys.executable, "-m", "fractal_match", "tune", str(config_path), "--out", str(folder),
                                "--executor", "serial"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = folder / "trials" / "orbit-trap" / "0001" / "manifest.json"  # inside the second round
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and not marker.exists():
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the search ended before the kill"
    return study_trials(folder)


def test_tune_resumes_after_sigkill_to_the_same_trials_and_values(tmp_path, config_path, reference):
    """Killed once round 2 is under way, wherever the kill lands (in a trial, between two, in a
    write): what the journal holds agrees with the uninterrupted study, and --resume ends equal."""
    folder = tmp_path / "killed"
    cut = _killed_in_round_two(config_path, folder)
    assert sum(r["state"] == "COMPLETE" for r in cut) < 12  # killed in the middle of the study
    finished = {(r["family"], r["trial"]): r for r in study_trials(reference)}
    for row in cut:  # every trial that finished before the kill is the uninterrupted study's
        assert row["state"] in ("COMPLETE", "RUNNING"), row
        if row["state"] == "COMPLETE":
            assert row == finished[(row["family"], row["trial"])]
    with open(folder / "study.journal", "ab") as handle:
        handle.write(b'{"op_code": 5, "worker_id": "torn')  # a write cut by the kill
    result = runner.invoke(app, ["tune", str(config_path), "--out", str(folder), "--executor", "serial", "--resume"])
    assert result.exit_code == 0, result.output
    assert "repaired: removed a torn last line" in result.output
    assert study_trials(folder) == study_trials(reference)
    assert trial_rows_without_timing(folder) == trial_rows_without_timing(reference)


KILLED_WHILE_WRITING = """
import os, signal, sys
from fractal_match.experiments import store
from fractal_match.search import study as search
from fractal_match.experiments.config import load_config

where = sys.argv[3]
module = store if where == "trial" else search  # a trial folder's config, or the tuning folder's own
real = module.write_config

def torn(folder, config):  # a kill between an atomic write's temporary file and its rename
    (folder / ".config.toml.ab12cd.tmp").write_text('name = "tin')
    os.kill(os.getpid(), signal.SIGKILL)

module.write_config = torn
search.tune(load_config(sys.argv[1]), sys.argv[2], executor="serial")
"""


def _killed_while_writing(config_path, folder: Path, where: str) -> None:
    killed = subprocess.run([sys.executable, "-c", KILLED_WHILE_WRITING, str(config_path), str(folder), where],
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr


@pytest.mark.parametrize("where, options", [("trial", ["--resume"]), ("search", []), ("search", ["--resume"])])
def test_a_search_killed_while_writing_a_config_resumes_to_the_same_study(tmp_path, config_path, reference, where,
                                                                          options):
    """A kill in the middle of the first trial folder's config copy (a started search: --resume)
    or of the tuning folder's own (nothing started yet: with or without --resume) leaves a
    temporary file: the search goes on, removes it, and ends equal to an uninterrupted one."""
    folder = tmp_path / "torn"
    _killed_while_writing(config_path, folder, where)
    torn = folder / "trials" / "none" / "0000" if where == "trial" else folder
    assert [p.name for p in torn.iterdir() if p.name.endswith(".tmp")] == [".config.toml.ab12cd.tmp"]
    result = runner.invoke(app, ["tune", str(config_path), "--out", str(folder), "--executor", "serial", *options])
    assert result.exit_code == 0, result.output
    assert "cleaned: removed 1 temporary file(s) that an interrupted write left" in result.output
    assert not list(folder.rglob("*.tmp"))
    assert study_trials(folder) == study_trials(reference)
    assert trial_rows_without_timing(folder) == trial_rows_without_timing(reference)
    if where == "trial":
        assert json.loads((torn / "manifest.json").read_text())["leftovers_removed"] == 1
    else:
        assert json.loads((folder / "search.json").read_text())["leftovers_removed"] == 1


def test_a_kill_in_the_middle_of_an_ask_resumes_to_the_same_study(tmp_path, reference):
    """The journal cut after a trial was created and two of its parameters stored (the kill came
    while Optuna wrote the ask): the rest are drawn again as they were, and the study ends equal."""
    import shutil

    folder = tmp_path / "cut"
    shutil.copytree(reference, folder)
    lines = (folder / "study.journal").read_bytes().splitlines(keepends=True)
    records = [json.loads(line) for line in lines]
    study_id = next(i for i, r in enumerate(r for r in records if r["op_code"] == 0) if r["study_name"] == "orbit-trap")
    created = [i for i, r in enumerate(records) if r["op_code"] == 4 and r["study_id"] == study_id]
    cut = created[1]  # its trial 1
    trial_id = sum(1 for r in records[: cut + 1] if r["op_code"] == 4) - 1
    params = [i for i, r in enumerate(records) if r["op_code"] == 5 and r["trial_id"] == trial_id]
    assert len(params) > 3
    (folder / "study.journal").write_bytes(b"".join(lines[: params[1] + 1]))
    manifest = json.loads((folder / "search.json").read_text())
    manifest["finished"] = None
    (folder / "search.json").write_text(json.dumps(manifest))
    tune(load_config(folder / "config.toml"), folder, resume=True, executor="serial")
    assert study_trials(folder) == study_trials(reference)


def test_tune_on_a_dask_cluster_gives_the_same_study(tmp_path, config_path, reference):
    pytest.importorskip("distributed")
    tune(load_config(config_path), tmp_path / "dask", executor="dask", workers=2)
    assert study_trials(tmp_path / "dask") == study_trials(reference)


def test_confirm_touches_no_tune_object_and_declares_before_it_runs(tmp_path, reference, monkeypatch):
    config = load_config(reference / "config.toml")
    tune_ids, held_ids = ({ref.id for ref in side} for side in split_targets(config))
    loaded, declared_first = [], []
    original = experiment.load_target

    def spy(ref, config, color=None):
        loaded.append(ref.id)
        declared_first.append((tmp_path / "confirm" / "declared.json").exists())
        return original(ref, config, color)

    monkeypatch.setattr(experiment, "load_target", spy)
    summary = confirm(reference, tmp_path / "confirm", executor="serial")
    assert summary["complete"]
    assert set(loaded) == held_ids and not set(loaded) & tune_ids
    assert all(declared_first)
    run = load_run(tmp_path / "confirm")
    assert set(run.columns["object"]) == held_ids
    assert set(run.variants) == {"none", "rot-sym", "orbit-trap", "bank", "oracle"}
    declaration = json.loads((tmp_path / "confirm" / "declared.json").read_text())
    assert {(d["claim"], d["first"], d["second"]) for d in declaration["declared"]} == {
        ("best fractal vs plain", "orbit-trap", "none"), ("best fractal vs best control", "orbit-trap", "rot-sym"),
        ("best fractal vs bank", "orbit-trap", "bank")}
    # each family runs at its winning parameters (the best tune value; ties to the earlier trial)
    _, _, _, winners = read_search(reference)
    rows = study_trials(reference)
    for family, (number, value, params) in ((f, w["all"]) for f, w in winners.items()):
        mine = [r for r in rows if r["family"] == family]
        assert value == max(r["hit_rate_all"] for r in mine)
        assert number == min(r["trial"] for r in mine if r["hit_rate_all"] == value)
    # Holm over the declared comparisons only
    comparisons = comparison_rows(run, declared=declaration["declared"])
    confirmatory = [r for r in comparisons if r["holm_set"] == "confirmatory"]
    assert len(confirmatory) == 3 * 2
    assert [r["p_holm"] for r in confirmatory] == pytest.approx(list(holm([r["p_mcnemar"] for r in confirmatory])))
    assert {r["holm_set"] for r in comparisons} == {"confirmatory", "exploratory"}


def test_configs_made_in_code_read_back_equal(tmp_path, reference):
    config = load_config(reference / "config.toml")
    found = families(config)
    made = side_config(config, tuple(variant_at(f, {d.name: d.choices[-1] if d.choices else d.high
                                                    for d in f.space.dimensions}) for f in found), "held-out", "made")
    for one in (made, load_config("search"), load_config("cnn")):
        path = tmp_path / f"{one.name}.toml"
        path.write_text(config_toml(one))
        assert load_config(path) == replace(one, source=path) and load_config(path).digest == one.digest


def test_a_variant_with_its_own_switches_matches_like_a_config_with_them(tmp_path, config_path):
    """Rows of colour, masked variants (one template; a bank) in a gray config equal those of a
    colour, masked config."""
    from fractal_match.experiments.runs import run_experiment

    base = replace(load_config(config_path), split=None, search=None)
    rot = next(v for v in base.variants if v.family == "rot-sym")
    bank = replace(next(v for v in base.variants if v.family == "bank"), rotations=(0.0, 30.0), scales=(1.0,))
    mixed = replace(base, variants=(base.variants[0], replace(rot, color=True, template_masks=True),
                                    replace(bank, color=True, template_masks=True)))
    alone = replace(base, variants=(rot, bank), color=True, template_masks=True)
    for name, config in (("mixed", mixed), ("alone", alone)):
        run_experiment(config, tmp_path / name, executor="serial")
    keep = ("case_id", "x", "y", "score", "hit", "margin")

    def rows(name):
        with open(tmp_path / name / "results.csv", newline="") as handle:
            return sorted(tuple(r[k] for k in keep) + (r["method"],) for r in csv.DictReader(handle)
                          if r["variant"] in ("rot-sym", "bank"))

    assert rows("mixed") == rows("alone") and {r[0].rsplit("|", 1)[1] for r in rows("alone")} == {"rot-sym", "bank"}


def test_bad_uses_fail_in_one_line(tmp_path, config_path, reference):
    no_split = tmp_path / "nosplit.toml"
    no_split.write_text(CONFIG.replace("[split]\ntune = 0.5\nseed = 0\n", ""))
    cases = [
        (["tune", str(no_split), "--out", str(tmp_path / "a")], "tune needs a [split]"),
        (["tune", str(config_path), "--out", str(reference)], "already holds a search (use --resume"),
        (["tune", str(no_split).replace("nosplit", "missing"), "--out", str(tmp_path / "b")], "no such file"),
        (["confirm", str(tmp_path)], "is not a tuning folder"),
        (["tune", str(config_path), "--resume"], "--resume needs --out"),
    ]
    other = tmp_path / "other.toml"
    other.write_text(CONFIG.replace('seed = 0\nkernels', 'seed = 1\nkernels'))
    one_image = tmp_path / "one.toml"
    one_image.write_text(CONFIG.replace('"camera/face", "microaneurysms/lesion", ', ""))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "search.json").write_text("{")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "search.json").write_text(json.dumps({"name": "x"}))
    no_journal = tmp_path / "no-journal"
    no_journal.mkdir()
    for name in ("search.json", "config.toml"):
        (no_journal / name).write_text((reference / name).read_text())
    (tmp_path / "a-file").write_text("")
    bad_start = tmp_path / "bad-start.toml"
    bad_start.write_text(CONFIG.replace("startup = 2", 'startup = 2\nstart = "defaults"'))
    far_bank = tmp_path / "far-bank.toml"
    far_bank.write_text(CONFIG.replace("startup = 2", 'startup = 2\nstart = "config"').replace(
        'family = "bank"', 'family = "bank"\nrotations = [270]'))
    cases += [
        (["tune", str(bad_start), "--out", str(tmp_path / "e")], "field 'search.start' = 'defaults' is not allowed"),
        (["tune", str(far_bank), "--out", str(tmp_path / "f")], "bank.rotation = 270.0 is outside the searched range"),
        (["tune", str(other), "--out", str(reference), "--resume"], "was made from a different config"),
        (["tune", str(config_path), "--out", str(reference), "--resume", "--trials", "5"], "started with 3 trials per family"),
        (["tune", str(config_path), "--out", str(tmp_path / "c"), "--trials", "0"], "--trials 0 is out of range"),
        (["tune", str(one_image), "--out", str(tmp_path / "d")], "needs objects in at least 2 separate images"),
        (["confirm", str(broken)], "search.json: unreadable"),
        (["confirm", str(partial)], "field 'config_hash' is missing"),
        (["report", str(partial)], "field 'config_hash' is missing"),
        (["confirm", str(no_journal)], "study.journal: missing"),
        (["confirm", str(reference), "--out", str(tmp_path / "a-file")], "is an existing file"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code != 0, args
        assert message in result.output and "Traceback" not in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert not any((tmp_path / name).exists() for name in ("a", "b", "c", "d", "e", "f"))
    assert not (partial / "report").exists() and not (no_journal / "study.journal").exists()
    # an unfinished search (here: interrupted in its second round) cannot be confirmed
    from fractal_match.search import study as search

    unfinished, original = tmp_path / "unfinished", search._evaluate
    rounds = []

    def interrupted(*args):
        rounds.append(1)
        if len(rounds) == 2:
            raise KeyboardInterrupt
        return original(*args)

    search._evaluate = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            tune(load_config(config_path), unfinished, executor="serial")
    finally:
        search._evaluate = original
    result = runner.invoke(app, ["confirm", str(unfinished)])
    assert result.exit_code == 1 and "the search is not finished" in result.output
    assert not (tmp_path / "unfinished-confirm").exists()


def test_a_search_started_at_the_config_tries_each_variant_as_written_first(tmp_path, config_path):
    from fractal_match import FAMILIES

    path = tmp_path / "start.toml"
    path.write_text(CONFIG.replace("startup = 2", 'startup = 2\nstart = "config"'))
    config = load_config(path)
    tune(config, tmp_path / "tune", executor="serial")
    first = {row["family"]: json.loads(row["params"]) for row in study_trials(tmp_path / "tune") if row["trial"] == 0}
    found = {f.name: f for f in families(config)}
    for name in ("rot-sym", "orbit-trap"):
        variant = variant_at(found[name], first[name])
        assert variant.params == FAMILIES[variant.family].resolve(dict(found[name].variant.params))
        assert (variant.color, variant.template_masks) == (False, False)
    assert first["orbit-trap"]["iterations"] == 40  # the config's value, not the family default
    bank = variant_at(found["bank"], first["bank"])
    assert (bank.rotations, bank.scales) == (found["bank"].variant.rotations[:1], found["bank"].variant.scales[:1])
    assert found["none"].start is None  # a grid walks its points in its seeded order as before
    # the default start is left out of the digest, so searches made before it keep theirs
    random_start = tmp_path / "random.toml"
    random_start.write_text(CONFIG.replace("startup = 2", 'startup = 2\nstart = "random"'))
    assert load_config(random_start).digest == load_config(config_path).digest != config.digest


def test_tuning_report_shows_every_family(tmp_path, reference):
    result = runner.invoke(app, ["report", str(reference), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report" / "index.html").read_text()
    for name in ("none", "rot-sym", "orbit-trap", "bank"):
        assert f"<td>{name}</td>" in page
    from fractal_match.report.search import _space_html
    from fractal_match.search.space import search_space

    space = search_space("scrambled")
    held = _space_html({"dimensions": [vars(d) for d in space.dimensions], "fixed": dict(space.fixed),
                        "reasons": dict(space.reasons)})
    assert "<code>seed</code> = 0: a random seed: searching it searches noise" in held
    assert "<code>through</code> = orbit-trap: names the family this control mirrors" in held
    with open(tmp_path / "report" / "trials.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 12
    for figure in ("history.png", "importances.png"):
        assert (tmp_path / "report" / figure).stat().st_size > 10_000


def test_the_best_fractal_and_control_are_chosen_by_tune_value_alone(config_path):
    from fractal_match.search.confirm import declare
    from fractal_match.experiments.config import Variant

    base = load_config(config_path)
    config = replace(base, variants=base.variants + (Variant("ifs", "ifs"), Variant("blur", "blur")))
    found = families(config)
    values = {"none": 0.5, "rot-sym": 0.2, "orbit-trap": 0.1, "bank": 0.3, "ifs": 0.4, "blur": 0.25}
    winners = {f.name: {"all": (1, values[f.name], {d.name: d.choices[0] if d.choices else d.low
                                                      for d in f.space.dimensions})} for f in found}
    variants, declared, chosen = declare(config, found, winners)
    assert chosen == {"all": {"best fractal": "ifs", "best control": "blur", "plain": "none", "bank": "bank"}}
    assert {(d["first"], d["second"]) for d in declared} == {("ifs", "none"), ("ifs", "blur"), ("ifs", "bank")}
    assert len(declared) == 3 * len(config.methods)
    assert [v.name for v in variants][-1] == "oracle"


def test_per_method_objective_declares_each_methods_own_winners(tmp_path, config_path):
    path = tmp_path / "per-method.toml"
    path.write_text(CONFIG.replace("trials = 3\nstartup = 2", 'trials = 2\nstartup = 1\nobjective = "per-method"'))
    tune(load_config(path), tmp_path / "tune", executor="serial")
    config, _, _, winners = read_search(tmp_path / "tune")
    assert all(set(w) == set(config.methods) for w in winners.values())
    summary = confirm(tmp_path / "tune", tmp_path / "confirm", executor="serial")
    for row in summary["declared"]:
        family = summary["chosen"][row["method"]]["best fractal"]
        number = winners[family][row["method"]][0]
        distinct = {n for n, _, _ in winners[family].values()}
        assert row["first"] == (family if len(distinct) == 1 else f"{family}-t{number:04d}")
    assert {row["method"] for row in summary["declared"]} == set(config.methods)


RESULTS = Path(__file__).resolve().parent.parent / "results"


@pytest.mark.parametrize("name, trials", [("search", 224), ("search-dims", 280)])
def test_the_committed_search_and_confirmation_agree_with_their_files(name, trials):
    """results/NAME: the shipped config ran to its full budget; every trial folder reads back as
    the config it recorded; each winner's tune value is the hit rate of its committed rows; the
    confirmation declared the winners the study holds and ran held-out objects only."""
    COMMITTED = RESULTS / name
    config, manifest, found, winners = read_search(COMMITTED / "tune")
    assert config.digest == load_config(name).digest
    folders = sorted((COMMITTED / "tune" / "trials").glob("*/*"))
    assert len(folders) == sum(f.budget for f in found) == trials
    for folder in folders:
        recorded = json.loads((folder / "manifest.json").read_text())
        assert recorded["finished"] and load_config(folder / "config.toml").digest == recorded["config_hash"]
    for family, chosen in winners.items():
        (number, value, _), = chosen.values()
        with lzma.open(COMMITTED / "tune" / "trials" / family / f"{number:04d}" / "results.csv.xz", "rt",
                       newline="") as handle:
            hits = [float(row["hit"]) > 0 for row in csv.DictReader(handle)]
        assert hits and sum(hits) / len(hits) == pytest.approx(value, abs=1e-12)
    declaration = json.loads((COMMITTED / "confirm" / "declared.json").read_text())
    assert declaration["winners"] == {f: {label: {"trial": n, "tune_value": v} for label, (n, v, _) in w.items()}
                                      for f, w in winners.items()}
    run_manifest = json.loads((COMMITTED / "confirm" / "manifest.json").read_text())
    assert load_config(COMMITTED / "confirm" / "config.toml").digest == run_manifest["config_hash"]
    with lzma.open(COMMITTED / "confirm" / "results.csv.xz", "rt", newline="") as handle:
        objects = {row["object"] for row in csv.DictReader(handle)}
    held_out = {ref.id for ref in split_targets(config)[1]}
    assert objects == held_out and not objects & {ref.id for ref in split_targets(config)[0]}


def test_the_second_search_started_every_family_at_its_defaults_and_ended_no_lower():
    """results/search-dims (issue 26): trial 0 of every TPE family is its variant as the config
    writes it, and no family's best tune value is below that start."""
    folder = RESULTS / "search-dims" / "tune"
    config, _, found, winners = read_search(folder)
    _, studies = _studies(folder)
    for family in found:
        trials = studies[family.name].get_trials(deepcopy=False)
        assert len(trials) == family.budget and all(t.state.name == "COMPLETE" for t in trials)
        if family.sampler != "tpe":
            continue
        start = next(t for t in trials if t.number == 0)
        assert start.params == family.start
        (number, value, _), = winners[family.name].values()
        assert value >= start.value and value == max(t.value for t in trials)


def test_the_importances_figure_is_the_same_under_any_string_hashing(tmp_path):
    """Tied importances (the committed search's `scrambled`: color and template_masks, 0.5 each)
    come out in one order whatever PYTHONHASHSEED a process has, so importances.png regenerates
    byte for byte."""
    import os
    import subprocess
    import sys

    script = ("import json, sys\nfrom pathlib import Path\nfrom fractal_match.report.search import _studies, importances\n"
              "manifest, studies = _studies(Path(sys.argv[1]))\n"
              "print(json.dumps({k: list(importances(s).items()) for k, s in studies.items()}))\n")
    folder = Path(__file__).resolve().parent.parent / "results" / "search" / "tune"
    outputs = set()
    for seed in ("1", "2", "3", "4"):
        done = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr[-1000:]
        outputs.add(done.stdout)
    assert len(outputs) == 1
    found = json.loads(outputs.pop())
    assert [name for name, _ in found["scrambled"]] == ["color", "template_masks"]  # the tie, by name
