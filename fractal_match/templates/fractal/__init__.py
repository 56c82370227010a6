"""Generator families: fractals of a kernel and the controls that make comparisons honest.

``fractalize(kernel, family, size=None, **params) -> Template``. ``FAMILIES`` maps each name to
its :class:`Family` (parameters with defaults, ranges and help). Every generator is
deterministic (seeded where random) and vectorised. Other packages add families through the
entry-point group ``fractal_match.families`` (see :mod:`fractal_match._registry`).
"""

from __future__ import annotations

from ...images import as_unit_float
from . import controls, droste, ifs, orbit_trap
from ._params import Family, Param, parse_assignments
from ._templates import FAMILIES, MAX_TEMPLATE_SIDE, SPECIAL_VARIANTS, Template, fractalize

__all__ = ["FAMILIES", "Family", "Param", "Template", "fractalize", "parse_assignments", "as_unit_float",
           "MAX_TEMPLATE_SIDE", "SPECIAL_VARIANTS", "family_kind"]


def family_kind(family: str) -> str | None:
    """"fractal", "control", "identity", "bank", "oracle" or "pnet-detector"; None for a family
    this install does not know (a plug-in that is not installed here)."""
    if family in SPECIAL_VARIANTS:
        return family
    return FAMILIES[family].kind if family in FAMILIES else None

for _family in (
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
):
    FAMILIES.add(_family)
del _family
