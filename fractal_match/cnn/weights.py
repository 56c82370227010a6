"""MTCNN weights: read from the facenet-pytorch wheel without torch, kept as ``data/cnn/mtcnn.npz``.

The wheel's ``pnet.pt``, ``rnet.pt`` and ``onet.pt`` use torch's legacy serialization: five
pickles in a row (magic number, protocol version, system info, the state dict, the list of
storage keys), then each storage in that order as a little-endian int64 element count followed by
its raw little-endian elements. The state dict pickle names three globals; :class:`StateDictReader`
resolves exactly those to harmless stand-ins and refuses every other name, so no code named by the
file ever runs and torch is never imported.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._data import DATA_DIR
from .._errors import FractalMatchError

#: The wheel the weights come from: ``pip download facenet-pytorch==2.6.0 --no-deps``.
WHEEL_NAME = "facenet_pytorch-2.6.0-py3-none-any.whl"
WHEEL_SHA256 = "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca"
#: sha256 of each member the import reads (checked before it is parsed).
MEMBER_SHA256 = {
    "pnet": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
NETWORKS = ("pnet", "rnet", "onet")
WEIGHTS_PATH = DATA_DIR / "cnn" / "mtcnn.npz"

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_FLOAT_STORAGE = "torch FloatStorage"


class WeightsError(FractalMatchError):
    """A weights file or wheel is not the expected one, or names something it may not."""


@dataclass
class _Storage:
    key: str
    count: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple

    def array(self) -> np.ndarray:
        data = self.storage.data
        if not self.shape:
            return np.array(data[self.offset], dtype=np.float32)
        needed = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride)) + 1
        if min(self.shape) > 0 and needed > len(data):
            raise WeightsError(f"tensor of shape {self.shape} reaches past its storage ({len(data)} elements)")
        view = np.lib.stride_tricks.as_strided(data[self.offset:], self.shape,
                                               tuple(s * data.itemsize for s in self.stride))
        return np.array(view, dtype=np.float32)


def _rebuild_tensor(storage, offset, shape, stride, *rest):
    if not isinstance(storage, _Storage):
        raise WeightsError("a tensor is not backed by a float storage")
    return _TensorRef(storage, int(offset), tuple(int(n) for n in shape), tuple(int(s) for s in stride))


class _FloatStorageTag:
    """Stands in for ``torch.FloatStorage`` in persistent ids; nothing is ever called on it."""


class StateDictReader(pickle.Unpickler):
    """Unpickles a legacy torch state dict with an allow-list of three names.

    ``collections.OrderedDict`` is the real class; ``torch._utils._rebuild_tensor_v2`` becomes a
    function that records (storage, offset, shape, stride); ``torch.FloatStorage`` a tag. Any
    other global is refused with :class:`WeightsError`, naming it.
    """

    ALLOWED = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch", "FloatStorage"): _FloatStorageTag,
    }

    def __init__(self, file, where: str):
        super().__init__(file)
        self.where = where
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in self.ALLOWED)
            raise WeightsError(f"{self.where}: refuses to load the global {module}.{name} "
                               f"(allowed: {allowed})") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise WeightsError(f"{self.where}: unexpected persistent id {pid!r:.60}")
        kind, key, count = pid[1], str(pid[2]), int(pid[4])
        if kind is not _FloatStorageTag:
            raise WeightsError(f"{self.where}: storage {key} is not a float storage")
        storage = self.storages.setdefault(key, _Storage(key, count))
        return storage


class _NoGlobals(pickle.Unpickler):
    """Unpickles plain data only: every global is refused."""

    def __init__(self, file, where: str):
        super().__init__(file)
        self.where = where

    def find_class(self, module, name):
        raise WeightsError(f"{self.where} names the global {module}.{name} (allowed: none)")


def read_legacy_state_dict(raw: bytes, where: str) -> "OrderedDict[str, np.ndarray]":
    """Parse a legacy torch state-dict file (bytes) into float32 arrays, without torch."""
    stream = io.BytesIO(raw)

    def plain(what):
        reader = _NoGlobals(stream, f"{where}: the {what}")
        try:
            return reader.load()
        except WeightsError:
            raise
        except Exception as error:
            raise WeightsError(f"{where}: cannot read the {what}: {type(error).__name__}: {error}") from None

    if plain("magic number") != _LEGACY_MAGIC:
        raise WeightsError(f"{where}: not a legacy torch file (wrong magic number)")
    plain("protocol version")
    info = plain("system info")
    if not (isinstance(info, dict) and info.get("little_endian") is True):
        raise WeightsError(f"{where}: only little-endian files are supported")
    reader = StateDictReader(stream, where)
    try:
        state = reader.load()
    except WeightsError:
        raise
    except Exception as error:
        raise WeightsError(f"{where}: cannot read the state dict: {type(error).__name__}: {error}") from None
    keys = plain("storage key list")
    if not isinstance(state, OrderedDict) or not isinstance(keys, list):
        raise WeightsError(f"{where}: expected a state dict and a storage key list")
    for key in keys:
        storage = reader.storages.get(str(key))
        if storage is None:
            raise WeightsError(f"{where}: storage key {key} is not used by the state dict")
        header = stream.read(8)
        if len(header) != 8:
            raise WeightsError(f"{where}: the file ends before storage {key}")
        count = int.from_bytes(header, "little", signed=True)
        if count != storage.count:
            raise WeightsError(f"{where}: storage {key} holds {count} elements, the state dict says {storage.count}")
        payload = stream.read(4 * count)
        if len(payload) != 4 * count:
            raise WeightsError(f"{where}: the file ends inside storage {key}")
        storage.data = np.frombuffer(payload, dtype="<f4")
    if stream.read(1):
        raise WeightsError(f"{where}: unexpected bytes after the last storage")
    arrays = OrderedDict()
    for name, value in state.items():
        if not isinstance(value, _TensorRef) or value.storage.data is None:
            raise WeightsError(f"{where}: entry {name!r} is not a stored tensor")
        arrays[str(name)] = value.array()
    return arrays


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def import_wheel(wheel, out=None) -> Path:
    """Read the three networks from the facenet-pytorch wheel (hash-checked) and write them as
    one float32 ``.npz`` (keys ``pnet/conv1.weight``, ...) atomically. Returns the written path."""
    wheel = Path(wheel)
    out = Path(out) if out is not None else WEIGHTS_PATH
    try:
        raw = wheel.read_bytes()
    except OSError as error:
        raise WeightsError(f"{wheel}: cannot read ({error.strerror or error})") from None
    digest = _sha256(raw)
    if digest != WHEEL_SHA256:
        raise WeightsError(f"{wheel}: sha256 {digest[:16]}... is not that of {WHEEL_NAME} "
                           f"({WHEEL_SHA256[:16]}...; get it with `pip download facenet-pytorch==2.6.0 --no-deps`)")
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for net in NETWORKS:
            member = f"facenet_pytorch/data/{net}.pt"
            try:
                data = archive.read(member)
            except KeyError:
                raise WeightsError(f"{wheel}: has no {member}") from None
            expected = MEMBER_SHA256[net]
            if _sha256(data) != expected:
                raise WeightsError(f"{wheel}: {member} has sha256 {_sha256(data)[:16]}..., expected {expected[:16]}...")
            for name, array in read_legacy_state_dict(data, f"{wheel.name}:{member}").items():
                arrays[f"{net}/{name}"] = array
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with open(partial, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    partial.replace(out)
    return out


def load_weights(path=None) -> dict[str, np.ndarray]:
    """The imported weights (``pnet/conv1.weight`` -> float32 array). A plain ``.npz`` holds no
    code: it is read with ``allow_pickle=False``."""
    path = Path(path) if path is not None else WEIGHTS_PATH
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key].astype(np.float32) for key in archive.files}
    except (OSError, ValueError) as error:
        raise WeightsError(f"{path}: cannot read the MTCNN weights ({error}); "
                           "re-create them with `fractal-match import-mtcnn WHEEL`") from None
