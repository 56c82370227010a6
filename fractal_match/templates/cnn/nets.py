"""The three MTCNN networks (PNet, RNet, ONet) written in jax, with their weights from
``data/cnn/mtcnn.npz``.

Inputs are float32 batches (N, 3, H, W) in RGB, scaled as the networks were trained:
``(pixel - 127.5) / 128`` with pixels on 0-255, image rows first (the usual orientation: the
transposition of the original Caffe models is inside the weights, and RNet/ONet flatten their last
feature map in (width, height, channel) order, as the converted dense weights expect).

jax is an optional dependency (the ``cnn`` extra); this module imports it, the rest of the package
does not.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from .units import NET_INPUT, NET_LAYERS
from .weights import load_weights


def preprocess(pixels) -> jnp.ndarray:
    """uint8-range RGB pictures (N, H, W, 3) or (H, W, 3) -> the networks' input (N, 3, H, W)."""
    pixels = jnp.asarray(pixels, dtype=jnp.float32)
    if pixels.ndim == 3:
        pixels = pixels[None]
    return (jnp.transpose(pixels, (0, 3, 1, 2)) - 127.5) * 0.0078125


def _conv(x, weight, bias):
    out = jax.lax.conv_general_dilated(x, weight, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return out + bias[None, :, None, None]


def _prelu(x, slope):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return jnp.where(x > 0, x, x * slope.reshape(shape))


def _pool(x, size, stride):
    """Max pooling with ceil mode: the last window may hang over the edge (padded with -inf)."""
    pads = []
    for n in x.shape[2:]:
        out = -(-(n - size) // stride) + 1
        if (out - 1) * stride >= n:  # a window must start inside the input
            out -= 1
        pads.append((0, max(0, (out - 1) * stride + size - n)))
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, size, size), (1, 1, stride, stride),
                                 [(0, 0), (0, 0), *pads])


def _dense(x, weight, bias):
    return x @ weight.T + bias


def _flatten(x):
    return jnp.transpose(x, (0, 3, 2, 1)).reshape(x.shape[0], -1)


# Each network as a list of steps: (layer name, kind, pooling after it as (size, stride) or None).
_PLAN = {
    "pnet": [("conv1", "conv", (2, 2)), ("conv2", "conv", None), ("conv3", "conv", None)],
    "rnet": [("conv1", "conv", (3, 2)), ("conv2", "conv", (3, 2)), ("conv3", "conv", None),
             ("dense4", "dense", None)],
    "onet": [("conv1", "conv", (3, 2)), ("conv2", "conv", (3, 2)), ("conv3", "conv", (2, 2)),
             ("conv4", "conv", None), ("dense5", "dense", None)],
}
_HEAD = {"pnet": ("conv4_1", "conv4_2"), "rnet": ("dense5_1", "dense5_2"), "onet": ("dense6_1", "dense6_2")}
_PRELU = {"pnet": {"conv1": "prelu1", "conv2": "prelu2", "conv3": "prelu3"},
          "rnet": {"conv1": "prelu1", "conv2": "prelu2", "conv3": "prelu3", "dense4": "prelu4"},
          "onet": {"conv1": "prelu1", "conv2": "prelu2", "conv3": "prelu3", "conv4": "prelu4",
                   "dense5": "prelu5"}}
assert {net: tuple(step[0] for step in plan) for net, plan in _PLAN.items()} == NET_LAYERS


@lru_cache(maxsize=None)
def params(net: str) -> dict:
    """One network's weights as jax arrays, keyed like the state dict (``conv1.weight``...)."""
    weights = load_weights()
    prefix = f"{net}/"
    return {key[len(prefix):]: jnp.asarray(value) for key, value in weights.items() if key.startswith(prefix)}


def forward(weights: dict, net: str, x) -> dict:
    """Run `net` on a preprocessed batch. Returns every layer's activation after its PReLU (conv
    layers before pooling), the face logit (face minus non-face score, before the softmax), the
    face probability and the box regression."""
    out = {}
    for name, kind, pool in _PLAN[net]:
        if kind == "dense" and x.ndim == 4:
            x = _flatten(x)
        x = (_conv if kind == "conv" else _dense)(x, weights[f"{name}.weight"], weights[f"{name}.bias"])
        x = _prelu(x, weights[f"{_PRELU[net][name]}.weight"])
        out[name] = x
        if pool is not None:
            x = _pool(x, *pool)
    score_layer, box_layer = _HEAD[net]
    head = _conv if net == "pnet" else _dense
    scores = head(x, weights[f"{score_layer}.weight"], weights[f"{score_layer}.bias"])
    out["logit"] = scores[:, 1] - scores[:, 0]
    out["probability"] = jax.nn.sigmoid(out["logit"])
    out["box"] = head(x, weights[f"{box_layer}.weight"], weights[f"{box_layer}.bias"])
    return out


