"""The `fractal-match` command line. Commands parse, call one library function, and report;
user mistakes become one line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperArgument, TyperOption

from .._errors import FractalMatchError, unknown_name
from ._terminal import configure_logging, progress_display
from .._version import __version__

def _option_label(option, ctx) -> str | None:
    """What the help shows after an option: nothing for a flag, else NAME (NAME... if repeatable),
    instead of typer's Python-type labels (<bool>, <list[str]>, <path>)."""
    if option.is_flag:
        return None
    label = option.metavar or option.name.strip("_").upper()
    return f"{label}..." if option.multiple else label


# Arguments already show their NAME; options show NAME or nothing. This process's only typer app
# is this command line (and the benchmark scripts built from it).
TyperOption.display_type_rich = _option_label
TyperArgument.display_type_rich = lambda argument, ctx: None
if hasattr(TyperArgument, "_usage_display_name"):  # usage line: NAME, [NAME] if optional (not {NAME})
    TyperArgument._usage_display_name = lambda argument: (
        argument.display_name_raw if argument.required else f"[{argument.display_name_raw}]")

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Does a fractalized feature kernel find its object better than the kernel itself? "
    "Template matching with all six OpenCV methods, honest controls and ground truth.",
)

METHOD_HELP = ("TM_SQDIFF, TM_SQDIFF_NORMED, TM_CCORR, TM_CCORR_NORMED, TM_CCOEFF, TM_CCOEFF_NORMED "
               "(or short: ccoeff_normed, CCOEFF-NORMED, ...)")


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
    configure_logging(verbose)


def _print_best(detection) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..engine._methods import METHOD_INFO

    seconds = detection.seconds
    judged = detection.truth is not None
    table = Table(title=f"best match per method (matching took {seconds:.2f} s)")
    columns = ("variant", "method", "better", "x", "y", "score", "degenerate") + (("hit", "centre error", "IoU") if judged else ())
    for column in columns:
        table.add_column(column, justify="left" if column in ("variant", "method", "better", "hit") else "right",
                         overflow="fold")
    hits = 0
    for variant in detection.variants:
        for method in detection.methods:
            match = variant.best[method]
            better = "lower" if METHOD_INFO[method].lower_is_better else "higher"
            if match is None:  # a flat map: no position, no detection
                row = [variant.name, method, better, "flat", "-", "-", str(detection.degenerate[variant.name, method])]
            else:
                row = [variant.name, method, better, str(match.x), str(match.y), f"{match.score:.6g}",
                       str(detection.degenerate[variant.name, method])]
            if judged:
                hit, error, overlap = detection.judgement(variant, match)
                hits += hit
                row += ["no (flat)" if match is None else "yes" if hit else "no",
                        "-" if match is None else f"{error:.1f}", "-" if match is None else f"{overlap:.3f}"]
            table.add_row(*row)
    Console(width=max(Console().width, 120 if judged else 100)).print(table)
    flats = sum(len(v.flat) for v in detection.variants)
    if flats:
        typer.echo(f"flat: {flats} map(s) with no spread (every defined position scores the same) give no detection")
    if judged:
        box = detection.truth.box
        typer.echo(f"hits: {hits} of {len(detection.variants) * len(detection.methods)} against the true box "
                   f"{box.x:g},{box.y:g},{box.w:g},{box.h:g} ({detection.truth.criterion} rule)")


def _echo_written(paths) -> None:
    typer.echo(f"wrote {', '.join(str(p) for p in paths)}")


def _run_and_report(work) -> tuple:
    """Run a detection workflow with progress, turn user errors into exit code 1, print its table
    and files. `work(progress)` returns (detection, written, ...)."""
    try:
        with progress_display() as progress:
            detection, written, *rest = work(progress)
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    _print_best(detection)
    _echo_written(written)
    return tuple(rest)


