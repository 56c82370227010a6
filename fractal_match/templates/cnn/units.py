"""Units of the MTCNN networks that can be visualized, and their names (no jax needed here).

A unit is ``NET/face`` (RNet's or ONet's face logit: face minus non-face score) or
``NET/LAYER:CHANNEL`` (one channel of a layer, after its PReLU: the centre neuron of a conv
layer's map, or with ``@mean`` its spatial mean; a dense layer's unit itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..._errors import ParameterError, did_you_mean

NETWORKS = ("pnet", "rnet", "onet")
#: Input side each network was trained on.
NET_INPUT = {"pnet": 12, "rnet": 24, "onet": 48}
NET_LAYERS = {
    "pnet": ("conv1", "conv2", "conv3"),
    "rnet": ("conv1", "conv2", "conv3", "dense4"),
    "onet": ("conv1", "conv2", "conv3", "conv4", "dense5"),
}
#: Channels of each layer.
CHANNELS = {
    "pnet": {"conv1": 10, "conv2": 16, "conv3": 32},
    "rnet": {"conv1": 28, "conv2": 48, "conv3": 64, "dense4": 128},
    "onet": {"conv1": 32, "conv2": 64, "conv3": 64, "conv4": 128, "dense5": 256},
}
#: Networks with a face classifier at the network's input size (PNet is a sliding detector).
FACE_NETS = ("rnet", "onet")
REDUCTIONS = ("centre", "mean")


def require_jax(what: str) -> None:
    """Raise one clear error naming the ``cnn`` extra when jax or optax cannot be imported."""
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError as error:
        raise ParameterError(f"{what} needs jax and optax ({error.name} is missing): "
                             "pip install 'fractal-match[cnn]'") from None


@dataclass(frozen=True)
class Unit:
    """One unit: network, layer ("face" for the face logit), channel, and for conv layers how the
    channel's map is reduced to one number (its centre neuron or its spatial mean)."""

    net: str
    layer: str
    channel: int | None = None
    reduce: str = "centre"

    @property
    def name(self) -> str:
        if self.layer == "face":
            return f"{self.net}/face"
        suffix = "@mean" if self.reduce == "mean" else ""
        return f"{self.net}/{self.layer}:{self.channel}{suffix}"

    @property
    def side(self) -> int:
        return NET_INPUT[self.net]


def _layers_listing(net: str) -> str:
    return ", ".join(f"{layer} (channels 0-{count - 1})" for layer, count in CHANNELS[net].items())


def parse_unit(text: str) -> Unit:
    """``onet/face``, ``onet/conv3:17``, ``onet/conv3:17@mean`` -> :class:`Unit`; anything else
    is one ParameterError that lists what exists."""
    net, sep, rest = text.partition("/")
    if net not in NETWORKS:
        raise ParameterError(f"unit {text!r}: unknown network {net!r} ({did_you_mean(net, NETWORKS)}allowed: {', '.join(NETWORKS)})")
    faces = "face, " if net in FACE_NETS else ""
    if not sep or not rest:
        raise ParameterError(f"unit {text!r}: name a unit as {net}/LAYER:CHANNEL (layers: {faces}{_layers_listing(net)})")
    if rest == "face":
        if net not in FACE_NETS:
            raise ParameterError(f"unit {text!r}: {net} has no face unit at a fixed input size "
                                 f"(face units: {', '.join(n + '/face' for n in FACE_NETS)})")
        return Unit(net, "face")
    layer, sep, channel = rest.partition(":")
    channel, at, reduce = channel.partition("@")
    if layer not in CHANNELS[net]:
        raise ParameterError(f"unit {text!r}: {net} has no layer {layer!r} "
                             f"({did_you_mean(layer, CHANNELS[net])}layers: {faces}{_layers_listing(net)})")
    count = CHANNELS[net][layer]
    if not sep or not channel.isdigit() or int(channel) >= count:
        raise ParameterError(f"unit {text!r}: {net}/{layer} has channels 0-{count - 1} "
                             f"(name one as {net}/{layer}:CHANNEL)")
    reduce = reduce if at else "centre"
    if reduce not in REDUCTIONS:
        raise ParameterError(f"unit {text!r}: unknown reduction {reduce!r} (allowed: @centre, @mean)")
    if layer.startswith("dense") and reduce != "centre":
        raise ParameterError(f"unit {text!r}: {layer} is a dense layer; its units have no map to average")
    return Unit(net, layer, int(channel), reduce)
