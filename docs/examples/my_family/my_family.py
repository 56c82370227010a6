"""A generator family of your own (the kernel and its three mirror images, one per quadrant),
and a kernel source (a grid of dots).

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


def dots(spec, mode):
    """A kernel source: `spec` is what follows "dots:" (dots per side). Return a picture (uint8,
    or float in [0, 1]); a spec it does not know is a ParameterError, one line naming it."""
    try:
        count = int(spec)
    except ValueError:
        raise ParameterError(f"dots:{spec}: needs a whole number of dots per side") from None
    image = np.zeros((48, 48), np.uint8)
    for y in range(count):
        for x in range(count):
            cv2.circle(image, (8 + x * 32 // count, 8 + y * 32 // count), 3, 255, -1)
    return image


DOTS = KernelSource("dots", "a grid of dots: dots:N", dots, lambda: ["3"])