@app.command()
def match(
    target: Annotated[Path, typer.Argument(metavar="TARGET", help="Target image file.")],
    kernel: Annotated[str, typer.Argument(metavar="KERNEL", help="Kernel: an image file, crop:IMAGE/LABEL, bank:NAME[?key=value&...] or learned:NAME (`fractal-match kernels` lists them).")],
    method: Annotated[Optional[list[str]], typer.Option("--method", "-m", help=f"Method (repeatable; default all): {METHOD_HELP}.")] = None,
    color: Annotated[bool, typer.Option("--color", help="Match in colour (RGB) instead of gray.")] = False,
    mask: Annotated[Optional[Path], typer.Option("--mask", help="Template-sized mask image (non-zero = use).")] = None,
    size: Annotated[Optional[str], typer.Option("--size", metavar="SIZE", help="The kernel's size: PX (its longer side in pixels), object (its longer side set to the --box's, as runs size a kernel by default) or file (as the file is; the default).")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", metavar="K", help="Peaks to keep per method (NMS).")] = 1,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Output folder: new, empty, or an earlier match output (its files replaced).")] = Path("results/match"),
    family: Annotated[Optional[list[str]], typer.Option("--family", "-f", help="Also match this generator family's template (repeatable); see `fractal-match families`.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="KEY=VALUE", help="Family parameter key=value (every chosen family with that key) or family.key=value (repeatable).")] = None,
    template_masks: Annotated[bool, typer.Option("--template-masks", help="Match generated templates with their masks (default: as plain pictures, like the original experiment).")] = False,
    svg: Annotated[bool, typer.Option("--svg", help="Also write each figure as SVG (PNG only by default).")] = False,
    box: Annotated[Optional[str], typer.Option("--box", metavar="X,Y,W,H", help="The object's true box in TARGET (pixels; commas or spaces): each detection is judged hit or miss, with centre error and IoU, and the box is drawn dashed.")] = None,
    hit: Annotated[Optional[str], typer.Option("--hit", metavar="RULE", help="How --box judges: center (default; the detection's centre within 0.25 x min(w, h) of the box's) or iou (IoU > 0.5); any case.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into an --out folder that holds other files (they are left as they are).")] = False,
):
    """Match KERNEL (and its --family variants) against TARGET with every method; write the
    detection grid (normal vs each variant side by side) and matches.csv."""
    from .workflows import parse_box, parse_size, run_match

    if hit is not None and box is None:
        raise _fail(f"--hit {hit} needs --box X,Y,W,H (the true box it judges by)")
    try:
        truth = None if box is None else parse_box(box)  # its form checked before any file is read
        size = parse_size(size, truth)
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    _run_and_report(lambda progress: run_match(target, kernel, method or None, color, mask, size, top_k, out,
                                               family or (), set_ or (), template_masks, progress, svg,
                                               truth, hit or "center", overwrite))


@app.command()
def fractalize(
    kernel: Annotated[str, typer.Argument(metavar="KERNEL", help="Kernel: an image file, crop:IMAGE/LABEL, bank:NAME[?key=value&...] or learned:NAME (`fractal-match kernels` lists them).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output PNG (the template; its mask as alpha; parameters as text).")],
    family: Annotated[Optional[str], typer.Option("--family", "-f", help="Generator family (see `fractal-match families`).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="KEY=VALUE", help="Parameter key=value (repeatable).")] = None,
    size: Annotated[Optional[int], typer.Option("--size", metavar="PX", help="Output side in pixels (default: the kernel's longer side; gallery 128).")] = None,
    color: Annotated[bool, typer.Option("--color", help="Keep the kernel in colour.")] = False,
    gallery: Annotated[bool, typer.Option("--gallery", help="Write a contact sheet of every family at its defaults instead.")] = False,
    svg: Annotated[bool, typer.Option("--svg", help="Also write each figure as SVG (PNG only by default).")] = False,
):
    """Make a template of KERNEL with one generator family (or a gallery of all of them)."""
    from .workflows import run_fractalize, run_gallery

    try:
        if gallery:
            written = run_gallery(kernel, size, color, out, svg)
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

    from ..templates.fractal import FAMILIES

    console = Console(width=max(Console().width, 120))
    try:
        specs = list(FAMILIES.values())
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    for spec in specs:
        # the heading on a line of its own (a table's title wraps at the table's width)
        console.print(f"[bold]{spec.name}[/bold] ({spec.kind}): {spec.help}", highlight=False, soft_wrap=True)
        if not spec.params:
            console.print("  no parameters\n")
            continue
        table = Table(show_lines=False)
        for column in ("parameter", "default", "allowed", "help"):
            table.add_column(column, overflow="fold")
        for param in spec.params:
            table.add_row(param.name, str(param.default), param.describe_range(), param.help)
        console.print(table)


@app.command()
def kernels(
    sheet: Annotated[Optional[Path], typer.Option("--sheet", help="Also write a contact sheet of the named kernels (PNG).")] = None,
    svg: Annotated[bool, typer.Option("--svg", help="Also write each figure as SVG (PNG only by default).")] = False,
):
    """List the named kernels: procedural bank, learned from the bundled faces, annotated crops."""
    from ..templates.kernels import BANK, bank_parameters, kernel_names

    try:
        names = kernel_names()
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    for name in names:
        typer.echo(name)
    params = bank_parameters()
    typer.echo("\nbank parameters (bank:NAME?key=value&key=value):")
    for name in BANK:
        typer.echo(f"  {name}: " + ", ".join(f"{p.name}={p.default} [{p.describe_range()}]" for p in params[name]))
    if sheet is not None:
        from .workflows import run_kernel_sheet

        try:
            written = run_kernel_sheet(sheet, names, svg)
        except FractalMatchError as exc:
            raise _fail(str(exc)) from None
        _echo_written(written)


@app.command()
def visualize(
    unit: Annotated[Optional[str], typer.Argument(metavar="UNIT", help="onet/face, rnet/face or NET/LAYER:CHANNEL[@mean] (e.g. onet/conv3:17).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="FILE", help="The picture (PNG, every parameter in its metadata).")] = None,
    size: Annotated[Optional[int], typer.Option("--size", metavar="PX", help="Picture side (default: the network's input side).")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", metavar="N", help="Optimisation steps (default 512).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", metavar="N", help="Random seed (default 0).")] = None,
    sheet: Annotated[Optional[Path], typer.Option("--sheet", metavar="FILE", help="Instead: a sheet of each layer's most face-selective channels.")] = None,
    net: Annotated[Optional[str], typer.Option("--net", help="Network of the --sheet: pnet, rnet or onet (default onet).")] = None,
    per_layer: Annotated[Optional[int], typer.Option("--per-layer", metavar="K", min=1, max=64, help="Channels per layer on the --sheet (default 6).")] = None,
    recipe: Annotated[bool, typer.Option("--recipe", help="Instead: UNIT with the whole recipe and with each part turned off, side by side.")] = False,
    svg: Annotated[bool, typer.Option("--svg", help="Also write each figure as SVG (PNG only by default).")] = False,
):
    """The feature visualization of one unit of the MTCNN face detector (needs the cnn extra):
    the picture that excites it most, by Distill's recipe."""
    from .unit_commands import visualize_command

    try:
        with progress_display() as progress:
            result, written = visualize_command(unit, out, size, steps, seed, sheet, net, per_layer, recipe, progress, svg)
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    if result is not None:
        typer.echo(f"{result.unit}: value {result.value:.3f} after {result.steps} steps (seed {result.seed})")
    _echo_written(written)


@app.command("import-mtcnn")
def import_mtcnn(
    wheel: Annotated[Path, typer.Argument(metavar="WHEEL", help="facenet_pytorch-2.6.0-py3-none-any.whl (pip download facenet-pytorch==2.6.0 --no-deps).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="FILE", help="Where to write the weights (default: the bundled data/cnn/mtcnn.npz).")] = None,
):
    """Read MTCNN's weights from the facenet-pytorch wheel (hash-checked, no torch, no pickle code)."""
    from ..templates.cnn.weights import import_wheel

    try:
        _echo_written([import_wheel(wheel, out)])
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None


@app.command()
def demo(
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="A new or empty output folder (default: results/demo-<UTC time>).")] = None,
    svg: Annotated[bool, typer.Option("--svg", help="Also write each figure as SVG (PNG only by default).")] = False,
):
    """Run the original experiment on bundled data: the visualized ONet face unit, its orbit-trap fractal and
    two controls, all six methods, against the astronaut; the gallery of every family; then the
    small batch run quick.toml and its report. Every demo runs afresh into a new folder."""
    from .demo import default_out, run_demo

    folder = out or default_out()
    typer.echo(f"the original experiment, then the small batch run quick.toml, into {folder}/ ...")
    (summary,) = _run_and_report(lambda progress: run_demo(folder, progress=progress, svg=svg))
    if summary is not None:
        typer.echo(f"batch run {summary['folder']}: {summary['ran']} group(s) run")
        typer.echo(f"report: {summary['folder']}/report/index.html")


# validate, run, tune and confirm: registered here, so that the help lists them before report
from . import batch  # noqa: E402,F401 - registers validate, run, tune and confirm on the app


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run folder made by `fractal-match run`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Report folder: new, empty, or an earlier report (its files replaced; default: RUN_DIR/report).")] = None,
    svg: Annotated[bool, typer.Option("--svg", help="Also write each figure as SVG (PNG only by default).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into an --out folder that holds other files (they are left as they are).")] = False,
):
    """Summaries, paired statistics, figures and an HTML page for a run, from its folder alone."""
    from ..report import make_report
    from ..report.partial import partial_run

    try:
        with progress_display() as progress:
            folder = make_report(run_dir, out, progress=progress, svg=svg, overwrite=overwrite)
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    if (run_dir / "search.json").is_file():
        from ..report.search import partial_search

        line = partial_search(run_dir)
        if line is not None:
            typer.echo(line)
        typer.echo(f"wrote {folder}/index.html (and trials.csv, history and importances figures)")
        return
    partial = partial_run(run_dir)
    if partial is not None:
        typer.echo(partial.describe())
    typer.echo(f"wrote {folder}/index.html (and summary.csv, comparisons.csv, figures)")


BenchOut = Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the results as JSON here.")]
BenchRepeats = Annotated[Optional[int], typer.Option(
    "--repeats", "-r", min=1, max=10000, help="Timed repetitions per contender, medians reported (default: 15; 3 for sweep).")]
BenchQuick = Annotated[bool, typer.Option("--quick", help="A small target and few repeats (a smoke run, not a measurement).")]


def _bench(which: str, out: Optional[Path], repeats: Optional[int], quick: bool) -> dict:
    from .bench import BENCHMARKS, run_benchmark

    if which not in BENCHMARKS and which != "all":
        raise _fail(unknown_name("benchmark", which, (*BENCHMARKS, "all")))
    try:
        with progress_display() as progress:
            report = run_benchmark(which, repeats=repeats, quick=quick, out=out, echo=typer.echo, progress=progress)
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    if out is not None:
        typer.echo(f"wrote {out}")
    return report


@app.command()
def bench(
    which: Annotated[str, typer.Argument(metavar="WHICH", help="Benchmark to run: matching, fractal, sweep, visualize (needs the cnn extra) or all.")] = "all",
    out: BenchOut = None,
    repeats: BenchRepeats = None,
    quick: BenchQuick = False,
):
    """Time the matcher, the generators and whole sweeps against the plain OpenCV loop; print
    tables and optionally write JSON (machine, versions, medians, ratios)."""
    return _bench(which, out, repeats, quick)


def _one_line_summaries() -> None:
    """The Commands panel of `--help` shows a command's docstring with its line breaks; each
    command's summary there is its docstring's first paragraph on one line instead."""
    import inspect

    for info in app.registered_commands:
        doc = info.help or (info.callback.__doc__ if info.callback is not None else None)
        if info.short_help is None and doc:
            info.short_help = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


_one_line_summaries()


def bench_script(which: str) -> None:
    """`python benchmarks/WHICH.py [--out FILE] [--repeats N] [--quick]`: the same as
    `fractal-match bench WHICH`, with the same checks and --help."""
    script = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)

    @script.command(help=f"The {which} benchmark (the same as `fractal-match bench {which}`).")
    def one(out: BenchOut = None, repeats: BenchRepeats = None, quick: BenchQuick = False):
        _bench(which, out, repeats, quick)

    try:
        script(prog_name=f"benchmarks/{which}.py")
    except FractalMatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


def main() -> None:
    """Console-script entry point. Commands turn their own errors into one line; this catches
    what reaches it anyway (a broken plug-in met while a command starts), the same way."""
    from .._memory import keep_freed_memory

    keep_freed_memory()  # this process's own arrays: no page faults for each new one
    try:
        app(prog_name="fractal-match")
    except FractalMatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
