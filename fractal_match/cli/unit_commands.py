"""What `fractal-match visualize` does (one unit, a sheet of units, the recipe's parts), as library
functions: the CLI only parses and prints. All of it needs the ``cnn`` extra except the checks."""

from __future__ import annotations

from pathlib import Path

from .._errors import ParameterError, did_you_mean
from .._version import __version__
from ..templates.cnn.pictures import SEED, SIZE, STEPS, Request, make_picture
from ..templates.cnn.units import FACE_NETS, NETWORKS, parse_unit, require_jax
from ..templates.fractal._params import Param
from ..progress import Progress, ensure


def _option(param: Param, value, flag: str):
    """A --flag's value checked against its parameter (its default when not given)."""
    return param.check(param.default if value is None else value, f"visualize {flag}")


def _png(out) -> Path:
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ParameterError(f"--out {out}: the picture is written as PNG (allowed: a path ending in .png)")
    return out


def run_visualize(unit: str, out, size: int | None = None, steps: int | None = None, seed: int | None = None):
    """Visualize one unit into the PNG `out`, every parameter in its metadata.
    Returns (Visualization, path)."""
    out = _png(out)
    request = Request(parse_unit(unit), _option(STEPS, steps, "--steps"), _option(SEED, seed, "--seed"),
                      0 if size is None else _option(SIZE, size, "--size"))
    return make_picture(request, out), out


def run_unit_sheet(out, net: str = "onet", per_layer: int = 6, steps: int | None = None,
                   progress: Progress | None = None, svg: bool = False) -> list[Path]:
    """The `per_layer` most face-selective channels of each layer of `net` (d' on the bundled faces
    against the non-faces), visualized (shipped, cached or made) and drawn as one sheet."""
    if net not in NETWORKS:
        raise ParameterError(f"--net {net!r} is not a network ({did_you_mean(net, NETWORKS)}allowed: {', '.join(NETWORKS)})")
    steps = _option(STEPS, steps, "--steps")
    out = _png(out)
    require_jax("visualize --sheet")
    from ..templates.cnn.analysis import selectivity
    from ..templates.kernels import load_kernel
    from ..report.figures import save_figure
    from ..report.units import unit_sheet

    chosen = [(layer, rows[:per_layer]) for layer, rows in selectivity(net).items()]
    faces = [f"{net}/face"] if net in FACE_NETS else []
    rows = []
    with ensure(progress).step("visualizing units", total=sum(len(r) for _, r in chosen) + len(faces)) as task:
        for layer, units in chosen:
            shown = []
            for row in units:
                picture = load_kernel(f"cnn:{row.unit.name}?steps={steps}", "color").image
                shown.append((picture, f"{row.unit.channel}: d'={row.d_prime:.2f}"))
                task.advance()
            rows.append((layer, shown))
        for face in faces:
            rows.append(("face logit", [(load_kernel(f"cnn:{face}?steps={steps}", "color").image, face)]))
            task.advance()
    title = (f"{net}: the {per_layer} most face-selective channels of each layer, visualized ({steps} steps, seed 0)\n"
             "selectivity d' of the centre neuron on 100 LFW faces vs 100 non-faces")
    meta = {"net": net, "per_layer": per_layer, "steps": steps, "tool": f"fractal-match {__version__}"}
    return save_figure(unit_sheet(rows, title), out, meta, svg=svg)


def run_recipe_sheet(unit: str, out, steps: int | None = None, seed: int | None = None, svg: bool = False) -> list[Path]:
    """One unit visualized with the whole recipe and with each of its three parts turned off
    (Fourier 1/f parametrisation, colour decorrelation, transformation robustness), each with the
    unit's value on its picture (and, for a face unit, the network's face probability)."""
    from dataclasses import replace

    parsed = parse_unit(unit)
    steps, seed, out = _option(STEPS, steps, "--steps"), _option(SEED, seed, "--seed"), _png(out)
    require_jax("visualize --recipe")
    from ..templates.cnn.nets import face_probability
    from ..templates.cnn.visualize import Settings, visualize
    from ..report.figures import save_figure
    from ..report.units import unit_sheet

    full = Settings()
    cases = [("whole recipe", full), ("pixels, not 1/f Fourier", replace(full, fourier=False)),
             ("colour not decorrelated", replace(full, decorrelate=False)),
             ("no jitter/scale/rotation", replace(full, robust=False))]
    shown = []
    for label, settings in cases:
        result = visualize(parsed, steps=steps, seed=seed, settings=settings)
        caption = f"{label}\nvalue {result.value:.1f}"
        if parsed.layer == "face":
            caption += f", p(face) {face_probability(result.picture[None], parsed.net)[0]:.3f}"
        shown.append((result.picture, caption))
    title = f"{parsed.name}: what each part of the recipe does ({steps} steps, seed {seed})"
    return save_figure(unit_sheet([(parsed.name, shown)], title), out,
                       {"unit": parsed.name, "steps": steps, "seed": seed, "tool": f"fractal-match {__version__}"}, svg=svg)


def visualize_command(unit, out, size, steps, seed, sheet, net, per_layer, recipe, progress=None, svg: bool = False):
    """`fractal-match visualize` with every option: a sheet, a recipe figure or one unit (with an
    error for options that the chosen one would ignore). Returns (Visualization or None, paths)."""
    if sheet is not None:
        if unit is not None or out is not None or size is not None or seed is not None or recipe:
            raise ParameterError("--sheet draws many units: it takes --net, --per-layer and --steps only")
        return None, run_unit_sheet(sheet, net or "onet", per_layer or 6, steps, progress, svg)
    if net is not None or per_layer is not None:
        raise ParameterError("--net and --per-layer choose what the --sheet shows: give --sheet FILE.png")
    if unit is None or out is None:
        raise ParameterError("give UNIT and --out FILE.png (or --sheet FILE.png)")
    if recipe:
        if size is not None:
            raise ParameterError("--recipe draws each picture at the network's input side: it takes no --size")
        return None, run_recipe_sheet(unit, out, steps, seed, svg)
    result, path = run_visualize(unit, out, size, steps, seed)
    return result, [path]
