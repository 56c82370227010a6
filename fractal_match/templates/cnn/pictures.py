"""Visualized units as kernels: ``cnn:UNIT[?steps=&seed=&size=]``.

A picture is found, in this order, among the pictures that ship with the tool
(``data/cnn/units/``, made by ``fractal-match visualize``), in the disk cache, or made now with
jax (the ``cnn`` extra) and put in the cache. Each picture is named by every parameter that made
it, and its PNG metadata repeats them, so a cached or shipped picture is never mistaken for
another. Nothing here imports jax until a picture must be made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..._data import DATA_DIR
from ..._errors import FractalMatchError
from ..fractal._params import Param, parse_query
from ...images import load_image, read_png_metadata, resize_square, save_image
from .units import Unit, parse_unit, require_jax

#: Bumped whenever the optimisation changes what a picture looks like (invalidates caches).
RECIPE = 1
SHIPPED_DIR = DATA_DIR / "cnn" / "units"
STEPS = Param("steps", int, 512, "optimisation steps", 1, 20000)
SEED = Param("seed", int, 0, "random seed", 0, 2**31 - 1)
SIZE = Param("size", int, 0, "picture side in pixels (default: the network's input side)", 4, 4096)
OPTIONS = (STEPS, SEED, SIZE)


@dataclass(frozen=True)
class Request:
    """One picture: a unit and the parameters that make it."""

    unit: Unit
    steps: int = STEPS.default
    seed: int = SEED.default
    size: int = 0

    @property
    def side(self) -> int:
        return self.size or self.unit.side

    @property
    def native(self) -> "Request":
        """The same picture at the network's input side, where it is optimised: other sizes are
        resized from it, so the cache and the shipped files hold native pictures only."""
        return Request(self.unit, self.steps, self.seed)

    @property
    def filename(self) -> str:
        unit = self.unit.name.replace("/", "-").replace(":", "-").replace("@", "-")
        return f"{unit}_steps{self.steps}_seed{self.seed}_size{self.side}_r{RECIPE}.png"

    @property
    def spec(self) -> str:
        """The shortest name of this picture: the unit alone when every option is its default."""
        if (self.steps, self.seed, self.side) == (STEPS.default, SEED.default, self.unit.side):
            return self.unit.name
        return f"{self.unit.name}?steps={self.steps}&seed={self.seed}&size={self.side}"

    def metadata(self, value: float, out_name: str) -> dict:
        from importlib.metadata import version

        from ..._version import __version__

        return {"unit": self.unit.name, "steps": self.steps, "seed": self.seed, "size": self.side,
                "recipe": RECIPE, "jax": version("jax"), "optax": version("optax"), "value": round(float(value), 4), "tool": f"fractal-match {__version__}",
                "command": f"fractal-match visualize {self.unit.name} --steps {self.steps} --seed {self.seed} "
                           f"--size {self.side} --out {out_name}"}


def parse_request(spec: str) -> Request:
    """``onet/face?steps=256&seed=1&size=64`` -> :class:`Request` (one clear error otherwise)."""
    unit = parse_unit(spec.partition("?")[0])
    return Request(unit, **parse_query(f"cnn:{spec}", OPTIONS, "option"))


def cache_dir() -> Path:
    """Where made pictures are kept: $FRACTAL_MATCH_CACHE, else $XDG_CACHE_HOME/fractal-match,
    else ~/.cache/fractal-match (a sub-folder ``cnn``)."""
    root = os.environ.get("FRACTAL_MATCH_CACHE")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(base) / "fractal-match")
    return Path(root) / "cnn"


def _matches(path: Path, request: Request) -> bool:
    """Whether `path` is this request's picture (an unreadable file is not: it is made again)."""
    if not path.is_file():
        return False
    try:
        meta = read_png_metadata(path)
    except (OSError, ValueError, FractalMatchError):  # pillow's "cannot identify" is an OSError
        return False
    return (meta.get("unit"), meta.get("steps"), meta.get("seed"), meta.get("size"), meta.get("recipe")) == (
        request.unit.name, str(request.steps), str(request.seed), str(request.side), str(RECIPE))


def find_picture(request: Request) -> Path | None:
    """The shipped or cached file of this request, if there is one."""
    for folder in (SHIPPED_DIR, cache_dir()):
        path = folder / request.filename
        if _matches(path, request):
            return path
    return None


def make_picture(request: Request, out: Path | None = None):
    """Run the visualization (needs jax) and write the picture with its metadata to `out` (default:
    the cache, at the native side). Returns the
    :class:`~fractal_match.templates.cnn.visualize.Visualization`."""
    require_jax(f"cnn:{request.spec}: not shipped and not cached, and making it")
    from .visualize import visualize

    if out is None:
        request, out = request.native, cache_dir() / request.native.filename
    result = visualize(request.unit, size=request.side, steps=request.steps, seed=request.seed)
    save_image(out, result.picture, request.metadata(result.value, Path(out).name))
    return result


def unit_picture(spec: str) -> np.ndarray:
    """The RGB uint8 picture of ``UNIT[?steps=&seed=&size=]``: shipped, cached or made now."""
    request = parse_request(spec)
    native = request.native
    path = find_picture(native)
    if path is None:
        make_picture(native)
        path = cache_dir() / native.filename
    return resize_square(load_image(path, "color"), request.side)


def shipped_units() -> list[str]:
    """The specs of the pictures that ship with the tool."""
    specs = []
    for path in sorted(SHIPPED_DIR.glob("*.png")):
        meta = read_png_metadata(path)
        if meta.get("recipe") == str(RECIPE):
            specs.append(parse_request(f"{meta['unit']}?steps={meta['steps']}&seed={meta['seed']}&size={meta['size']}").spec)
    return specs
