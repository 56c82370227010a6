"""Every page of the docs site, and a report made by `run`, in a real browser at a phone's width
(390 x 844) and a laptop's (1366 x 900): the page never scrolls sideways (a wide table or code
block scrolls inside its own box), no link or image is broken, and no list renders as a literal
dash. Every page's screenshot at both widths is kept (BROWSER_ARTEFACTS below), to be looked at.

The browser is Debian's `chromium`, driven by Playwright's Python API and launched with that
executable (Playwright never downloads a browser of its own here). Playwright rather than Selenium:
one pip package and no chromedriver of a matching version, and it runs a script in the page and
takes full-page screenshots directly. Without a browser the test skips, unless
FRACTAL_MATCH_REQUIRE_BROWSER=1 (`.ci/run` sets it, after installing chromium)."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = Path(os.environ.get("FRACTAL_MATCH_ARTEFACTS", ROOT / "build" / "artefacts")) / "browser"
SIZES = {"phone": (390, 844), "laptop": (1366, 900)}
REQUIRED = os.environ.get("FRACTAL_MATCH_REQUIRE_BROWSER") == "1"

RUN_CONFIG = """
name = "browser"
seed = 0
kernels = ["crop"]
[targets]
annotations = ["chelsea/left-eye", "chelsea/right-eye", "coins/coin-3", "camera/face"]
[transforms]
scales = [0.8, 1.0]
rotations = [0, 30]
[[variants]]
family = "none"
[[variants]]
family = "orbit-trap"
[[variants]]
family = "shrunk-pad"
params = { like = "orbit-trap" }
[[variants]]
family = "bank"
rotations = [0, 30]
scales = [1.0]
"""

# Run in the page: what overflows sideways, what is broken, which paragraphs hold a literal list.
PAGE_CHECK = r"""() => {
  const doc = document.documentElement;
  const width = doc.clientWidth;
  const wide = [];
  if (doc.scrollWidth > width) {
    for (const el of document.body.querySelectorAll('*')) {
      const box = el.getBoundingClientRect();
      if (box.width > 0 && box.right > width + 1) {
        let inside = false;  // inside a box that scrolls on its own: not the page's overflow
        for (let up = el.parentElement; up; up = up.parentElement) {
          const style = getComputedStyle(up);
          if (['auto', 'scroll', 'hidden'].includes(style.overflowX) && up.clientWidth < up.scrollWidth + 1
              && up.getBoundingClientRect().right <= width + 1) { inside = true; break; }
        }
        if (!inside) wide.push(el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : '')
                               + ' ' + Math.round(box.right) + 'px: ' + (el.textContent || '').trim().slice(0, 50));
      }
    }
  }
  const dashes = [];
  for (const el of document.querySelectorAll('p, td, th, dd')) {
    const text = el.textContent;
    if (/(^|\n)\s*([-*+]|\d+\.)\s+\S/.test(text)) dashes.push(text.trim().slice(0, 80));
  }
  const images = [...document.images].filter(img => img.complete && img.naturalWidth === 0)
    .map(img => img.getAttribute('src'));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  const ids = [...document.querySelectorAll('[id]')].map(el => el.id);
  return {scrollWidth: doc.scrollWidth, width, wide: wide.slice(0, 8), dashes, images, links, ids};
}"""


def _chromium() -> str | None:
    return os.environ.get("FRACTAL_MATCH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if executable is None or sync_playwright is None:
        missing = "chromium" if executable is None else "playwright (pip)"
        if REQUIRED:
            pytest.fail(f"FRACTAL_MATCH_REQUIRE_BROWSER=1 but {missing} is missing")
        pytest.skip(f"{missing} is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def run_report(tmp_path_factory) -> Path:
    """A report as a user's `run` and `report` leave it."""
    folder = tmp_path_factory.mktemp("run")
    (folder / "browser.toml").write_text(RUN_CONFIG)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for command in (["run", "browser.toml", "--out", "browser-run"], ["report", "browser-run"]):
        done = subprocess.run([sys.executable, "-m", "fractal_match", *command], cwd=folder, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stderr[-2000:])
    return folder / "browser-run" / "report" / "index.html"


def _local(url: str) -> tuple[Path, str] | None:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path)), parsed.fragment


@functools.lru_cache(maxsize=None)
def _text(page: Path) -> str:
    """A linked page's text, read once however many links point into it."""
    return page.read_text(encoding="utf-8")


