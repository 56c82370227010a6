"""Kernel sources: the feature pictures that templates are made from.

A kernel is named by a string usable from the CLI and configs:

* a path to any image file (its alpha channel, if any, becomes the mask);
* ``crop:<image>/<label>`` — the ground-truth crop of an annotated object (data/annotations.toml);
* ``bank:<name>[?key=value&...]`` — a procedural kernel: gabor, log, dog, edge, bar, corner,
  ring, checker (``fractal-match kernels`` lists their parameters);
* ``learned:mean-face``, ``learned:eigenface-<k>`` (k = 1..10), ``learned:classifier`` — learned
  from the bundled face / non-face crops (data/faces): the mean face, the principal components,
  and the weight image of a linear face-vs-non-face classifier. Real visualised learned
  features, the offline stand-in for a CNN neuron's picture;
* ``lfw:face-K``, ``lfw:non-face-K`` (K = 0..99) — one of the bundled 25x25 crops, e.g. as an
  object to paste into synthetic scenes;
* ``cnn:UNIT[?steps=&seed=&size=]`` — the feature visualization of a unit of a trained face
  detector (MTCNN): ``cnn:onet/face``, ``cnn:rnet/face``, ``cnn:onet/conv3:17``... (see
  :mod:`fractal_match.templates.cnn`); shipped pictures need no extra, new ones need ``fractal-match[cnn]``;
* ``PREFIX:SPEC`` of any kernel source another package registers in the entry-point group
  ``fractal_match.kernels`` (a :class:`KernelSource`).

Kernel pictures are uint8 on the same 0-255 scale as the photos they are matched against, so
the raw methods (SQDIFF, CCORR, CCOEFF) compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .._checks import MAX_SIDE, check_positive_int
from .._data import DATA_DIR
from .._errors import ParameterError, unknown_name
from .._registry import Registry
from .cnn.pictures import shipped_units, unit_picture
from ..datasets import find_annotation, load_annotations
from .fractal._params import Param, parse_query
from ..geometry import crop
from ..images import as_unit_float, load_image

LEARNED = ("mean-face", *(f"eigenface-{k}" for k in range(1, 11)), "classifier")


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


def _to_uint8(values: np.ndarray, signed: bool) -> np.ndarray:
    """Render a filter as a picture: signed filters around mid-grey, others stretched to 0-255."""
    values = values.astype(np.float64)
    if signed:
        peak = float(np.abs(values).max()) or 1.0
        scaled = 127.5 + 127.5 * values / peak
    else:
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) * 255.0 if high > low else np.full_like(values, 127.5)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def eigenfaces(count: int = 10) -> np.ndarray:
    """The first principal components of the face crops, (count, 25, 25), each signed so that it
    correlates positively with the mean face."""
    faces, _ = load_faces()
    flat = faces.reshape(len(faces), -1)
    mean = flat.mean(axis=0)
    _, _, components = np.linalg.svd(flat - mean, full_matrices=False)
    components = components[:count]
    components *= np.sign(components @ mean)[:, None]
    return components.reshape(count, *faces.shape[1:])


def classifier_weights() -> tuple[np.ndarray, float, float]:
    """Weight image of a ridge-regularised linear classifier, face (+1) vs non-face (-1).

    Pixels are standardised; the ridge is chosen from 1..1e5 by leave-one-out accuracy (closed
    form for ridge regression). Returns (weights (25, 25), ridge, leave-one-out accuracy).
    """
    faces, non_faces = load_faces()
    samples = np.concatenate([faces, non_faces]).reshape(len(faces) + len(non_faces), -1)
    samples = (samples - samples.mean(axis=0)) / (samples.std(axis=0) + 1e-9)
    labels = np.concatenate([np.ones(len(faces)), -np.ones(len(non_faces))])
    best = None
    for ridge in (1.0, 10.0, 100.0, 1e3, 1e4, 1e5):
        inverse = np.linalg.inv(samples.T @ samples + ridge * np.eye(samples.shape[1]))
        hat = samples @ inverse @ samples.T
        leave_one_out = (hat @ labels - np.diag(hat) * labels) / (1.0 - np.diag(hat))
        accuracy = float(np.mean(np.sign(leave_one_out) == labels))
        if best is None or accuracy > best[2]:
            best = (inverse @ samples.T @ labels, ridge, accuracy)
    weights, ridge, accuracy = best
    return weights.reshape(faces.shape[1:]), ridge, accuracy


def _lfw(spec: str) -> np.ndarray:
    """``face-K`` or ``non-face-K`` (K = 0..99): one bundled 25x25 crop as a uint8 picture."""
    kind, _, index = spec.rpartition("-")
    if kind not in ("face", "non-face") or not index.isdigit() or int(index) > 99:
        raise ParameterError(unknown_name("lfw crop", spec, LFW, "face-0 ... face-99, non-face-0 ... non-face-99"))
    faces, non_faces = load_faces()
    crop_ = (faces if kind == "face" else non_faces)[int(index)]
    return np.clip(np.rint(crop_ * 255.0), 0, 255).astype(np.uint8)


LFW = tuple(f"{kind}-{k}" for kind in ("face", "non-face") for k in range(100))


def _learned(which: str) -> np.ndarray:
    if which not in LEARNED:
        raise ParameterError(unknown_name("learned kernel", which, LEARNED))
    if which == "mean-face":
        faces, _ = load_faces()
        return np.clip(np.rint(faces.mean(axis=0) * 255.0), 0, 255).astype(np.uint8)
    if which == "classifier":
        return _to_uint8(classifier_weights()[0], signed=True)
    return _to_uint8(eigenfaces()[int(which.split("-")[1]) - 1], signed=True)


# --- the procedural bank ---------------------------------------------------------------------------

def _grid(size: int, theta: float = 0.0):
    """Pixel-centre coordinates in [-1, 1], and the same rotated by theta degrees (u along theta)."""
    axis = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    x, y = np.meshgrid(axis, axis)
    t = np.radians(theta)
    return x, y, x * np.cos(t) + y * np.sin(t), -x * np.sin(t) + y * np.cos(t)


def _gabor(size, theta, sigma, wavelength, phase):
    _, _, u, v = _grid(size, theta)
    scale = size / 2.0  # parameters are in pixels
    envelope = np.exp(-((u * scale) ** 2 + (v * scale) ** 2) / (2.0 * sigma**2))
    return _to_uint8(envelope * np.cos(2.0 * np.pi * u * scale / wavelength + np.radians(phase)), signed=True)


def _log(size, sigma):
    x, y, _, _ = _grid(size)
    r2 = (x * x + y * y) * (size / 2.0) ** 2
    return _to_uint8(-(1.0 - r2 / (2 * sigma**2)) * np.exp(-r2 / (2 * sigma**2)), signed=True)


def _dog(size, sigma, ratio):
    x, y, _, _ = _grid(size)
    r2 = (x * x + y * y) * (size / 2.0) ** 2
    narrow = np.exp(-r2 / (2 * sigma**2)) / sigma**2
    wide = np.exp(-r2 / (2 * (ratio * sigma) ** 2)) / (ratio * sigma) ** 2
    return _to_uint8(narrow - wide, signed=True)


def _edge(size, theta, softness):
    _, _, u, _ = _grid(size, theta)
    return _to_uint8(np.tanh(u * size / 2.0 / softness), signed=True)


def _bar(size, theta, width):
    _, _, u, _ = _grid(size, theta)
    return _to_uint8(np.exp(-((u * size / 2.0) ** 2) / (2.0 * (width / 2.0) ** 2)), signed=False)


def _corner(size, theta, softness):
    _, _, u, v = _grid(size, theta)
    k = size / 2.0 / softness
    return _to_uint8((1 + np.tanh(u * k)) * (1 + np.tanh(v * k)) / 4.0, signed=False)


def _ring(size, radius, width):
    x, y, _, _ = _grid(size)
    r = np.hypot(x, y) * size / 2.0
    return _to_uint8(np.exp(-((r - radius * size / 2.0) ** 2) / (2.0 * (width / 2.0) ** 2)), signed=False)


def _checker(size, cells):
    x, y, _, _ = _grid(size)
    return _to_uint8(((np.floor((x + 1) / 2 * cells) + np.floor((y + 1) / 2 * cells)) % 2).astype(float), signed=False)


def _bank_params():
    size = Param("size", int, 64, "side in pixels", 4, 1024)
    theta = Param("theta", float, 0.0, "orientation, degrees", -360.0, 360.0)
    return {
        "gabor": (_gabor, (size, theta, Param("sigma", float, 8.0, "envelope sigma, px", 0.5, 256.0),
                           Param("wavelength", float, 12.0, "carrier wavelength, px", 2.0, 512.0),
                           Param("phase", float, 0.0, "carrier phase, degrees", -360.0, 360.0))),
        "log": (_log, (size, Param("sigma", float, 8.0, "scale, px", 0.5, 256.0))),
        "dog": (_dog, (size, Param("sigma", float, 5.0, "narrow Gaussian sigma, px", 0.5, 256.0),
                       Param("ratio", float, 1.6, "wide / narrow sigma", 1.05, 10.0))),
        "edge": (_edge, (size, theta, Param("softness", float, 2.0, "edge width, px", 0.1, 64.0))),
        "bar": (_bar, (size, theta, Param("width", float, 8.0, "bar width, px", 0.5, 512.0))),
        "corner": (_corner, (size, theta, Param("softness", float, 2.0, "edge width, px", 0.1, 64.0))),
        "ring": (_ring, (size, Param("radius", float, 0.6, "radius / half size", 0.05, 1.0),
                         Param("width", float, 4.0, "ring width, px", 0.5, 256.0))),
        "checker": (_checker, (size, Param("cells", int, 4, "cells per side", 2, 64))),
    }


BANK = ("gabor", "log", "dog", "edge", "bar", "corner", "ring", "checker")


def bank_kernel(spec: str) -> np.ndarray:
    """Render ``name[?key=value&...]`` from the procedural bank as a uint8 picture."""
    name, _, query = spec.partition("?")
    bank = _bank_params()
    if name not in bank:
        raise ParameterError(unknown_name("bank kernel", name, BANK))
    function, params = bank[name]
    given = parse_query(f"bank:{spec}", params)
    return function(**{p.name: given.get(p.name, p.default) for p in params})


def bank_parameters() -> dict[str, tuple]:
    """The parameters of every bank kernel (name -> tuple of Param), for listings."""
    return {name: params for name, (_, params) in _bank_params().items()}


@dataclass(frozen=True)
class KernelSource:
    """A family of named kernels, ``PREFIX:SPEC``.

    `load(spec, mode)` returns the picture for one spec: a gray (H, W) or RGB (H, W, 3) array,
    uint8 on the photos' 0-255 scale (or float in [0, 1]), or a :class:`Kernel`; it raises
    :class:`~fractal_match.ParameterError` for a spec it does not know. `mode` is "gray" or
    "color"; a source may ignore it (the picture is converted). `names()` lists the kernels worth
    showing in ``fractal-match kernels``; `every()`, if given, lists all of them, for patterns
    such as ``lfw:face-*`` in configs (default: `names()`).
    """

    prefix: str
    help: str
    load: Callable[[str, str], object] = field(repr=False)
    names: Callable[[], list[str]] = field(default=lambda: [], repr=False)
    every: Callable[[], list[str]] | None = field(default=None, repr=False)


def _load_crop(spec: str, mode: str) -> np.ndarray:
    annotation = find_annotation(spec)
    return crop(load_image(annotation.image, "color" if mode == "color" else "gray"), annotation.box)


#: Prefix -> :class:`KernelSource`: the built-ins and every source that an installed package
#: declares in the entry-point group ``fractal_match.kernels``.
KERNEL_SOURCES = Registry("kernel source", "fractal_match.kernels", KernelSource, lambda source: source.prefix)
for _source in (
    KernelSource("bank", "a procedural kernel: bank:NAME[?key=value&...]", lambda spec, mode: bank_kernel(spec),
                 lambda: list(BANK)),
    KernelSource("learned", "learned from the bundled face / non-face crops", lambda spec, mode: _learned(spec),
                 lambda: list(LEARNED)),
    KernelSource("cnn", "a visualized unit of the MTCNN face detector: cnn:NET/face or "
                 "cnn:NET/LAYER:CHANNEL[?steps=&seed=&size=]", lambda spec, mode: unit_picture(spec), shipped_units),
    KernelSource("lfw", "one bundled 25x25 crop: lfw:face-K or lfw:non-face-K (K = 0..99)",
                 lambda spec, mode: _lfw(spec), lambda: ["face-0", "non-face-0"], lambda: list(LFW)),
    KernelSource("crop", "the ground-truth crop of an annotated object: crop:IMAGE/LABEL", _load_crop,
                 lambda: [a.name for a in load_annotations()]),
):
    KERNEL_SOURCES.add(_source)
del _source


def kernel_names() -> list[str]:
    """Every named kernel the tool knows (bank kernels at their defaults, learned ones, crops,
    and what plug-in sources list), sources in registry order."""
    return [f"{prefix}:{name}" for prefix, source in KERNEL_SOURCES.items()
            for name in KERNEL_SOURCES.call(prefix, "listing its kernel names", source.names)]


def expand_kernel_names(pattern: str) -> list[str]:
    """``PREFIX:GLOB[?options]`` (``lfw:face-*``) -> every name of that source that matches (``*``
    and ``[...]``), in its order, each with the options; a name without them is returned as it is.
    A source's own listing decides what matches (``cnn:`` lists its shipped units only)."""
    from fnmatch import fnmatchcase

    prefix, sep, spec = pattern.partition(":")
    spec, question, options = spec.partition("?")  # options (?steps=...) are never a pattern
    if not sep or not any(c in spec for c in "*[") or prefix not in KERNEL_SOURCES:
        return [pattern]
    source = KERNEL_SOURCES[prefix]
    names = KERNEL_SOURCES.call(prefix, "listing its kernel names", source.every or source.names)
    found = [f"{prefix}:{name}{question}{options}" for name in names if fnmatchcase(name, spec)]
    if not found:
        raise ParameterError(f"{pattern}: matches no {prefix}: kernel (some: {', '.join(names[:4])})")
    return found


