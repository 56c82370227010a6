"""What every HTML page of a report shares: the head (a viewport, so a phone shows it at its own
width, and a style in which a wide table scrolls inside its own box and the page never does) and
the line that says where the documentation explains the page."""

from __future__ import annotations

import html

from .._version import __version__

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 0.8em; max-width: 1200px; color: #222;
       line-height: 1.4; overflow-wrap: break-word; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: center; }
th { background: #f3f3f3; }
td.up { background: #e3f4e3; } td.down { background: #f8e1e1; }
figure { margin: 2em 0; } img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; }
.manifest td { text-align: left; font-family: monospace; }
nav.toc { background: #f7f7f7; border: 1px solid #ddd; padding: 0.5em 1em; font-size: 0.9em; }
nav.toc ul { margin: 0.2em 0; }
.partial { background: #fff4cc; border: 2px solid #e0a800; padding: 0.6em 1em; }
div.scroll { overflow-x: auto; }
/* a table wider than the screen scrolls in its own box: shadows at an edge with more beyond it,
   and its first column (the method) stays in view */
table { background:
  linear-gradient(to right, #fff 30%, rgba(255, 255, 255, 0)) left / 2em 100% no-repeat local,
  linear-gradient(to left, #fff 30%, rgba(255, 255, 255, 0)) right / 2em 100% no-repeat local,
  radial-gradient(farthest-side at 0 50%, rgba(0, 0, 0, 0.25), transparent) left / 0.8em 100% no-repeat scroll,
  radial-gradient(farthest-side at 100% 50%, rgba(0, 0, 0, 0.25), transparent) right / 0.8em 100% no-repeat scroll; }
tr > :first-child { position: sticky; left: 0; z-index: 1; background: #f3f3f3; }
.manifest tr > :first-child { position: static; }
p.docs { font-size: 0.9em; color: #444; }
"""

# The docs site's build (docs/hooks/site.py) turns this line of its copies into a link to the page.
DOCS_PAGE = "usage.html#fractal-match-report-run_dir-out-dir"


#: In every page's head: how an output folder is recognised as an earlier report.
GENERATOR = '<meta name="generator" content="fractal-match report">'


def head(title: str, extra_style: str = "") -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{GENERATOR}'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}{extra_style}</style></head><body>\n")


def docs_line() -> str:
    """Where the documentation explains a report: its section of 'Using the commands'."""
    return (f"<p class='docs' data-docs='{DOCS_PAGE}'>Made by fractal-match {__version__}. What each part of this page "
            "means: the documentation, <em>Using the commands</em>, section <em>fractal-match report</em> "
            "(<code>docs/usage.md</code> in the repository).</p>")
