"""What the `match` and `demo` commands do, as library functions (the CLI only parses and prints)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from . import __version__
from ._checks import check_mask
from ._errors import ParameterError
from .datasets import DATA_DIR, find_annotation
from .detect import Detection, check_output_dir, detect, write_detection
from .experiment import on_target_scale
from .fractal import FAMILIES, Template, fractalize, parse_assignments
from .images import encode_image, load_image, write_atomic
from .kernels import Kernel, load_kernel, resize_kernel
from .matching import METHODS

#: The demo: the learned mean face, scaled to about the size of a face in the astronaut photo,
#: as itself, as an orbit-trap fractal at malinc's defaults, and as two controls that share the
#: fractal's confounds (a shrunk copy on the same background; the same trap geometry without
#: the face's content).
DEMO_TARGET = "astronaut.png"
DEMO_KERNEL = "learned:mean-face"
DEMO_KERNEL_SIZE = 64
DEMO_VARIANTS = (("orbit-trap", {}), ("shrunk-pad", {"like": "orbit-trap"}), ("scrambled", {"through": "orbit-trap"}))


def family_settings(families: Sequence[str], assignments: Sequence[str]) -> dict[str, dict]:
    """Distribute ``--set`` items over the chosen families.

    ``key=value`` goes to every chosen family that has that parameter (an error if none has);
    ``family.key=value`` goes to that family only.
    """
    for name in families:
        if name not in FAMILIES:
            raise ParameterError(f"unknown family {name!r} (allowed: {', '.join(FAMILIES)})")
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
            raise ParameterError(f"--set {key}: no chosen family has a parameter {key!r} (families: {', '.join(families) or 'none'})")
        for name in owners:
            settings[name][key] = value
    return settings


def make_templates(kernel: Kernel, families: Sequence[str], assignments: Sequence[str] = (),
                   size: int | None = None) -> list[Template]:
    """The kernel itself (family "none") followed by one template per chosen family."""
    settings = family_settings(list(families), list(assignments))
    return [fractalize(kernel, "none", size=size)] + [fractalize(kernel, name, size=size, **settings[name]) for name in families]


def run_match(target_path, kernel_name: str, methods: Sequence[str] | None = None, color: bool = False,
              mask_path=None, size: int | None = None, top_k: int = 1, out="results/match",
              families: Sequence[str] = (), assignments: Sequence[str] = (),
              template_masks: bool = False) -> tuple[Detection, list[Path]]:
    """Load the target and kernel, make the chosen variants, match each with every method, and
    write the detection grid and matches table to `out`.

    The kernel's own mask (its alpha channel or `mask_path`) is always used for the kernel;
    generated templates are matched as plain pictures, like the original experiment, unless
    `template_masks` is set.
    """
    mode = "color" if color else "gray"
    methods = tuple(methods) if methods else METHODS
    check_output_dir(Path(out))
    target = load_image(target_path, mode)
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
        templates = make_templates(kernel, families, assignments, size)
        entries = [(label, on_target_scale(templates[0].image, target), None)]
        for template in templates[1:]:
            entries.append((template.family, on_target_scale(template.image, target),
                            template.mask if template_masks else None))
    try:
        detection = detect(target, entries, methods, top_k)
    except ParameterError as exc:
        raise type(exc)(f"{kernel_name} in {target_path}: {exc}") from None
    metadata = {"command": "match", "version": __version__, "target": str(target_path), "kernel": kernel_name,
                "mode": mode, "mask": None if mask_path is None else str(mask_path), "size": size, "top_k": top_k,
                "families": list(families), "set": list(assignments), "template_masks": template_masks}
    written = write_detection(detection, out, f"{kernel_name} in {Path(target_path).name}", metadata)
    return detection, written


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
    metadata = {"kernel": kernel_name, "version": __version__, **template.metadata()}
    return write_atomic(out, encode_image(picture, ".png", metadata))


def run_fractalize(kernel_name: str, family: str, assignments: Sequence[str] = (), size: int | None = None,
                   color: bool = False, out="template.png") -> tuple[Template, Path]:
    """Make one template and write it (see :func:`write_template`)."""
    kernel = load_kernel(kernel_name, "color" if color else "gray")
    settings = family_settings([family], list(assignments))[family]
    template = fractalize(kernel, family, size=size, **settings)
    return template, write_template(template, out, kernel_name)


def run_gallery(kernel_name: str, size: int | None = None, color: bool = False, out="gallery.png") -> list[Path]:
    """A contact sheet of every family at its defaults for one kernel (PNG and SVG)."""
    from .report.figures import gallery, save_figure

    kernel = load_kernel(kernel_name, "color" if color else "gray")
    templates = [fractalize(kernel, name, size=size or 128) for name in FAMILIES if name != "none"]
    figure = gallery(kernel.image, templates, title=f"{kernel_name}: every family at its defaults")
    return save_figure(figure, out, {"kernel": kernel_name, "version": __version__, "families": list(FAMILIES)})


def run_kernel_sheet(out, names: Sequence[str]) -> list[Path]:
    """A contact sheet of named kernels."""
    from types import SimpleNamespace

    from .report.figures import gallery, save_figure

    kernels = [load_kernel(name) for name in names]
    shown = [SimpleNamespace(image=k.image, mask=None, family=k.name) for k in kernels[1:]]
    return save_figure(gallery(kernels[0].image, shown, columns=7), out, {"kernels": list(names)})


def run_demo(out="results/demo", batch: bool = True) -> tuple[Detection, list[Path], dict | None]:
    """The original experiment done properly on bundled data: the mean face, its orbit-trap
    fractal (malinc's defaults) and two controls, all six methods, against the astronaut; then
    (with `batch`) the small batch run data/experiments/quick.toml into `out`/quick (resumed,
    so a finished run is not repeated)."""
    check_output_dir(Path(out))
    target_path = DATA_DIR / "images" / DEMO_TARGET
    target = load_image(target_path, "gray")
    kernel = load_kernel(DEMO_KERNEL)
    truth = find_annotation("astronaut/face").box
    templates = [fractalize(kernel, "none", size=DEMO_KERNEL_SIZE)]
    templates += [fractalize(kernel, name, size=DEMO_KERNEL_SIZE, **params) for name, params in DEMO_VARIANTS]
    entries = [("mean face" if t.family == "none" else t.family, on_target_scale(t.image, target), None) for t in templates]
    detection = detect(target, entries, METHODS, top_k=3)
    metadata = {"command": "demo", "version": __version__, "target": f"data/images/{DEMO_TARGET}",
                "kernel": DEMO_KERNEL, "size": DEMO_KERNEL_SIZE, "truth": list(truth),
                "variants": [{"family": t.family, "params": t.metadata()["params"]} for t in templates]}
    title = "learned mean face vs astronaut: normal, orbit trap (malinc defaults) and two controls (dashed blue: true face)"
    written = write_detection(detection, out, title, metadata, truth=truth)
    written += run_gallery(DEMO_KERNEL, size=128, out=Path(out) / "gallery.png")
    summary = None
    if batch:
        from .config import load_config
        from .experiment import run_experiment

        folder = Path(out) / "quick"
        summary = run_experiment(load_config(DATA_DIR / "experiments" / "quick.toml"), folder,
                                 resume=(folder / "manifest.json").exists())
        from .report import make_report

        written += [folder / "results.csv", make_report(folder) / "index.html"]
    return detection, written, summary
