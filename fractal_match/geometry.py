"""Boxes and points. The library speaks (x, y, w, h) boxes and (x, y) points, as OpenCV does;
NumPy indexing is [row, col] = [y, x], and the conversion happens here only."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Box(NamedTuple):
    """An axis-aligned box: top-left corner (x, y), width w, height h, in pixels."""

    x: float
    y: float
    w: float
    h: float

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    def inside(self, width: int, height: int) -> bool:
        """True when the box lies within an image of that size."""
        return self.x >= 0 and self.y >= 0 and self.w > 0 and self.h > 0 and \
            self.x + self.w <= width and self.y + self.h <= height


def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes (0 when they do not overlap)."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def crop(image: np.ndarray, box) -> np.ndarray:
    """The pixels of `image` inside an integer (x, y, w, h) box (a copy)."""
    x, y, w, h = (int(round(v)) for v in box)
    return image[y : y + h, x : x + w].copy()
