"""Orbit-trap image fractals, with the semantics of malinc.se's "Make Fractals of Images".

Every output pixel p is a point of a square view of the complex plane. Iterate
z <- z^d + c, Julia (z0 = p, c fixed) or Mandelbrot (z0 = 0, c = p). After every step,
starting with the first (z0 itself is not tested), test whether z lies in the trap: the
axis-aligned square with centre E and half-side F. The FIRST trapped iterate wins and the pixel
takes the kernel's colour at that iterate's position in the trap (nearest neighbour; the trap's
top edge is the kernel's top row). Pixels whose orbit is never trapped get the background value
and mask 0.

No bailout changes the result: once |z| > max(2, |c|, |E| + F sqrt 2), |z| grows at every step
(|z^d + c| >= |z|^d - |c| > |z|) and can never come back to the trap, so the iteration stops
there, exactly as if it had continued, and never overflows.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numba import njit

from ...engine._fused import in_row_blocks
from ._params import Param

PARAMS = (
    Param("mode", str, "julia", "julia: z0 = pixel, c fixed; mandelbrot: z0 = 0, c = pixel", choices=("julia", "mandelbrot")),
    Param("c", complex, complex(0.616, -0.04), "the constant c of a Julia set", -2.0, 2.0),
    Param("degree", int, 5, "the power d in z <- z^d + c", 2, 5),
    Param("iterations", int, 100, "iterations per pixel", 1, 1000),
    Param("trap_center", complex, 0j, "centre E of the square trap", -2.0, 2.0),
    Param("trap_half", float, 0.5, "half-side F of the square trap (malinc's side 1 = 0.5)", 0.01, 2.0),
    Param("zoom", float, 1.0, "magnification of the view square [-2, 2]^2 about its centre", 0.1, 100.0),
    Param("center", complex, 0j, "centre of the view", -2.0, 2.0),
    Param("supersample", int, 1, "samples per pixel side (anti-aliasing)", 1, 4),
    Param("background", float, 0.0, "value of untrapped pixels", 0.0, 1.0),
)


@njit(cache=True, boundscheck=False, nogil=True)
def _trap_rows(side, view_center, half_width, c, julia, degree, iterations,
               trap_center, trap_half, kernel_side, first, last, rows, cols):  # pragma: no cover - compiled
    """Rows `first`:`last` of :func:`trap_indices`. Serial, and it releases the GIL: threads run
    row blocks in parallel (a ``parallel=True`` kernel compiled in 1.6 s, this one in a fraction)."""
    step = 2.0 * half_width / side
    left = view_center.real - half_width
    top = view_center.imag + half_width
    trap_left = trap_center.real - trap_half
    trap_top = trap_center.imag + trap_half
    trap_extent = abs(trap_center) + trap_half * math.sqrt(2.0)
    scale = kernel_side / (2.0 * trap_half)
    for i in range(first, last):
        for j in range(side):
            p = complex(left + (j + 0.5) * step, top - (i + 0.5) * step)
            if julia:
                z = p
                k = c
            else:
                z = 0j
                k = p
            escape = max(2.0, abs(k), trap_extent)
            escape2 = escape * escape
            for _ in range(iterations):
                z2 = z * z
                if degree == 2:
                    z = z2 + k
                elif degree == 3:
                    z = z2 * z + k
                elif degree == 4:
                    z = z2 * z2 + k
                else:
                    z = z2 * z2 * z + k
                u = z.real - trap_left
                v = trap_top - z.imag
                if 0.0 <= u <= 2.0 * trap_half and 0.0 <= v <= 2.0 * trap_half:
                    cols[i, j] = min(int(u * scale), kernel_side - 1)
                    rows[i, j] = min(int(v * scale), kernel_side - 1)
                    break
                if z.real * z.real + z.imag * z.imag > escape2:
                    break


def trap_indices(side, view_center, half_width, c, julia, degree, iterations, trap_center, trap_half,
                 kernel_side) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of a side x side view: the kernel row and column its orbit is trapped at,
    or -1 when it never is. Row blocks run on the engine's threads (:func:`in_row_blocks`)."""
    rows = np.full((side, side), -1, np.int32)
    cols = np.full((side, side), -1, np.int32)
    head = (side, view_center, half_width, c, julia, degree, iterations, trap_center, trap_half, kernel_side)
    in_row_blocks(_trap_rows, side, 4, head, (rows, cols))  # a block of at least 16 rows
    return rows, cols


def square_crop(image: np.ndarray) -> np.ndarray:
    """The largest centred square of `image`."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top : top + side, left : left + side]


def generate(kernel: np.ndarray, size: int, mode, c, degree, iterations, trap_center, trap_half, zoom,
             center, supersample, background):
    """Render the orbit-trap fractal of `kernel` (float32 in [0, 1]) at size x size pixels."""
    square = square_crop(kernel)
    side = size * supersample
    rows, cols = trap_indices(side, complex(center), 2.0 / zoom, complex(c), mode == "julia", degree, iterations,
                              complex(trap_center), float(trap_half), square.shape[0])
    trapped = rows >= 0
    image = square[np.maximum(rows, 0), np.maximum(cols, 0)]
    image[~trapped] = background
    mask = trapped.astype(np.float32)
    if supersample > 1:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
    return image.astype(np.float32), mask
