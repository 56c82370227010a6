"""MkDocs hooks for the fractal-match site, and the generator of the pages' generated parts.

Every page reads complete in both places: as Markdown in the repository and on the site.

* Generated parts are committed, so that the Markdown shows them: the command reference (between
  ``<!-- commands -->`` and ``<!-- /commands -->``, from the typer app) and each API entry
  (``<!-- api: NAME -->`` ... ``<!-- /api -->``, signature and docstring). ``python
  docs/hooks/site.py`` rewrites them; a test fails while they are stale. On the site the commands
  are generated afresh and each API entry becomes mkdocstrings' ``::: NAME``.
* ``<!-- site: include PATH -->`` ... ``<!-- /site -->``: on the site, the file PATH (from the
  repository's top) in full; in the Markdown, what stands between (a link to it).
* A file's caption line (`` `NAME`: ``) above a code block titled ``NAME`` names the file in the
  Markdown; the site shows the title on the block instead, so the caption is dropped there.
* The home page includes the README, its links to ``docs/`` pages made relative to the site.
* Pages link to committed results and data by their paths from the page (``../results/...``),
  as the repository shows them. Those files are added to the site at their repository paths and
  the links rewritten to match; a link to a report's ``index.html`` brings the whole report
  folder and what the report links to beside it (a confirmation's ``../declared.json``).
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SHARED = ("results", "data")  # top-level folders whose files pages link to
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")
HREF = re.compile(r"""(?:href|src)=["']((?:\.\./)+[^"'#:]+)["']""")
COMMANDS = re.compile(r"(<!-- commands -->\n).*?(<!-- /commands -->)", re.S)
API = re.compile(r"<!-- api: (\S+) -->\n.*?<!-- /api -->", re.S)
INCLUDE = re.compile(r"<!-- site: include (\S+) -->\n.*?<!-- /site -->", re.S)
CAPTION = re.compile(r"^`([^`\n]+)`:\n\n(```\w+ title=\"\1\")", re.M)
DOCS_LINE = re.compile(r"<p class='docs' data-docs='([^']+)'>(.*?)</p>", re.S)


# --- generated parts ------------------------------------------------------------------------------

def _command_tree(command, path: tuple[str, ...]):
    """(path, click command) for `command` and every sub-command, in the app's order. (Typer
    brings its own copy of click, so commands and parameters are told apart by what they have.)"""
    yield path, command
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():  # in the order the app declares them
            yield from _command_tree(sub, path + (name,))


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def commands_markdown() -> str:
    """Every command of the `fractal-match` app: usage, help and a table of its options."""
    import typer

    from fractal_match.cli import app

    root = typer.main.get_command(app)
    parts = []
    for path, command in _command_tree(root, ("fractal-match",)):
        if command.hidden:
            continue
        name = " ".join(path)
        # a fixed width: the same Markdown from any terminal (click wraps usage lines to it)
        context = command.context_class(command, info_name=name, terminal_width=200, max_content_width=200)
        usage = command.get_usage(context).removeprefix("Usage: ")
        help_text = inspect.cleandoc(command.help or "")
        parts += [f"## `{name}`" if len(path) > 1 else f"## `{name}` (every command)", "",
                  f"```text\n{usage}\n```", ""]
        if help_text:
            paragraphs = [" ".join(p.replace("\b\n", "").split()) for p in help_text.split("\n\n")]
            parts += ["\n\n".join(paragraphs), ""]
        rows = []
        for param in command.params:
            if param.hidden:
                continue
            if param.param_type_name == "argument":
                rows.append((f"`{(param.metavar or param.name).upper()}`", param.help or "(argument)"))
            elif param.param_type_name == "option":
                names, what = param.get_help_record(context) or (", ".join(param.opts), param.help or "")
                rows.append((f"`{names}`", what))
        if rows:
            parts += ["| option | what |", "|---|---|"]
            parts += [f"| {_cell(a)} | {_cell(b)} |" for a, b in rows]
            parts.append("")
    return "\n".join(parts)


def api_markdown(name: str) -> str:
    """One API entry as plain Markdown: its signature and its docstring as written."""
    import importlib

    module_name, _, attribute = name.rpartition(".")
    obj = getattr(importlib.import_module(module_name), attribute)
    try:
        signature = re.sub(r" at 0x[0-9a-f]+>", ">", str(inspect.signature(obj)))  # no addresses: the same every time
    except (TypeError, ValueError):
        signature = ""
    kind = "class" if inspect.isclass(obj) else "function"
    doc = inspect.getdoc(obj) or ""
    if inspect.isclass(obj) and doc == inspect.getdoc(type(obj)):
        doc = ""
    text = f"### `{name}`\n\n```text\n{kind} {attribute}{signature}\n```\n"
    if doc:
        text += f"\n```text\n{doc}\n```\n"
    return text


def generated(text: str) -> str:
    """`text` (a page's Markdown) with its generated parts made afresh."""
    text = COMMANDS.sub(lambda m: m.group(1) + commands_markdown() + "\n" + m.group(2), text)
    return API.sub(lambda m: f"<!-- api: {m.group(1)} -->\n{api_markdown(m.group(1))}<!-- /api -->", text)


def regenerate(check: bool = False) -> list[Path]:
    """Rewrite the generated parts of every page; with `check`, only list the stale pages."""
    stale = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        fresh = generated(text)
        if fresh != text:
            stale.append(page)
            if not check:
                page.write_text(fresh, encoding="utf-8")
    return stale


# --- the site -------------------------------------------------------------------------------------

def _shared(target: str, page_dir: Path) -> Path | None:
    """The repository file a page's link names, when it lies in results/ or data/."""
    if "://" in target or target.startswith(("/", "mailto:")):
        return None
    path = (page_dir / target).resolve()
    if any(path.is_relative_to(ROOT / top) for top in SHARED) and path.exists():
        return path
    return None


def _site_link(path: Path, page_dir: Path) -> str:
    """`path` (a repository file placed in the site at its repository path) relative to a page
    in `page_dir` (a folder under docs/, which is the site's top)."""
    return Path(os.path.relpath(ROOT / "site" / path.relative_to(ROOT), ROOT / "site" / page_dir.relative_to(DOCS)))\
        .as_posix()


def _included(name: str) -> str:
    """A file a page includes on the site. The README (the home page) keeps its own links, from
    the repository's top, made relative to docs/ (the site's top)."""
    text = (ROOT / name).read_text(encoding="utf-8")
    return text.replace("](docs/", "](") if name == "README.md" else text


def on_page_markdown(markdown: str, page, config, files):
    source = Path(page.file.abs_src_path)
    markdown = COMMANDS.sub(lambda m: commands_markdown(), markdown)
    markdown = API.sub(lambda m: f"::: {m.group(1)}", markdown)
    markdown = INCLUDE.sub(lambda m: _included(m.group(1)), markdown)
    markdown = CAPTION.sub(lambda m: m.group(2), markdown)

    def link(match):
        target = _shared(match.group(1), source.parent)
        if target is None:
            return match.group(0)
        return f"]({_site_link(target, source.parent)}{match.group(2) or ''})"

    return LINK.sub(link, markdown)


def on_files(files, config):
    """Add the repository files that pages link to (and the folders of linked reports)."""
    from mkdocs.structure.files import File

    wanted: set[Path] = set()
    pages = [(page, page.parent) for page in DOCS.rglob("*.md")] + [(ROOT / "README.md", ROOT)]
    for page, folder in pages:
        for target, _ in LINK.findall(page.read_text(encoding="utf-8")):
            path = _shared(target, folder)
            if path is None:
                continue
            if path.name == "index.html" and path.parent.name == "report":
                # its Markdown (declared.md, for quoting) would become a page of the site: left out
                wanted |= {p for p in path.parent.rglob("*") if p.is_file() and p.suffix != ".md"}
                # and what the report links to outside its folder (a confirmation's ../declared.json)
                for href in HREF.findall(path.read_text(encoding="utf-8")):
                    linked = (path.parent / href).resolve()
                    if linked.is_file() and ROOT in linked.parents and linked.suffix != ".md":
                        wanted.add(linked)
            elif path.is_file() and path.suffix != ".md":
                wanted.add(path)
    for path in sorted(wanted):
        uri = path.relative_to(ROOT).as_posix()
        if files.get_file_from_path(uri) is None:
            files.append(File(uri, src_dir=str(ROOT), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files


def on_post_build(config):
    """The site's copies of reports: their line about the documentation becomes a link to it."""
    site = Path(config["site_dir"])
    for page in site.glob("results/**/report/index.html"):
        text = page.read_text(encoding="utf-8")
        home = "../" * (len(page.relative_to(site).parts) - 1)

        def link(match):
            return (f"<p class='docs'><a href='{home}index.html'>fractal-match documentation</a> · what each part "
                    f"of this page means: <a href='{home}{match.group(1)}'>Using the commands: fractal-match "
                    "report</a></p>")

        page.write_text(DOCS_LINE.sub(link, text), encoding="utf-8")


if __name__ == "__main__":  # python docs/hooks/site.py: rewrite the pages' generated parts
    sys.path.insert(0, str(ROOT))
    for written in regenerate():
        print(f"rewrote {written.relative_to(ROOT)}")
