"""Which units of a network answer faces: every channel's selectivity on the bundled crops."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import jax
import numpy as np

from ..kernels import load_faces
from . import nets
from .units import CHANNELS, NET_LAYERS, Unit


def _centre(activation: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> the centre neuron (N, C); dense (N, C) as it is."""
    if activation.ndim == 2:
        return activation
    return activation[:, :, activation.shape[2] // 2, activation.shape[3] // 2]


@lru_cache(maxsize=None)
def _all_layers_fn(net: str):
    return jax.jit(lambda weights, x: nets.forward(weights, net, x))


def layer_values(net: str, pictures) -> dict[str, np.ndarray]:
    """Each layer's units for each picture (0-255, gray or RGB, resized to the input side):
    layer -> (N, channels), conv layers by their centre neuron; plus ``face`` (the face logit)."""
    side = nets.NET_INPUT[net]
    batch = nets.preprocess(np.stack([nets.resize_rgb(p, side) for p in np.asarray(pictures)]))
    out = _all_layers_fn(net)(nets.params(net), batch)
    values = {layer: _centre(np.asarray(out[layer])) for layer in NET_LAYERS[net]}
    values["face"] = np.asarray(out["logit"])[:, None]
    return values


def lfw_crops() -> tuple[np.ndarray, np.ndarray]:
    """The bundled face and non-face crops on 0-255 (100 each, 25x25 gray)."""
    faces, non_faces = load_faces()
    return faces * 255.0, non_faces * 255.0


@dataclass(frozen=True)
class Selectivity:
    """A unit's face selectivity: d' = (mean over faces - mean over non-faces) / pooled sd, and
    the two means."""

    unit: Unit
    d_prime: float
    face_mean: float
    non_face_mean: float


def selectivity(net: str = "onet") -> dict[str, list[Selectivity]]:
    """Every channel of every layer (centre neuron), most face-selective first, per layer."""
    faces, non_faces = lfw_crops()
    on_faces, on_others = layer_values(net, faces), layer_values(net, non_faces)
    found = {}
    for layer in NET_LAYERS[net]:
        a, b = on_faces[layer].astype(np.float64), on_others[layer].astype(np.float64)
        pooled = np.sqrt((a.var(axis=0, ddof=1) + b.var(axis=0, ddof=1)) / 2.0)
        d = (a.mean(axis=0) - b.mean(axis=0)) / np.where(pooled > 0, pooled, np.inf)
        rows = [Selectivity(Unit(net, layer, c), float(d[c]), float(a[:, c].mean()), float(b[:, c].mean()))
                for c in range(CHANNELS[net][layer])]
        found[layer] = sorted(rows, key=lambda row: -row.d_prime)
    return found


def most_selective(net: str = "onet", count: int = 4, layers=None) -> list[Selectivity]:
    """The `count` most face-selective channels over the given conv/dense layers (default: all)."""
    rows = [row for layer, found in selectivity(net).items() if layers is None or layer in layers for row in found]
    return sorted(rows, key=lambda row: -row.d_prime)[:count]
