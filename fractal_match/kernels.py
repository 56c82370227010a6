"""Kernel sources: the feature pictures that templates are made from.

A kernel is named by a string usable from the CLI and configs:

* a path to any image file (its alpha channel, if any, becomes the mask);
* ``crop:<image>/<label>`` — the ground-truth crop of an annotated object (data/annotations.toml);
* ``learned:mean-face`` — the mean of the bundled face crops (data/faces), a learned feature
  picture standing in for a visualised CNN neuron.

Kernel pictures are uint8 on the same 0-255 scale as the photos they are matched against, so
the raw methods (SQDIFF, CCORR, CCOEFF) compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ._checks import MAX_SIDE, check_positive_int
from ._errors import ParameterError
from .datasets import DATA_DIR, find_annotation
from .geometry import crop
from .images import load_image

LEARNED = ("mean-face",)


@dataclass(frozen=True)
class Kernel:
    """A named feature picture (uint8, gray (H, W) or RGB (H, W, 3)) and an optional mask."""

    name: str
    image: np.ndarray
    mask: np.ndarray | None = None


def load_faces(path=None) -> tuple[np.ndarray, np.ndarray]:
    """The bundled 25x25 crops as float64 in [0, 1]: (faces, non_faces), 100 each."""
    path = Path(path) if path is not None else DATA_DIR / "faces" / "lfw_subset.npy"
    crops = np.load(path)
    return crops[:100], crops[100:]


def _learned(which: str) -> np.ndarray:
    if which not in LEARNED:
        raise ParameterError(f"unknown learned kernel {which!r} (allowed: {', '.join(LEARNED)})")
    faces, _ = load_faces()
    return np.clip(np.rint(faces.mean(axis=0) * 255.0), 0, 255).astype(np.uint8)


def load_kernel(name: str, mode: str = "gray") -> Kernel:
    """Resolve a kernel name (see module docs) to a :class:`Kernel` in gray or colour."""
    if name.startswith("crop:"):
        annotation = find_annotation(name[len("crop:"):])
        image = crop(load_image(annotation.image, "color" if mode == "color" else "gray"), annotation.box)
        return Kernel(name, image)
    if name.startswith("learned:"):
        image = _learned(name[len("learned:"):])
        return Kernel(name, cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if mode == "color" else image)
    image, mask = load_image(name, "color" if mode == "color" else "gray", return_mask=True)
    return Kernel(name, image, mask)


def resize_kernel(kernel: Kernel, size: int) -> Kernel:
    """The kernel scaled so that its longer side is `size` pixels (area averaging when shrinking)."""
    size = check_positive_int(size, "kernel size", 1, MAX_SIDE)
    h, w = kernel.image.shape[:2]
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    image = cv2.resize(kernel.image, new, interpolation=interpolation)
    mask = None if kernel.mask is None else cv2.resize(kernel.mask, new, interpolation=cv2.INTER_NEAREST)
    return Kernel(kernel.name, image, mask)
