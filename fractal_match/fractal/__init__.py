"""Generator families: fractals of a kernel and the controls that make comparisons honest.

``fractalize(kernel, family, size=None, **params) -> Template``. ``FAMILIES`` maps each name to
its :class:`Family` (parameters with defaults, ranges and help). Every generator is
deterministic (seeded where random) and vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import check_positive_int
from .._errors import ParameterError
from . import controls, droste, ifs, orbit_trap
from ._params import Family, Param, parse_assignments

__all__ = ["FAMILIES", "Family", "Param", "Template", "fractalize", "parse_assignments", "as_unit_float"]

#: Largest template side fractalize accepts (refused before anything is allocated).
MAX_TEMPLATE_SIDE = 4096

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("none", "identity", "the kernel itself", controls.NONE_PARAMS, controls.generate_none),
        Family("orbit-trap", "fractal", "orbit-trap Julia/Mandelbrot image fractal (malinc.se semantics)",
               orbit_trap.PARAMS, orbit_trap.generate),
        Family("ifs", "fractal", "copy machine: similitudes around a ring, with condensation", ifs.PARAMS, ifs.generate),
        Family("droste", "fractal", "recursive picture-in-picture through log-polar coordinates", droste.PARAMS,
               droste.generate),
        Family("scale-sum", "control", "sum of nested scaled copies (scale only)", controls.SCALE_SUM_PARAMS,
               controls.generate_scale_sum),
        Family("rot-sym", "control", "mean over a rotation group, in a disk (rotation only)", controls.ROT_SYM_PARAMS,
               controls.generate_rot_sym),
        Family("harmonic", "control", "chosen circular-harmonic orders of the kernel", controls.HARMONIC_PARAMS,
               controls.generate_harmonic),
        Family("blur", "control", "Gaussian blur, optionally matched to a family's power spectrum", controls.BLUR_PARAMS,
               controls.generate_blur),
        Family("shrunk-pad", "control", "the kernel shrunk to a fractal's central copy, padded the same way",
               controls.SHRUNK_PAD_PARAMS, controls.generate_shrunk_pad),
        Family("scrambled", "control", "phase-scrambled kernel through a fractal generator (geometry, no content)",
               controls.SCRAMBLED_PARAMS, controls.generate_scrambled),
        Family("flip", "control", "the kernel turned 180 degrees (convolution instead of correlation)",
               controls.FLIP_PARAMS, controls.generate_flip),
    )
}


@dataclass(frozen=True)
class Template:
    """A generated template: float32 image in [0, 1] (gray or RGB), optional float32 mask in
    [0, 1] (None = every pixel counts), and how it was made."""

    image: np.ndarray
    mask: np.ndarray | None
    family: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_uint8(self) -> np.ndarray:
        """The image on the 0-255 scale of photos (for matching against uint8 targets)."""
        return np.clip(np.rint(self.image * 255.0), 0, 255).astype(np.uint8)

    def metadata(self) -> dict[str, str]:
        """Text metadata that says how the template was made (for PNG chunks)."""
        return {"family": self.family, "params": {k: (str(v) if isinstance(v, complex) else v) for k, v in self.params.items()}}


def as_unit_float(image) -> np.ndarray:
    """A kernel picture as float32 in [0, 1] (uint8 / 255, uint16 / 65535, floats clipped)."""
    image = np.asarray(getattr(image, "image", image))
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise ParameterError("kernel contains NaN or Inf values (allowed: finite values only)")
        return np.clip(image, 0.0, 1.0).astype(np.float32)
    raise ParameterError(f"kernel pixel type {image.dtype.name} is not supported (allowed: uint8, uint16, float)")


def fractalize(kernel, family: str, size: int | None = None, **params) -> Template:
    """Make a template of `family` from `kernel` (a Kernel or an image array).

    Parameters
    ----------
    kernel : Kernel or ndarray
        The feature picture, gray or RGB; uint8/uint16 or float in [0, 1].
    family : str
        A key of :data:`FAMILIES`.
    size : int, optional
        Output side in pixels (default: the kernel's longer side), at most 4096.
    **params
        The family's parameters; unknown names and out-of-range values are errors that name them.

    Examples
    --------
    >>> import numpy as np
    >>> t = fractalize(np.full((32, 32), 200, np.uint8), "orbit-trap", size=64)
    >>> t.image.shape, t.image.dtype.name, t.family, t.params["degree"]
    ((64, 64), 'float32', 'orbit-trap', 5)
    """
    if family not in FAMILIES:
        raise ParameterError(f"unknown family {family!r} (allowed: {', '.join(FAMILIES)})")
    spec = FAMILIES[family]
    resolved = spec.resolve(params)
    image = as_unit_float(kernel)
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise ParameterError(f"kernel shape {image.shape} is not an image (allowed: (H, W) or (H, W, 3))")
    size = max(image.shape[:2]) if size is None else check_positive_int(size, "size", 4, MAX_TEMPLATE_SIDE)
    size = max(size, 4)
    result, mask = spec.function(image, size, **resolved)
    if image.ndim == 3 and result.ndim == 2:  # keep colour kernels in colour
        result = np.repeat(result[:, :, None], 3, axis=2)
    return Template(np.ascontiguousarray(result, np.float32), mask, family, {**resolved, "size": size})


