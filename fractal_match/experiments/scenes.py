"""Synthetic scenes: a kernel picture pasted at a seeded place on a bundled texture or photo."""

from __future__ import annotations

import cv2
import numpy as np

from .._data import DATA_DIR
from ..geometry import Box
from ..images import load_image
from ..templates.kernels import load_kernel, resize_kernel


def background_names() -> tuple[str, ...]:
    """Every background a synthetic scene may use: the bundled textures, then the bundled photos
    (by file stem)."""
    textures = sorted(p.stem for p in (DATA_DIR / "textures").glob("*.png"))
    photos = sorted(p.stem for p in (DATA_DIR / "images").iterdir() if p.suffix in (".png", ".jpg"))
    return tuple(textures + photos)


def background_path(name: str):
    """A bundled texture (data/textures) or photo (data/images) by its stem."""
    texture = DATA_DIR / "textures" / f"{name}.png"
    if texture.exists():
        return texture
    return next(p for p in (DATA_DIR / "images").iterdir() if p.stem == name and p.suffix in (".png", ".jpg"))


def ellipse_alpha(h: int, w: int) -> np.ndarray:
    """Weights in [0, 1]: 1 inside the ellipse inscribed in an h x w box (through the centres of
    its border pixels, which get 0), falling smoothly to 0 over the outer eighth of each
    half-axis (no hard edge for a template to find)."""
    ys = (np.arange(h) - (h - 1) / 2.0) / max((h - 1) / 2.0, 0.5)
    xs = (np.arange(w) - (w - 1) / 2.0) / max((w - 1) / 2.0, 0.5)
    radius = np.hypot(ys[:, None], xs[None, :])
    ramp = np.clip((1.0 - radius) / 0.125, 0.0, 1.0)
    return ramp * ramp * (3.0 - 2.0 * ramp)  # smoothstep


def synthetic_scene(index: int, seed: int, textures, objects, object_size: int, scene_size: int, color: bool = False,
                    paste: str = "square"):
    """Scene `index`: a crop of a texture or photo (background `index` modulo their count) with
    one kernel picture (object `index` modulo theirs) pasted at a seeded place, resized so that
    its longer side is `object_size`.

    `paste` "square" copies the picture's pixels; "ellipse" blends it in through
    :func:`ellipse_alpha`, so that the only edge is the object's own (a pasted square adds a
    contrast edge that blob-like templates find). Returns (scene, box, object as it appears in
    the scene). Deterministic in (seed, index).
    """
    rng = np.random.default_rng([seed, index])
    mode = "color" if color else "gray"
    texture = load_image(background_path(textures[index % len(textures)]), mode)
    if min(texture.shape[:2]) < scene_size:
        factor = scene_size / min(texture.shape[:2])
        texture = cv2.resize(texture, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
    top = int(rng.integers(0, texture.shape[0] - scene_size + 1))
    left = int(rng.integers(0, texture.shape[1] - scene_size + 1))
    scene = texture[top : top + scene_size, left : left + scene_size].copy()
    picture = resize_kernel(load_kernel(objects[index % len(objects)], mode), object_size).image
    h, w = picture.shape[:2]
    y = int(rng.integers(h // 2, scene_size - h - h // 2 + 1))
    x = int(rng.integers(w // 2, scene_size - w - w // 2 + 1))
    if paste == "ellipse":
        alpha = ellipse_alpha(h, w)
        alpha = alpha[:, :, None] if picture.ndim == 3 else alpha
        under = scene[y : y + h, x : x + w].astype(np.float64)
        picture = np.clip(np.rint(alpha * picture + (1.0 - alpha) * under), 0, 255).astype(scene.dtype)
    scene[y : y + h, x : x + w] = picture
    return scene, Box(x, y, w, h), picture
