"""What the single-image commands (`match`, `fractalize`, galleries) do, as library functions
(the CLI only parses and prints). Nothing here runs batches: see :mod:`fractal_match.cli.demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .._checks import check_mask, check_output_dir, claim_output_dir, remove_stale
from .._errors import ParameterError, did_you_mean
from ..engine.metrics import rule_text
from ..engine._methods import METHODS, check_methods
from .._version import __version__
from ..engine.detect import Detection, detect, matches_csv
from ..templates import plugins_used
from ..templates.fractal import FAMILIES, Template, fractalize, parse_assignments
from ..atomic import write_atomic
from ..images import encode_image, load_image, on_target_scale
from ..templates.kernels import Kernel, load_kernel, resize_kernel
from ..progress import Progress, ensure

def family_settings(families: Sequence[str], assignments: Sequence[str]) -> dict[str, dict]:
    """Distribute ``--set`` items over the chosen families.

    ``key=value`` goes to every chosen family that has that parameter (an error if none has);
    ``family.key=value`` goes to that family only.
    """
    for name in families:
        if name not in FAMILIES:
            raise FAMILIES.unknown(name)
    if len(set(families)) != len(families):
        raise ParameterError(f"--family lists a family twice: {', '.join(families)}")
    settings = {name: {} for name in families}
    for key, value in parse_assignments(assignments).items():
        family, dot, param = key.rpartition(".")
        if dot:
            if family not in settings:
                raise ParameterError(f"--set {key}: family {family!r} is not among --family ({', '.join(families) or 'none'})")
            settings[family][param] = value
            continue
        owners = [name for name in families if any(p.name == key for p in FAMILIES[name].params)]
        if not owners:
            known = sorted({p.name for name in families for p in FAMILIES[name].params})
            raise ParameterError(f"--set {key}: no chosen family has a parameter {key!r} ({did_you_mean(key, known)}"
                                 f"families: {', '.join(families) or 'none'}; their parameters: {', '.join(known) or 'none'})")
        for name in owners:
            settings[name][key] = value
    return settings


#: The hit rules `match --hit` takes, as the engine's Truth names them, and how each is described.
HIT_RULES = {rule: f"hit: {rule_text(rule)}" for rule in ("center", "iou")}


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``x,y,w,h`` (commas and/or spaces) -> four numbers, w and h positive; else one
    ParameterError naming --box and what is allowed. Whether it lies inside the target is
    :func:`check_box`'s test, once the target is read."""
    parts = text.replace(",", " ").split()
    if len(parts) != 4:
        raise ParameterError(f"--box {text!r}: needs four numbers x,y,w,h (allowed: e.g. --box 179,76,88,102)")
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise ParameterError(f"--box {text!r}: {part!r} is not a number (allowed: four numbers x,y,w,h)") from None
        if not np.isfinite(value):
            raise ParameterError(f"--box {text!r}: {part!r} is not a finite number (allowed: four numbers x,y,w,h)")
        values.append(int(value) if value.is_integer() else value)
    x, y, w, h = values
    if w <= 0 or h <= 0:
        raise ParameterError(f"--box {text!r}: width {w:g} and height {h:g} must be positive (allowed: w > 0, h > 0)")
    return x, y, w, h


def check_box(box, shape, name) -> None:
    """`box` lies inside an image of `shape` (named `name`), or one ParameterError saying its size."""
    x, y, w, h = box
    height, width = shape[:2]
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise ParameterError(f"--box {x:g},{y:g},{w:g},{h:g} is not inside {name} ({width} x {height} px; allowed: "
                             f"x >= 0, y >= 0, x + w <= {width}, y + h <= {height})")


def parse_size(size: str | int | None, box=None) -> int | None:
    """`match --size`: a longer side in pixels, "object" (the `box`'s longer side: what a run's
    default [matching] kernel_size = "object" gives at scale 1) or "file" (as the file is: None)."""
    if size is None or isinstance(size, int):
        return size
    text = str(size).strip().lower()
    if text == "file":
        return None
    if text == "object":
        if box is None:
            raise ParameterError("--size object needs --box X,Y,W,H (the object whose size the kernel takes)")
        return max(1, int(round(max(box[2], box[3]))))
    if text.isdigit():  # its range is checked where the kernel is resized
        return int(text)
    raise ParameterError(f"--size {size!r} is not allowed (allowed: a number of pixels, object or file)")


