"""Shared canvas helpers: pixel-centre coordinates, sampling, square crops, windows."""

from __future__ import annotations

import cv2
import numpy as np

from .orbit_trap import square_crop

__all__ = ["canvas_coordinates", "sample", "square_crop", "disk", "fit_square"]


def canvas_coordinates(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of every pixel centre in units where the canvas spans [-1, 1] (x right, y down)."""
    axis = (np.arange(size, dtype=np.float64) + 0.5) / size * 2.0 - 1.0
    return np.meshgrid(axis, axis)


def sample(image: np.ndarray, x: np.ndarray, y: np.ndarray, background: float = 0.0) -> np.ndarray:
    """Bilinear samples of `image` at canvas coordinates in [-1, 1] (outside: background)."""
    h, w = image.shape[:2]
    map_x = ((x + 1.0) * 0.5 * w - 0.5).astype(np.float32)
    map_y = ((y + 1.0) * 0.5 * h - 0.5).astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=background)


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """The centred square crop of `image`, resized to size x size."""
    square = square_crop(image)
    interpolation = cv2.INTER_AREA if square.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


def disk(size: int) -> np.ndarray:
    """A float32 disk window inscribed in a size x size canvas (1 inside, 0 outside)."""
    x, y = canvas_coordinates(size)
    return (x * x + y * y <= 1.0).astype(np.float32)