def _in_mode(picture: np.ndarray, mode: str, name: str) -> np.ndarray:
    """A source's picture as uint8 gray or RGB, whatever the source gave."""
    picture = np.asarray(picture)
    if picture.ndim not in (2, 3) or (picture.ndim == 3 and picture.shape[2] not in (1, 3, 4)) or picture.size == 0:
        raise ParameterError(f"kernel {name}: its source gave an array of shape {picture.shape} "
                             "(allowed: (H, W) or (H, W, 3))")
    if picture.dtype != np.uint8:
        picture = np.clip(np.rint(as_unit_float(picture) * 255.0), 0, 255).astype(np.uint8)
    if picture.ndim == 3:
        picture = picture[:, :, :3] if picture.shape[2] != 1 else picture[:, :, 0]
    if mode == "color" and picture.ndim == 2:
        return cv2.cvtColor(picture, cv2.COLOR_GRAY2RGB)
    if mode != "color" and picture.ndim == 3:
        return cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
    return picture


def load_kernel(name: str, mode: str = "gray") -> Kernel:
    """Resolve a kernel name (see module docs) to a :class:`Kernel` in gray or colour."""
    prefix, sep, spec = name.partition(":")
    if sep and prefix in KERNEL_SOURCES:
        found = KERNEL_SOURCES.call(prefix, f"loading kernel {name}", KERNEL_SOURCES[prefix].load, spec, mode)
        if isinstance(found, Kernel):
            return Kernel(name, _in_mode(found.image, mode, name), found.mask)
        return Kernel(name, _in_mode(found, mode, name))
    if sep and len(prefix) > 1 and prefix.replace("-", "").replace("_", "").isalnum() and not Path(name).exists():
        # PREFIX:SPEC that is no file either: most likely a mistyped source
        raise ParameterError(f"kernel {name}: no such file, and {unknown_name('kernel source', prefix, KERNEL_SOURCES)}")
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