def make_templates(kernel: Kernel, families: Sequence[str], assignments: Sequence[str] = (),
                   size: int | None = None, progress: Progress | None = None) -> list[Template]:
    """The kernel itself (family "none") followed by one template per chosen family."""
    settings = family_settings(list(families), list(assignments))
    templates = [fractalize(kernel, "none", size=size)]
    with ensure(progress).step("making templates", total=len(families)) as task:
        for name in families:
            templates.append(fractalize(kernel, name, size=size, **settings[name]))
            task.advance()
    return templates


def run_match(target_path, kernel_name: str, methods: Sequence[str] | None = None, color: bool = False,
              mask_path=None, size: int | None = None, top_k: int = 1, out="results/match",
              families: Sequence[str] = (), assignments: Sequence[str] = (),
              template_masks: bool = False, progress: Progress | None = None, svg: bool = False,
              box=None, hit: str = "center", overwrite: bool = False) -> tuple[Detection, list[Path]]:
    """Load the target and kernel, make the chosen variants, match each with every method, and
    write the detection grid and matches table to `out`.

    The kernel's own mask (its alpha channel or `mask_path`) is always used for the kernel;
    generated templates are matched as plain pictures, like the original experiment, unless
    `template_masks` is set. With `box`, the object's true (x, y, w, h) in the target (or the
    text "x,y,w,h"), every detection is judged by the `hit` rule ("center" or "iou", as runs
    judge theirs): hit, centre error and IoU go into the table and the grid draws the box.
    """
    mode = "color" if color else "gray"
    methods = check_methods(methods) if methods else METHODS  # canonical names, before any file is read
    hit = hit.lower() if isinstance(hit, str) else hit  # as methods: IOU, iou and Iou are one rule
    if hit not in HIT_RULES:
        raise ParameterError(f"--hit {hit!r} is not a hit rule (allowed: {', '.join(HIT_RULES)})")
    box = parse_box(box) if isinstance(box, str) else None if box is None else tuple(box)
    ours = claim_output_dir(Path(out), "match", MATCH_FILES.__contains__, overwrite=overwrite)
    target = load_image(target_path, mode)
    if box is not None:
        check_box(box, target.shape, f"{target_path}")
    if color and load_image(target_path, "unchanged").ndim == 2:
        raise ParameterError(f"{target_path}: is a gray image, so --color has nothing to match in colour "
                             "(drop --color, or give a colour target)")
    kernel = load_kernel(kernel_name, mode)
    if size is not None and not families:
        kernel = resize_kernel(kernel, size)
    mask = kernel.mask
    if mask_path is not None:
        mask = check_mask(load_image(mask_path, "gray"), kernel.image.shape, name=str(mask_path))
    label = kernel_name if ":" in kernel_name else Path(kernel_name).name
    entries = [(label, on_target_scale(kernel.image, target), mask)]
    if families:
        if mask_path is not None:
            raise ParameterError("--mask applies to the kernel alone; use it without --family")
        templates = make_templates(kernel, families, assignments, size, progress)
        entries = [(label, on_target_scale(templates[0].image, target), None)]
        for template in templates[1:]:
            entries.append((template.family, on_target_scale(template.image, target),
                            template.mask if template_masks else None))
    try:
        detection = detect(target, entries, methods, top_k, progress)
    except ParameterError as exc:
        raise type(exc)(f"{kernel_name} in {target_path}: {exc}") from None
    if box is not None:
        from ..engine.metrics import Truth
        from ..geometry import Box

        x, y, w, h = box
        kh, kw = entries[0][1].shape[:2]  # every template stands for the kernel's box, as in runs
        detection.judge(Truth(Box(x, y, w, h), (x + w / 2.0, y + h / 2.0), (w, h), hit, footprint=(kw, kh)))
    metadata = {"command": "match", "version": __version__, "target": str(target_path), "kernel": kernel_name,
                "mode": mode, "methods": list(methods), "mask": None if mask_path is None else str(mask_path), "size": size, "top_k": top_k,
                "families": list(families), "set": list(assignments), "template_masks": template_masks,
                "plugins": plugins_used(families, [kernel_name])}
    title = f"{kernel_name} in {Path(target_path).name}"
    if box is not None:
        metadata.update(truth=list(box), hit_rule=HIT_RULES[hit])
        title += f" (dashed: the true box; {hit} rule, green: hit, red: miss)"
    else:
        title += " (magenta: the best match, not judged; --box judges it)"
    written = write_detection(detection, out, title, metadata, truth=box, progress=progress, svg=svg, clean=ours)
    return detection, written


