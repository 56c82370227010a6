"""The examples in the docstrings (the package guide that help(fractal_match) shows first) run."""

import doctest

import pytest

import fractal_match
import fractal_match.templates.fractal._templates
import fractal_match.engine.matching
import fractal_match.progress


@pytest.mark.parametrize("module", [fractal_match, fractal_match.engine.matching, fractal_match.templates.fractal._templates,
                                    fractal_match.progress], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# --- the docs site: its examples run, its pages build --------------------------------------------

import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_the_tutorial_runs_as_written(tmp_path):
    """Every command of docs/tutorial.md, in order, in a new folder holding the files the page
    shows (each titled block, written out as the page has it). `pip install ./my_family`
    installs into a folder of the test's own instead of this environment."""
    from doc_files import write_page_files

    files = write_page_files("tutorial.md", tmp_path)
    assert {"cut_kernel.py", "match_in_python.py", "my_family/my_family.py", "my_family/pyproject.toml",
            "my_boxes.toml", "eye.toml", "eye-coco.toml", "instances.json", "coins.json", "coins.toml"} == set(files)
    site = tmp_path / "site-packages"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(site),
           "MPLBACKEND": "Agg"}
    commands = [line.split("  #")[0].strip() for block in _blocks(DOCS / "tutorial.md", "bash")
                for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    commands = [" ".join(command.split()) for command in commands]
    assert commands[0] == "python cut_kernel.py" and "fractal-match report eye-run" in commands
    assert "fractal-match validate eye-coco.toml" in commands
    for written_command in commands:
        command = written_command
        if command.startswith("pip install ./my_family"):
            command = (f"{sys.executable} -m pip install --quiet --no-deps --no-build-isolation --no-index "
                       f"--target {site} ./my_family")
        elif command.startswith("python "):
            command = f"{sys.executable} {command[len('python '):]}"
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stderr[-2000:])
        if written_command == "python match_in_python.py":
            lines = done.stdout.splitlines()
            assert len(lines) == 6 and all("kernel Match(x=135, y=82" in line for line in lines if "TM_CCORR " not in line)
    assert "python match_in_python.py" in commands
    for written in ("eye-match/detection_grid.png", "eye-match/matches.csv", "mirror-match/matches.csv",
                    "mirrored-stripes.png",
                    "eye-run/results.csv", "eye-run/report/index.html"):
        assert (tmp_path / written).is_file(), written
    assert "mirror4" in (tmp_path / "mirror-match" / "matches.csv").read_text()
    import csv

    # the coins: every coin counted; the crop's per-photo recall is well above its top-1 hit rate
    found = {(r["method"], r["variant"]): r for r in csv.DictReader((tmp_path / "coins-run" / "report" / "detections.csv").open())}
    crop = found["TM_CCOEFF_NORMED", "none"]
    assert float(crop["recall"]) > float(crop["hit_rate"]) + 0.2 and float(crop["ap"]) > 0
    assert int(found["TM_SQDIFF_NORMED", "orbit-trap"]["flat"]) > 0

    rows = list(csv.DictReader((tmp_path / "eye-run" / "results.csv").open()))
    # your boxes (the eyes of my_boxes.toml) under every pose of [transforms]
    assert {r["object"] for r in rows} == {"photo/left-eye", "photo/right-eye"}
    assert {(r["scale"], r["rotation"]) for r in rows} == {("0.8", "0"), ("0.8", "30"), ("1.25", "0"), ("1.25", "30")}
    assert len(rows) == 2 * 4 * 2 * 4 * 3  # objects x poses x kernels x variants x methods


