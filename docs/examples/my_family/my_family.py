"""A generator family of your own (the kernel and its three mirror images, one per quadrant),
and a kernel source (horizontal bars).

mirror4 is a control, not a fractal: it adds symmetry and repetition without self-similarity.
"""
import cv2
import numpy as np

from fractal_match import Family, KernelSource, Param, ParameterError


def mirror4(kernel, size, gap):
    """`kernel` is float32 in [0, 1] (gray or RGB); return the template and its mask (or None)."""
    half = max(1, (size - gap) // 2)
    small = cv2.resize(kernel, (half, half), interpolation=cv2.INTER_AREA)
    image = np.zeros((size, size) + kernel.shape[2:], np.float32)
    far = size - half
    image[:half, :half] = small
    image[:half, far:] = small[:, ::-1]
    image[far:, :half] = small[::-1, :]
    image[far:, far:] = small[::-1, ::-1]
    return image, None


MIRROR4 = Family("mirror4", "control", "the kernel mirrored into four quadrants",
                 (Param("gap", int, 0, "pixels between the quadrants", 0, 64),), mirror4)


def stripes(spec, mode):
    """A kernel source: `spec` is what follows "stripes:" (the number of bars). Return a picture
    (uint8, or float in [0, 1]); a spec it does not know is a ParameterError, one line naming it."""
    if not spec.isdigit() or not 1 <= int(spec) <= 16:
        raise ParameterError(f"stripes:{spec}: needs a number of bars from 1 to 16")
    rows = np.arange(64)[:, None] * (2 * int(spec)) // 64  # bar index of each row, bright and dark in turn
    return np.repeat(np.where(rows % 2 == 0, 230, 25), 64, axis=1).astype(np.uint8)


STRIPES = KernelSource("stripes", "horizontal bars: stripes:N", stripes, lambda: ["4"])