#: What `match` (and the demo's grids) write into their folder.
MATCH_FILES = ("detection_grid.png", "detection_grid.svg", "matches.csv")


def write_detection(detection: Detection, out, title: str, metadata: dict, truth=None,
                    progress: Progress | None = None, svg: bool = False, clean: bool = True) -> list[Path]:
    """Write detection_grid.png (with `svg` also .svg) and matches.csv into `out` (atomically,
    file by file); with `clean` (the folder is the command's own), remove what an earlier
    output wrote and this one does not."""
    from ..report.figures import detection_grid, save_figure

    out = check_output_dir(Path(out))
    table = matches_csv(detection)  # computed before anything is written
    with ensure(progress).step("drawing the detection grid", total=1 + svg) as task:
        hits = None
        if detection.truth is not None:
            hits = {(v.name, m): detection.judgement(v, v.best[m])[0] for v in detection.variants for m in detection.methods}
        figure = detection_grid(detection.target, detection.variants, detection.methods, truth=truth, title=title,
                                hits=hits)
        written = save_figure(figure, out / "detection_grid", metadata, on_saved=task.advance, svg=svg)
    written.append(write_atomic(out / "matches.csv", table))
    if clean:
        remove_stale(out, MATCH_FILES.__contains__, written)  # e.g. the SVG of an earlier --svg run
    return written


def write_template(template: Template, out, kernel_name: str) -> Path:
    """Write a template as PNG: the picture, its mask as the alpha channel, how it was made as text."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ParameterError(f"{out}: templates are written as PNG (allowed: a path ending in .png)")
    picture = template.to_uint8()
    if template.mask is not None:
        alpha = np.clip(np.rint(template.mask * 255.0), 0, 255).astype(np.uint8)
        rgb = picture if picture.ndim == 3 else np.dstack([picture] * 3)  # PNG encoders want RGBA, not gray+alpha
        picture = np.dstack([rgb, alpha])
    metadata = {"kernel": kernel_name, "version": __version__, **template.metadata(),
                "plugins": plugins_used([template.family], [kernel_name])}
    return write_atomic(out, encode_image(picture, ".png", metadata))


def run_fractalize(kernel_name: str, family: str, assignments: Sequence[str] = (), size: int | None = None,
                   color: bool = False, out="template.png") -> tuple[Template, Path]:
    """Make one template and write it (see :func:`write_template`)."""
    kernel = load_kernel(kernel_name, "color" if color else "gray")
    settings = family_settings([family], list(assignments))[family]
    template = fractalize(kernel, family, size=size, **settings)
    return template, write_template(template, out, kernel_name)


def run_gallery(kernel_name: str, size: int | None = None, color: bool = False, out="gallery.png",
                svg: bool = False) -> list[Path]:
    """A contact sheet of every family at its defaults for one kernel (PNG; with `svg` also SVG)."""
    from ..report.figures import gallery, save_figure

    kernel = load_kernel(kernel_name, "color" if color else "gray")
    templates = [fractalize(kernel, name, size=size or 128) for name in FAMILIES if name != "none"]
    figure = gallery(kernel.image, templates, title=f"{kernel_name}: every family at its defaults")
    return save_figure(figure, out, {"kernel": kernel_name, "version": __version__, "families": list(FAMILIES),
                                     "plugins": plugins_used(FAMILIES, [kernel_name])}, svg=svg)


def run_kernel_sheet(out, names: Sequence[str], svg: bool = False) -> list[Path]:
    """A contact sheet of named kernels (PNG; with `svg` also SVG)."""
    from types import SimpleNamespace

    from ..report.figures import gallery, save_figure

    kernels = [load_kernel(name) for name in names]
    shown = [SimpleNamespace(image=k.image, mask=None, family=k.name) for k in kernels[1:]]
    return save_figure(gallery(kernels[0].image, shown, columns=7), out,
                       {"kernels": list(names), "plugins": plugins_used((), names)}, svg=svg)

