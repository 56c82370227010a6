"""A target's integral images, and per-thread scratch buffers, for the compiled passes of
:mod:`fractal_match.engine._measures` (plain Python and OpenCV: nothing here is compiled)."""

from __future__ import annotations

import threading

import cv2
import numpy as np

_LOCAL = threading.local()


def scratch(name: str, shape: tuple, dtype) -> np.ndarray:
    """A scratch array of this thread, kept for its next call (a view of a buffer that only
    grows): a fresh array of several MB costs a page fault per 4 KiB on first touch, which here
    took longer than the arithmetic. Valid until the next call with the same name."""
    size = int(np.prod(shape))
    found = getattr(_LOCAL, name, None)
    if found is None or found.dtype != dtype or found.size < size:
        found = np.empty(size, dtype)
        setattr(_LOCAL, name, found)
    return found[:size].reshape(shape)


def integrals(target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The target's integral images in float64: per channel sums (C, H+1, W+1) and the sum of
    squares over every channel (H+1, W+1). Exact for integer-valued images.

    Made a plane at a time (OpenCV is several times faster on one plane than on three, and
    faster with int32 sums and float64 squares than with both in float64: uint8 planes take
    that path, exact below 2^31 / 255 pixels). The arrays are this thread's scratch buffers:
    valid until its next call."""
    height, width = target.shape[:2]
    planes = cv2.split(target) if target.ndim == 3 else [target]
    shape = (height + 1, width + 1)
    sums = scratch("sums", (len(planes),) + shape, np.float64)
    squares = scratch("squares", shape, np.float64)
    for c, plane in enumerate(planes):
        plane_sq = squares if c == 0 else scratch("plane_sq", shape, np.float64)
        if plane.dtype == np.uint8 and height * width < 2**31 // 255:
            plane_sum = scratch("plane_sum", shape, np.int32)
            cv2.integral2(plane, sum=plane_sum, sqsum=plane_sq, sdepth=cv2.CV_32S, sqdepth=cv2.CV_64F)
            np.copyto(sums[c], plane_sum)
        else:
            values = plane.astype(np.float64)
            cv2.integral(values, sum=sums[c], sdepth=cv2.CV_64F)
            cv2.integral(values * values, sum=plane_sq, sdepth=cv2.CV_64F)
        if c > 0:
            squares += plane_sq
    return sums, squares
