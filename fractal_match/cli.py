"""The `fractal-match` command line. Commands parse, call one library function, and report;
user mistakes become one line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from ._errors import FractalMatchError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Does a fractalized feature kernel find its object better than the kernel itself? "
    "Template matching with all six OpenCV methods, honest controls and ground truth.",
)

METHOD_HELP = "TM_SQDIFF, TM_SQDIFF_NORMED, TM_CCORR, TM_CCORR_NORMED, TM_CCOEFF, TM_CCOEFF_NORMED"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def _version(value: bool):
    if value:
        typer.echo(f"fractal-match {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                     help="Show the version and exit.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")] = False,
):
    """Template-matching experiments: kernels, fractal variants, all six OpenCV methods."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _print_best(detection, seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    from .detect import best_table
    from .matching import METHOD_INFO

    table = Table(title=f"best match per method ({seconds:.2f} s)")
    for column in ("variant", "method", "better", "x", "y", "score", "degenerate"):
        table.add_column(column, justify="right" if column in ("x", "y", "score", "degenerate") else "left",
                         overflow="fold")
    for variant, method, match, degenerate in best_table(detection):
        better = "lower" if METHOD_INFO[method].lower_is_better else "higher"
        table.add_row(variant, method, better, str(match.x), str(match.y), f"{match.score:.6g}", str(degenerate))
    Console(width=max(Console().width, 100)).print(table)


def _echo_written(paths) -> None:
    typer.echo(f"wrote {', '.join(str(p) for p in paths)}")


def _run_and_report(work) -> None:
    """Run a detection workflow, turn user errors into exit code 1, print its table and files."""
    started = time.perf_counter()
    try:
        detection, written = work()
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    _print_best(detection, time.perf_counter() - started)
    _echo_written(written)


@app.command()
def match(
    target: Annotated[Path, typer.Argument(help="Target image file.")],
    kernel: Annotated[str, typer.Argument(help="Kernel: an image file, crop:IMAGE/LABEL or learned:mean-face.")],
    method: Annotated[Optional[list[str]], typer.Option("--method", "-m", help=f"Method (repeatable; default all): {METHOD_HELP}.")] = None,
    color: Annotated[bool, typer.Option("--color", help="Match in colour (RGB) instead of gray.")] = False,
    mask: Annotated[Optional[Path], typer.Option("--mask", help="Template-sized mask image (non-zero = use).")] = None,
    size: Annotated[Optional[int], typer.Option("--size", help="Resize the kernel so its longer side is SIZE px.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Peaks to keep per method (NMS).")] = 1,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("results/match"),
    family: Annotated[Optional[list[str]], typer.Option("--family", "-f", help="Also match this generator family's template (repeatable); see `fractal-match families`.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Family parameter key=value (every chosen family with that key) or family.key=value (repeatable).")] = None,
    template_masks: Annotated[bool, typer.Option("--template-masks", help="Match generated templates with their masks (default: as plain pictures, like the original experiment).")] = False,
):
    """Match KERNEL (and its --family variants) against TARGET with every method; write the
    detection grid (normal vs each variant side by side) and matches.csv."""
    from .workflows import run_match

    _run_and_report(lambda: run_match(target, kernel, method or None, color, mask, size, top_k, out,
                                      family or (), set_ or (), template_masks))


@app.command()
def fractalize(
    kernel: Annotated[str, typer.Argument(help="Kernel: an image file, crop:IMAGE/LABEL, bank:NAME[?k=v&...] or learned:NAME.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output PNG (the template; its mask as alpha; parameters as text).")],
    family: Annotated[Optional[str], typer.Option("--family", "-f", help="Generator family (see `fractal-match families`).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Parameter key=value (repeatable).")] = None,
    size: Annotated[Optional[int], typer.Option("--size", help="Output side in pixels (default: the kernel's longer side; gallery 128).")] = None,
    color: Annotated[bool, typer.Option("--color", help="Keep the kernel in colour.")] = False,
    gallery: Annotated[bool, typer.Option("--gallery", help="Write a contact sheet of every family at its defaults instead.")] = False,
):
    """Make a template of KERNEL with one generator family (or a gallery of all of them)."""
    from .workflows import run_fractalize, run_gallery

    try:
        if gallery:
            written = run_gallery(kernel, size, color, out)
        else:
            if family is None:
                raise _fail("--family is required (or --gallery); see `fractal-match families`")
            template, path = run_fractalize(kernel, family, set_ or (), size, color, out)
            written = [path]
            params = ", ".join(f"{k}={v}" for k, v in template.params.items())
            typer.echo(f"{family}: {params}")
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    _echo_written(written)


@app.command()
def families():
    """List the generator families with their parameters, defaults, ranges and help."""
    from rich.console import Console
    from rich.table import Table

    from .fractal import FAMILIES

    console = Console(width=max(Console().width, 120))
    for spec in FAMILIES.values():
        table = Table(title=f"{spec.name} ({spec.kind}): {spec.help}", title_justify="left", show_lines=False)
        for column in ("parameter", "default", "allowed", "help"):
            table.add_column(column, overflow="fold")
        for param in spec.params:
            table.add_row(param.name, str(param.default), param.describe_range(), param.help)
        if not spec.params:
            table.add_row("(none)", "", "", "")
        console.print(table)


@app.command()
def kernels(
    sheet: Annotated[Optional[Path], typer.Option("--sheet", help="Also write a contact sheet of the named kernels (PNG + SVG).")] = None,
):
    """List the named kernels: procedural bank, learned from the bundled faces, annotated crops."""
    from .kernels import BANK, bank_parameters, kernel_names

    names = kernel_names()
    for name in names:
        typer.echo(name)
    params = bank_parameters()
    typer.echo("\nbank parameters (bank:NAME?key=value&key=value):")
    for name in BANK:
        typer.echo(f"  {name}: " + ", ".join(f"{p.name}={p.default} [{p.describe_range()}]" for p in params[name]))
    if sheet is not None:
        from .workflows import run_kernel_sheet

        try:
            written = run_kernel_sheet(sheet, names)
        except FractalMatchError as exc:
            raise _fail(str(exc)) from None
        _echo_written(written)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("results/demo"),
):
    """Run the original experiment on bundled data: the learned mean face, its orbit-trap fractal and
    two controls, all six methods, against the astronaut; plus the gallery of every family."""
    from .workflows import run_demo

    _run_and_report(lambda: run_demo(out))


@app.command()
def bench(
    which: Annotated[str, typer.Argument(help="Benchmark to run: matching, fractal or all.")] = "all",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the results as JSON here.")] = None,
    repeats: Annotated[int, typer.Option("--repeats", "-r", help="Timed repetitions per contender (medians reported).")] = 15,
    quick: Annotated[bool, typer.Option("--quick", help="A small target and few repeats (a smoke run, not a measurement).")] = False,
):
    """Time the matcher against the plain OpenCV loop; print a table and optionally write JSON."""
    from .bench import BENCHMARKS, run_benchmark

    if which not in BENCHMARKS and which != "all":
        raise _fail(f"unknown benchmark {which!r} (allowed: {', '.join(BENCHMARKS)}, all)")
    try:
        report = run_benchmark(which, repeats=repeats, quick=quick, out=out, echo=typer.echo)
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    if out is not None:
        typer.echo(f"wrote {out}")
    return report


def main() -> None:
    """Console-script entry point."""
    app(prog_name="fractal-match")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
