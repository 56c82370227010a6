"""MkDocs hooks for the fractal-match site.

* The command reference is generated from the typer app itself, so that it cannot drift from
  the code: the marker ``<!-- commands -->`` in a page becomes every command's usage, help and
  options (`commands_markdown`).
* The home page is the README (the marker ``<!-- README -->``), with its links to ``docs/``
  pages made relative to the site.
* Pages link to committed results and data by their paths in the repository (``results/...``,
  ``data/...``). Those files are added to the site as they are; a link to a report's
  ``index.html`` brings the whole report folder, so that its pictures show.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(((?:results|data)/[^)#\s]+)\)")
HREF = re.compile(r"""(?:href|src)=["']((?:\.\./)+[^"'#:]+)["']""")
MARKER = "<!-- commands -->"
README = "<!-- README -->"


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
        context = command.context_class(command, info_name=name)
        usage = command.get_usage(context).removeprefix("Usage: ")
        help_text = (command.help or "").strip()
        parts += [f"## `{name}`" if len(path) > 1 else f"## `{name}` (every command)", "",
                  f"```text\n{usage}\n```", ""]
        if help_text:
            parts += [help_text.replace("\b\n", ""), ""]
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


def on_page_markdown(markdown: str, page, config, files):
    if MARKER in markdown:
        return markdown.replace(MARKER, commands_markdown())
    if README in markdown:  # the home page is the README, its links made relative to docs/
        text = (ROOT / "README.md").read_text(encoding="utf-8").replace("](docs/", "](")
        return markdown.replace(README, text)
    return markdown


def on_files(files, config):
    """Add the repository files that pages link to (and the folders of linked reports)."""
    docs = Path(config["docs_dir"])
    wanted: set[Path] = set()
    for page in [*docs.rglob("*.md"), ROOT / "README.md"]:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            path = ROOT / target
            if path.name == "index.html" and path.parent.name == "report":
                # its Markdown (declared.md, for quoting) would become a page of the site: left out
                wanted |= {p for p in path.parent.rglob("*") if p.is_file() and p.suffix != ".md"}
                # and what the report links to outside its folder (a confirmation's ../declared.json)
                for href in HREF.findall(path.read_text(encoding="utf-8")):
                    linked = (path.parent / href).resolve()
                    if linked.is_file() and ROOT in linked.parents and linked.suffix != ".md":
                        wanted.add(linked)
            elif path.is_file():
                wanted.add(path)
    for path in sorted(wanted):
        uri = path.relative_to(ROOT).as_posix()
        if files.get_file_from_path(uri) is None:
            files.append(File(uri, src_dir=str(ROOT), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files


DOCS_LINE = re.compile(r"<p class='docs' data-docs='([^']+)'>(.*?)</p>", re.S)


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
