"""Droste: a picture that contains itself, through log-polar coordinates.

Every canvas point p (canvas half-size = 1) is moved by a whole number n of levels,
p -> p / ratio^n (rotated by n * rotation), into the annulus ratio < |p| <= 1, where the kernel is
shown. So the image is exactly self-similar: scaling by `ratio` and turning by `rotation` maps
it onto itself. With `branches` > 0 the level also advances with the angle, which turns the
nested copies into an Escher-like spiral with that many arms; a spiral is self-similar under
scaling by `ratio` alone (combined with a per-level rotation it has no exact similarity).
"""

from __future__ import annotations

import math

import numpy as np

from ._canvas import canvas_coordinates, fit_square, sample
from ._params import Param

PARAMS = (
    Param("ratio", float, 0.4, "scale of each nested copy relative to the one around it", 0.2, 0.6),
    Param("branches", int, 0, "spiral arms (0: plain nesting; Escher's twist otherwise)", 0, 4),
    Param("rotation", float, 0.0, "rotation from one level to the next, degrees", -180.0, 180.0),
    Param("background", float, 0.0, "value outside the kernel", 0.0, 1.0),
)


def droste_map(x, y, ratio: float, branches: int = 0, rotation: float = 0.0):
    """Canvas coordinates (x, y) -> the kernel coordinates shown there (both in [-1, 1] units)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    period = -math.log(ratio)  # log-radius covered by one level
    radius = np.hypot(x, y)
    log_radius = np.log(np.maximum(radius, 1e-300))
    theta = np.arctan2(y, x)
    # the angle term lies in [0, branches * period): points only ever move inwards, so |p'| <= 1
    shifted = log_radius + branches * period * (theta + math.pi) / (2.0 * math.pi)
    level = np.ceil(shifted / period)  # levels to move out so that shifted falls in (-period, 0]
    new_log_radius = log_radius - level * period
    new_theta = theta + level * math.radians(rotation)
    new_radius = np.exp(new_log_radius)
    return new_radius * np.cos(new_theta), new_radius * np.sin(new_theta)


def generate(kernel, size, ratio, branches, rotation, background):
    base = fit_square(kernel, size)
    x, y = canvas_coordinates(size)
    u, v = droste_map(x, y, ratio, branches, rotation)
    image = sample(base, u, v, background)
    inside = ((np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)).astype(np.float32)
    return image.astype(np.float32), inside