def page_problems(browser, page_path: Path, shots: Path, name: str) -> list[str]:
    """Everything wrong with one page at both sizes (empty when it reads right)."""
    problems = []
    for size, (width, height) in SIZES.items():
        page = browser.new_page(viewport={"width": width, "height": height})
        failed = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.goto(page_path.as_uri(), wait_until="load")
        found = page.evaluate(PAGE_CHECK)
        shot = shots / f"{name}.{size}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        page.close()
        where = f"{name} at {width} px"
        if found["scrollWidth"] > found["width"]:
            problems.append(f"{where}: the page scrolls sideways ({found['scrollWidth']} > {found['width']} px): "
                            + "; ".join(found["wide"]))
        problems += [f"{where}: a literal list in a paragraph: {text!r}" for text in found["dashes"]]
        problems += [f"{where}: image {src} does not load" for src in found["images"]]
        problems += [f"{where}: {url} failed to load" for url in failed if url.startswith("file:")]
        if size != "phone":
            continue  # links and anchors do not depend on the width
        for url in found["links"]:
            local = _local(url)
            if local is None:
                continue
            target, fragment = local
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{name}: link to {target} which does not exist")
            elif fragment and target == page_path and fragment not in found["ids"]:
                problems.append(f"{name}: link to #{fragment}, which is not on the page")
            elif fragment and target != page_path and target.suffix == ".html" and not re.search(
                    rf"""id=["']?{re.escape(fragment)}["' >]""", _text(target)):
                problems.append(f"{name}: link to {target.name}#{fragment}, which is not on that page")
    return problems


def _site_pages(site: Path) -> list[Path]:
    """Every page; not 404.html, which a web server fills in and whose links are from the server's root."""
    return sorted(p for p in site.rglob("*.html") if "assets" not in p.parts and p.name != "404.html")


def test_every_site_page_reads_at_phone_and_laptop_width(browser, site):
    shutil.rmtree(ARTEFACTS / "site", ignore_errors=True)  # this run's screenshots only
    pages = _site_pages(site)
    names = {p.relative_to(site).as_posix() for p in pages}
    assert {"index.html", "tutorial.html", "findings.html", "reference/commands.html"} <= names
    assert any(name.startswith("results/") and name.endswith("report/index.html") for name in names)
    for report in (p for p in pages if p.name == "index.html" and p.parent.name == "report"):
        home = "../" * (len(report.relative_to(site).parts) - 1) + "index.html"
        assert f"href='{home}'" in report.read_text(), f"{report}: no link back to the documentation"
    problems = []
    for page in pages:
        name = page.relative_to(site).as_posix().removesuffix(".html").replace("/", "__")
        problems += page_problems(browser, page, ARTEFACTS / "site", name)
    (ARTEFACTS / "site-problems.json").write_text(json.dumps(problems, indent=1))
    assert not problems, "\n".join(problems)


def test_a_run_report_reads_at_phone_and_laptop_width(browser, run_report):
    shutil.rmtree(ARTEFACTS / "run", ignore_errors=True)
    problems = page_problems(browser, run_report, ARTEFACTS / "run", "report")
    assert not problems, "\n".join(problems)


def test_the_checks_catch_what_they_are_for(browser, tmp_path):
    """A page that overflows, a broken link and image, and a list written straight after a
    paragraph line: each is caught (so a passing page is not a check that cannot fail)."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!doctype html><meta name=viewport content='width=device-width'>"
                   "<p>Three points:\n- <em>one</em>\n- two</p>"
                   "<table><tr>" + "<td>wide-cell-content</td>" * 40 + "</tr></table>"
                   "<a href='missing.html'>a link</a><img src='missing.png'>")
    problems = page_problems(browser, bad, tmp_path / "shots", "bad")
    text = "\n".join(problems)
    assert "scrolls sideways" in text and "literal list" in text
    assert "missing.html which does not exist" in text and "image missing.png does not load" in text
    good = tmp_path / "good.html"
    good.write_text("<!doctype html><meta name=viewport content='width=device-width'>"
                    "<p>Three points:</p><ul><li>one</li><li>two</li></ul>"
                    "<div style='overflow-x:auto'><table><tr>" + "<td>wide-cell-content</td>" * 40
                    + "</tr></table></div><a href='bad.html'>a link</a>")
    assert page_problems(browser, good, tmp_path / "shots", "good") == []
