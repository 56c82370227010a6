"""The files the documentation pages show: each code block with a title (```python
title="cut_kernel.py"```) is that file, in full. Tests write them out and run them as written."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
TITLED = re.compile(r'^```(\w+) title="([^"]+)"\n(.*?)^```', re.S | re.M)


def page_files(page: str | Path) -> dict[str, str]:
    """{file name: text} of every titled block of a page (a path, or a name under docs/)."""
    path = Path(page) if Path(page).is_absolute() else DOCS / page
    found = {}
    for _, name, text in TITLED.findall(path.read_text(encoding="utf-8")):
        assert name not in found, f"{path.name}: {name} is shown twice"
        found[name] = text
    return found


def write_page_files(page: str | Path, folder: Path) -> dict[str, Path]:
    """Write a page's files into `folder` (sub-folders as their names say); {name: path}."""
    written = {}
    for name, text in page_files(page).items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written[name] = target
    return written
