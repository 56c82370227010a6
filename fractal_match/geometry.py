"""Boxes and points. The library speaks (x, y, w, h) boxes and (x, y) points, as OpenCV does;
NumPy indexing is [row, col] = [y, x], and the conversion happens here only."""

from __future__ import annotations

from typing import NamedTuple

import math

import cv2
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


class Pose(NamedTuple):
    """A target transform: scale first, then rotation (degrees, counter-clockwise as shown)."""

    scale: float = 1.0
    rotation: float = 0.0


def _affine(points, matrix: np.ndarray) -> np.ndarray:
    points = np.asarray(points, np.float64).reshape(-1, 2)
    return points @ matrix[:, :2].T + matrix[:, 2]


class Warp(NamedTuple):
    """An affine map of pixel coordinates (x, y), with its inverse."""

    matrix: np.ndarray  # 2x3, source -> destination
    size: tuple[int, int]  # destination (width, height)

    def forward(self, points) -> np.ndarray:
        return _affine(points, self.matrix)

    def inverse(self, points) -> np.ndarray:
        return _affine(points, cv2.invertAffineTransform(self.matrix))

    def box(self, box) -> Box:
        """The axis-aligned box of a transformed (x, y, w, h) box's four corners."""
        x, y, w, h = box
        corners = self.forward([(x, y), (x + w, y), (x, y + h), (x + w, y + h)])
        low, high = corners.min(axis=0), corners.max(axis=0)
        return Box(float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1]))


def _to_index(matrix_edge: np.ndarray) -> np.ndarray:
    """The same map for OpenCV's index coordinates (pixel i's centre at i, not i + 0.5)."""
    to_edge = np.array([[1.0, 0, 0.5], [0, 1.0, 0.5], [0, 0, 1]])
    to_index = np.array([[1.0, 0, -0.5], [0, 1.0, -0.5], [0, 0, 1]])
    return (to_index @ np.vstack([matrix_edge, [0, 0, 1]]) @ to_edge)[:2]


def pose_warp(image_size: tuple[int, int], center, pose: Pose) -> Warp:
    """The map that scales an image by `pose.scale`, then rotates it about the (scaled) object
    centre by `pose.rotation`, on a canvas enlarged to hold the whole rotated image.

    Coordinates are continuous with pixel i spanning [i, i + 1), so boxes scale exactly.
    """
    width, height = image_size
    scaled_w, scaled_h = max(1, round(width * pose.scale)), max(1, round(height * pose.scale))
    scale = np.array([[scaled_w / width, 0.0, 0.0], [0.0, scaled_h / height, 0.0], [0, 0, 1]])
    pivot = scale[:2, :2] @ np.asarray(center, np.float64)
    rotation = np.vstack([cv2.getRotationMatrix2D((float(pivot[0]), float(pivot[1])), pose.rotation, 1.0), [0, 0, 1]])
    corners = _affine([(0, 0), (scaled_w, 0), (0, scaled_h), (scaled_w, scaled_h)], rotation[:2])
    low = np.floor(corners.min(axis=0) + 1e-9)
    high = np.ceil(corners.max(axis=0) - 1e-9)
    shift = np.array([[1.0, 0.0, -low[0]], [0.0, 1.0, -low[1]], [0, 0, 1]])
    return Warp((shift @ rotation @ scale)[:2], (int(high[0] - low[0]), int(high[1] - low[1])))


def transform_target(image: np.ndarray, box, pose: Pose) -> tuple[np.ndarray, Box, tuple[float, float], Warp]:
    """Apply a pose to a target image and carry its ground truth.

    Scales first (INTER_AREA when shrinking, bilinear when enlarging), then rotates about the
    object's centre on an enlarged canvas with reflected borders. Returns the new image, the
    axis-aligned box of the transformed object corners, the exact transformed centre, and the warp.
    """
    box = Box(*box)
    height, width = image.shape[:2]
    warp = pose_warp((width, height), box.center, pose)
    center = tuple(float(v) for v in warp.forward([box.center])[0])
    if pose.scale == 1 and pose.rotation == 0:
        return image, box, center, warp
    scaled_size = (max(1, round(width * pose.scale)), max(1, round(height * pose.scale)))
    interpolation = cv2.INTER_AREA if pose.scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, scaled_size, interpolation=interpolation) if scaled_size != (width, height) else image
    scale_back = np.array([[width / scaled_size[0], 0, 0], [0, height / scaled_size[1], 0], [0, 0, 1]])
    rest = (np.vstack([warp.matrix, [0, 0, 1]]) @ scale_back)[:2]  # scaled image -> canvas
    if pose.rotation == 0:
        return scaled, warp.box(box), center, warp
    turned = cv2.warpAffine(scaled, _to_index(rest), warp.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return turned, warp.box(box), center, warp


def posed_template(picture: np.ndarray, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """The picture scaled and turned like a target under `pose` (canvas enlarged to hold it all),
    and the mask of the pixels that came from the picture. Corners are filled by replication."""
    h, w = picture.shape[:2]
    size = (max(1, round(w * pose.scale)), max(1, round(h * pose.scale)))
    scaled = cv2.resize(picture, size, interpolation=cv2.INTER_AREA if pose.scale < 1 else cv2.INTER_LINEAR)
    if pose.rotation % 360 == 0:
        return scaled, np.ones(scaled.shape[:2], np.float32)
    centre = (size[0] / 2.0 - 0.5, size[1] / 2.0 - 0.5)
    matrix = cv2.getRotationMatrix2D(centre, pose.rotation, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    canvas = (int(math.ceil(size[0] * cos + size[1] * sin - 1e-9)), int(math.ceil(size[0] * sin + size[1] * cos - 1e-9)))
    matrix[0, 2] += canvas[0] / 2.0 - 0.5 - centre[0]
    matrix[1, 2] += canvas[1] / 2.0 - 0.5 - centre[1]
    turned = cv2.warpAffine(scaled, matrix, canvas, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(np.ones(size[::-1], np.float32), matrix, canvas, flags=cv2.INTER_LINEAR, borderValue=0.0)
    return turned, mask
