"""A generator family of your own: the kernel and its three mirror images, one per quadrant.

A control, not a fractal: it adds symmetry and repetition without self-similarity.
"""
import cv2
import numpy as np

from fractal_match import Family, Param


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