def test_the_command_reference_lists_every_command():
    import importlib.util

    import typer

    from fractal_match.cli import app

    spec = importlib.util.spec_from_file_location("docs_site_hook", DOCS / "hooks" / "site.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    text = hook.commands_markdown()
    names = list(typer.main.get_command(app).commands)
    assert len(names) >= 12
    for name in names:
        assert f"## `fractal-match {name}`" in text, name
    assert "| `--resume` |" in text and "--workers WORKERS` |" in text


def test_the_site_builds_strictly(tmp_path):
    """mkdocs build --strict: a broken link, anchor or API reference fails (the docs extra)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    commands = (tmp_path / "site" / "reference" / "commands.html").read_text()
    assert "fractal-match tune" in commands and "fractal-match visualize" in commands


def test_every_example_on_the_pages_is_shown_whole_under_its_file_name():
    """Each Python block of a page is a file (as is every other titled block): titled with its name
    on the site, with a caption line naming it in the Markdown, and no include placeholder that a
    reader of the Markdown would see instead of the code. (Untitled TOML blocks are fragments.)"""
    from doc_files import page_files

    for page in [*DOCS.rglob("*.md"), ROOT / "README.md"]:
        text = page.read_text(encoding="utf-8")
        assert "--8<--" not in text, page.name
        assert not re.findall(r"^```python\n", text, flags=re.M), page.name  # Python on a page is a file it runs
        for name in page_files(page):
            assert f"`{name}`:\n\n```" in text, (page.name, name)  # the caption the Markdown shows


@pytest.mark.parametrize("page, example, expected", [
    ("matcher.md", "matcher.py", "Match(x=172, y=52, score=1.0)"),
    ("python.md", "python_api.py", "True 36"),
])
def test_the_python_examples_run(tmp_path, page, example, expected):
    from doc_files import write_page_files

    script = write_page_files(page, tmp_path)[example]
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout


def test_the_generated_parts_of_the_pages_are_current():
    """The command reference and the API entries are committed as Markdown (so the repository
    shows them) and made from the code; `python docs/hooks/site.py` rewrites them."""
    hook = _hook()
    stale = hook.regenerate(check=True)
    assert not stale, f"stale: {[p.name for p in stale]}; run python docs/hooks/site.py"
    commands = (DOCS / "reference" / "commands.md").read_text()
    assert "## `fractal-match tune`" in commands and "| `--resume` |" in commands
    assert (DOCS / "reference" / "api.md").read_text().count("### `fractal_match.") >= 20


def _hook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_site_hook", DOCS / "hooks" / "site.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def test_every_command_line_on_the_usage_page_uses_options_that_exist():
    """The usage page's shell examples include whole studies (45 min), so they are not run here;
    each one's command and options are checked against the command line instead."""
    import shlex

    import typer

    from fractal_match.cli import app

    commands = typer.main.get_command(app).commands
    seen = 0
    for block in _blocks(DOCS / "usage.md", "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split("  #")[0])
            if not words or words[0] != "fractal-match":
                continue
            command = commands[words[1]]
            known = {opt for p in command.params if p.param_type_name == "option" for opt in p.opts + p.secondary_opts}
            used = {w.split("=")[0] for w in words[2:] if w.startswith("-") and not w.lstrip("-").isdigit()}
            assert used <= known | {"--help"}, (line, used - known)
            seen += 1
    assert seen >= 15


def test_the_readme_is_short_keeps_its_two_set_up_commands_and_links_to_files_that_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert _blocks(ROOT / "README.md", "bash") == ["pip install -e . && fractal-match demo\n",
                                                   'pip install -e ".[test]" && pytest\n']
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert len(links) >= 10
    for link in links:
        assert link.startswith("http") or (ROOT / link).exists(), link


def _markdown_files() -> list[Path]:
    return sorted([*DOCS.rglob("*.md"), ROOT / "README.md", ROOT / "data" / "LICENSES.md"])


def test_no_list_starts_straight_after_a_paragraph_line():
    """Python-Markdown (the site) needs a blank line before a list; without one the list is a
    run-on paragraph with literal dashes, which `mkdocs build --strict` does not report."""
    item = re.compile(r"\s*([-*+]|\d+\.)\s+\S")
    found = []
    for page in _markdown_files():
        lines = page.read_text(encoding="utf-8").splitlines()
        fenced = False
        for number, line in enumerate(lines[1:], start=2):
            if line.startswith("```"):
                fenced = not fenced
            before = lines[number - 2]
            if (not fenced and item.match(line) and before.strip() and not item.match(before)
                    and not before.startswith(("  ", "|", "#", "<", "```"))):
                found.append(f"{page.relative_to(ROOT)}:{number}: {line[:60]}")
    assert not found, "\n".join(found)