@lru_cache(maxsize=None)
def forward_fn(net: str):
    """:func:`forward` compiled for `net`: (weights, preprocessed batch) -> every output."""
    return jax.jit(lambda weights, x: forward(weights, net, x))


def centre(activation):
    """A conv layer's map (N, C, H, W) -> its centre neuron (N, C); a dense layer (N, C) as it is."""
    if activation.ndim == 2:
        return activation
    return activation[:, :, activation.shape[2] // 2, activation.shape[3] // 2]


def _rgb(picture) -> np.ndarray:
    picture = np.asarray(picture, dtype=np.float32)
    return np.repeat(picture[:, :, None], 3, axis=2) if picture.ndim == 2 else picture


def batch_at(net: str, pictures) -> jnp.ndarray:
    """Gray or RGB pictures on 0-255 as `net`'s preprocessed input batch, each resized to the
    network's input side (area averaging when shrinking, cubic when enlarging)."""
    import cv2

    side = NET_INPUT[net]
    resized = []
    for picture in pictures:
        picture = _rgb(picture)
        if picture.shape[:2] != (side, side):
            interpolation = cv2.INTER_AREA if side < min(picture.shape[:2]) else cv2.INTER_CUBIC
            picture = cv2.resize(picture, (side, side), interpolation=interpolation)
        resized.append(picture)
    return preprocess(np.stack(resized))


def face_probability(pictures, net: str = "onet") -> np.ndarray:
    """Face probability of RNet or ONet for gray or RGB pictures on 0-255 (see :func:`batch_at`)."""
    return np.asarray(forward_fn(net)(params(net), batch_at(net, pictures))["probability"])


def pnet_pyramid(image, min_face: int = 20, factor: float = 0.709, max_face: int | None = None) -> np.ndarray:
    """PNet as a sliding face detector over an image pyramid.

    The image (gray or RGB, 0-255) is shrunk so that faces of `min_face`..`max_face` pixels
    (default: the image's shorter side) become PNet's 12 px window, by steps of `factor`; every
    window position of every scale is one candidate box. The box regression is applied. Returns
    (N, 5) float rows (x, y, w, h, face logit) in image pixels, most face-like first (the logit,
    not the probability, orders them: float32 probabilities of many windows round to 1).
    """
    import cv2

    picture = _rgb(image)
    h, w = picture.shape[:2]
    max_face = max_face or min(h, w)
    rows = []
    scale = 12.0 / min_face
    while 12.0 / scale <= max_face:
        size = (max(12, int(w * scale + 1)), max(12, int(h * scale + 1)))
        level = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
        # Padded (mid-grey, 0 after scaling) up to a multiple of 32 px, so that levels of images
        # of many sizes share a few compiled shapes; windows that reach into the padding are dropped.
        padded = np.full((-(-size[1] // 32) * 32, -(-size[0] // 32) * 32, 3), 127.5, np.float32)
        padded[:size[1], :size[0]] = level
        out = forward_fn("pnet")(params("pnet"), preprocess(padded))
        rows_in, cols_in = (size[1] - 12) // 2 + 1, (size[0] - 12) // 2 + 1
        logit = np.asarray(out["logit"][0])[:rows_in, :cols_in]
        box = np.asarray(out["box"][0])[:, :rows_in, :cols_in]
        ys, xs = np.mgrid[0:logit.shape[0], 0:logit.shape[1]]
        x0, y0 = 2 * xs / scale, 2 * ys / scale
        side = 12.0 / scale
        # regression offsets are fractions of the window side for its four edges
        left, top = x0 + box[0] * side, y0 + box[1] * side
        right, bottom = x0 + side + box[2] * side, y0 + side + box[3] * side
        rows.append(np.stack([left, top, right - left, bottom - top, logit], axis=-1).reshape(-1, 5))
        scale *= factor
    found = np.concatenate(rows) if rows else np.zeros((0, 5))
    return found[np.argsort(-found[:, 4], kind="stable")]
