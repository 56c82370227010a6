"""Templates and the registry of generator families (built-ins and plug-ins)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..._checks import check_positive_int
from ..._errors import ParameterError
from ..._registry import Registry
from ...images import as_unit_float
from ._params import Family

#: Largest template side fractalize accepts (refused before anything is allocated).
MAX_TEMPLATE_SIDE = 4096

#: Variant names a config gives a meaning of its own; no family may take them. None of them is
#: one template: bank and oracle search the kernel at poses, pnet-detector is the face detector
#: network itself (a reference row, no kernel).
SPECIAL_VARIANTS = ("bank", "oracle", "pnet-detector")

#: Family name -> :class:`Family`: the built-ins (registered by the package) and every family
#: that an installed package declares in the entry-point group ``fractal_match.families``.
FAMILIES: Registry = Registry("family", "fractal_match.families", Family, lambda family: family.name,
                              reserved=SPECIAL_VARIANTS)


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
        raise FAMILIES.unknown(family)
    spec = FAMILIES[family]
    resolved = spec.resolve(params)
    image = as_unit_float(kernel)
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise ParameterError(f"kernel shape {image.shape} is not an image (allowed: (H, W) or (H, W, 3))")
    size = max(image.shape[:2]) if size is None else check_positive_int(size, "size", 4, MAX_TEMPLATE_SIDE)
    size = max(size, 4)
    result, mask = FAMILIES.call(family, f"making a {family} template", spec.function, image, size, **resolved)
    result = np.asarray(result, np.float32)
    if result.ndim not in (2, 3) or max(result.shape[:2]) != size or (
            mask is not None and np.shape(mask) != result.shape[:2]):
        raise ParameterError(f"family {family!r} made an image of shape {result.shape} with a mask of shape "
                             f"{np.shape(mask) if mask is not None else None} (allowed: longer side {size}, "
                             "the mask of the image's height and width)")
    if image.ndim == 3 and result.ndim == 2:  # keep colour kernels in colour
        result = np.repeat(result[:, :, None], 3, axis=2)
    return Template(np.ascontiguousarray(result, np.float32), mask, family, {**resolved, "size": size})


