"""Which units of a network answer faces: every channel's selectivity on the bundled crops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kernels import load_faces
from . import nets
from .units import CHANNELS, NET_LAYERS, Unit


def layer_values(net: str, pictures) -> dict[str, np.ndarray]:
    """Each layer's units for each picture (0-255, gray or RGB, resized to the input side):
    layer -> (N, channels), conv layers by their centre neuron; plus ``face`` (the face logit)."""
    out = nets.forward_fn(net)(nets.params(net), nets.batch_at(net, pictures))
    values = {layer: np.asarray(nets.centre(out[layer])) for layer in NET_LAYERS[net]}
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
