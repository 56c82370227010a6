"""What the `match` and `demo` commands do, as library functions (the CLI only parses and prints)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from . import __version__
from ._checks import check_mask
from ._errors import ParameterError
from .datasets import DATA_DIR, find_annotation
from .detect import Detection, detect, write_detection
from .images import load_image
from .kernels import load_kernel, resize_kernel
from .matching import METHODS

#: The demo: the learned mean face, scaled to about the size of a face in the astronaut photo.
DEMO_TARGET = "astronaut.png"
DEMO_KERNEL = "learned:mean-face"
DEMO_KERNEL_SIZE = 64


def run_match(target_path, kernel_name: str, methods: Sequence[str] | None = None, color: bool = False,
              mask_path=None, size: int | None = None, top_k: int = 1,
              out="results/match") -> tuple[Detection, list[Path]]:
    """Load the target and kernel, match with every method, and write the outputs to `out`."""
    mode = "color" if color else "gray"
    methods = tuple(methods) if methods else METHODS
    target = load_image(target_path, mode)
    kernel = load_kernel(kernel_name, mode)
    if size is not None:
        kernel = resize_kernel(kernel, size)
    mask = kernel.mask
    if mask_path is not None:
        mask = check_mask(load_image(mask_path, "gray"), kernel.image.shape, name=str(mask_path))
    label = kernel_name if ":" in kernel_name else Path(kernel_name).name
    try:
        detection = detect(target, [(label, kernel.image, mask)], methods, top_k)
    except ParameterError as exc:
        raise type(exc)(f"{kernel_name} in {target_path}: {exc}") from None
    metadata = {"command": "match", "version": __version__, "target": str(target_path), "kernel": kernel_name,
                "mode": mode, "mask": None if mask_path is None else str(mask_path), "size": size, "top_k": top_k}
    written = write_detection(detection, out, f"{kernel_name} in {Path(target_path).name}", metadata)
    return detection, written


def run_demo(out="results/demo") -> tuple[Detection, list[Path]]:
    """The original experiment on bundled data: the mean face against the astronaut, six methods."""
    target_path = DATA_DIR / "images" / DEMO_TARGET
    target = load_image(target_path, "gray")
    kernel = resize_kernel(load_kernel(DEMO_KERNEL), DEMO_KERNEL_SIZE)
    truth = find_annotation("astronaut/face").box
    detection = detect(target, [("mean face", kernel.image, None)], METHODS, top_k=3)
    metadata = {"command": "demo", "version": __version__, "target": f"data/images/{DEMO_TARGET}",
                "kernel": DEMO_KERNEL, "size": DEMO_KERNEL_SIZE, "truth": list(truth)}
    title = "learned mean face vs astronaut: best match per method (dashed blue: true face box)"
    written = write_detection(detection, out, title, metadata, truth=truth)
    return detection, written
