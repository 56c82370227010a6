"""An image "copy machine": an iterated function system of similitudes with condensation.

W(I) = blend(K, A_1(I), ..., A_m(I)); each A_i scales the canvas about its centre by `scale`,
rotates it by `angle` plus its place on the ring, and moves it to a point on a ring of radius
`ring_radius`. Condensation keeps the kernel K at full size in every iteration; without it (the
plain Hutchinson operator) the picture shrinks by `scale` at each step and vanishes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ._canvas import fit_square
from ._params import Param

PARAMS = (
    Param("n_maps", int, 4, "number of similitudes (copies per iteration)", 2, 8),
    Param("scale", float, 0.4, "scale of each copy", 0.2, 0.6),
    Param("angle", float, 0.0, "extra rotation of each copy, degrees", -180.0, 180.0),
    Param("ring_radius", float, 0.6, "distance of the copies from the centre (canvas half-size = 1)", 0.0, 1.0),
    Param("phase", float, 45.0, "angle of the first copy on the ring, degrees", -180.0, 180.0),
    Param("iterations", int, 4, "applications of the operator", 1, 10),
    Param("blend", str, "max", "how the kernel and the copies combine", choices=("max", "mean")),
    Param("condensation", bool, True, "keep the kernel at full size in every iteration"),
    Param("background", float, 0.0, "value where nothing is drawn", 0.0, 1.0),
)


def similitudes(size: int, n_maps: int, scale: float, angle: float, ring_radius: float, phase: float):
    """The 2x3 affine matrices (pixel coordinates) of the maps A_i."""
    centre = (size - 1) / 2.0
    matrices = []
    for i in range(n_maps):
        theta = math.radians(phase + 360.0 * i / n_maps)
        rotation = math.radians(angle) + theta
        cos, sin = scale * math.cos(rotation), scale * math.sin(rotation)
        target = (centre + ring_radius * (size / 2.0) * math.cos(theta), centre - ring_radius * (size / 2.0) * math.sin(theta))
        # x' = s R (x - centre) + target
        matrices.append(np.array([[cos, sin, target[0] - cos * centre - sin * centre],
                                  [-sin, cos, target[1] + sin * centre - cos * centre]], np.float64))
    return matrices


def generate(kernel, size, n_maps, scale, angle, ring_radius, phase, iterations, blend, condensation, background):
    base = fit_square(kernel, size)
    full = np.ones((size, size), np.float32)
    image, mask = base, full
    maps = similitudes(size, n_maps, scale, angle, ring_radius, phase)
    for _ in range(iterations):
        layers = [(base, full)] if condensation else []
        for matrix in maps:
            warped = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
            warped_mask = cv2.warpAffine(mask, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
            layers.append((warped, warped_mask))
        weights = np.stack([m for _, m in layers])
        values = np.stack([v for v, _ in layers])
        shape = weights.shape + (1,) * (values.ndim - weights.ndim)
        w = weights.reshape(shape)
        if blend == "max":
            image = np.where(w > 0, values, -np.inf).max(axis=0)
        else:
            image = (values * w).sum(axis=0) / np.maximum(w.sum(axis=0), 1e-12)
        mask = weights.max(axis=0)
        image = np.where(np.isfinite(image), image, 0.0).astype(np.float32)
    covered = (mask > 0).reshape(mask.shape + (1,) * (image.ndim - mask.ndim))
    image = np.where(covered, image, background).astype(np.float32)
    return image, mask.astype(np.float32)
