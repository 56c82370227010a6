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
import math
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..._data import DATA_DIR
from ..._errors import FractalMatchError
from ...atomic import write_atomic

#: The wheel the weights come from: ``pip download facenet-pytorch==2.6.0 --no-deps``.
WHEEL_NAME = "facenet_pytorch-2.6.0-py3-none-any.whl"
WHEEL_SHA256 = "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca"
#: sha256 of each member the import reads (checked before it is parsed).
MEMBER_SHA256 = {
    "pnet": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
#: Each network's layers with their weight shapes (biases are (out,)); PReLU slopes are (channels,).
SHAPES = {
    "pnet": {"conv1": (10, 3, 3, 3), "prelu1": (10,), "conv2": (16, 10, 3, 3), "prelu2": (16,),
             "conv3": (32, 16, 3, 3), "prelu3": (32,), "conv4_1": (2, 32, 1, 1), "conv4_2": (4, 32, 1, 1)},
    "rnet": {"conv1": (28, 3, 3, 3), "prelu1": (28,), "conv2": (48, 28, 3, 3), "prelu2": (48,),
             "conv3": (64, 48, 2, 2), "prelu3": (64,), "dense4": (128, 576), "prelu4": (128,),
             "dense5_1": (2, 128), "dense5_2": (4, 128)},
    "onet": {"conv1": (32, 3, 3, 3), "prelu1": (32,), "conv2": (64, 32, 3, 3), "prelu2": (64,),
             "conv3": (64, 64, 3, 3), "prelu3": (64,), "conv4": (128, 64, 2, 2), "prelu4": (128,),
             "dense5": (256, 1152), "prelu5": (256,), "dense6_1": (2, 256), "dense6_2": (4, 256),
             "dense6_3": (10, 256)},
}


def expected_arrays() -> dict[str, tuple]:
    """Every array the three networks need (``onet/conv1.weight`` -> shape): 50 of them."""
    found = {}
    for net, layers in SHAPES.items():
        for layer, shape in layers.items():
            found[f"{net}/{layer}.weight"] = shape
            if not layer.startswith("prelu"):
                found[f"{net}/{layer}.bias"] = shape[:1]
    return found

WEIGHTS_PATH = DATA_DIR / "cnn" / "mtcnn.npz"

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class WeightsError(FractalMatchError):
    """A weights file or wheel is not the expected one, or names something it may not."""


class _BuildRefused(Exception):
    """Raised by a stand-in asked to change (a pickle BUILD); the reader names the file."""


class _Inert:
    """Base of the reader's stand-ins: a pickle may not change them (its BUILD is refused)."""

    __slots__ = ()

    def __setstate__(self, state):
        raise _BuildRefused()


class _Storage(_Inert):
    __slots__ = ("key", "count", "data")

    def __init__(self, key: str, count: int):
        self.key, self.count, self.data = key, count, None


class _FloatStorageTag(_Inert):
    """Stands in for ``torch.FloatStorage`` in persistent ids; nothing is ever called on it."""

    __slots__ = ()


_FLOAT_STORAGE_TAG = _FloatStorageTag()


def _whole(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WeightsError(f"a tensor's {what} is {type(value).__name__}, not an integer")
    return value


def _rebuild_tensor(storage, offset, shape, stride, *rest):
    """Stands in for ``torch._utils._rebuild_tensor_v2``: records the view as a tuple (which no
    later pickle instruction can change); nothing is read until every storage is loaded."""
    if not isinstance(storage, _Storage):
        raise WeightsError("a tensor is not backed by a float storage")
    if not isinstance(shape, tuple) or not isinstance(stride, tuple) or len(shape) != len(stride):
        raise WeightsError("a tensor's shape and stride are not tuples of one length")
    return ("tensor", storage, _whole(offset, "offset"), tuple(_whole(n, "shape") for n in shape),
            tuple(_whole(s, "stride") for s in stride))


#: More dimensions than any tensor of the networks has (numpy allows 64).
MAX_DIMENSIONS = 8


def _tensor_array(ref: tuple, name: str, where: str) -> np.ndarray:
    """The float32 array a recorded view selects, after checking that it stays inside its storage:
    no negative offset, size or stride, no more elements than the storage holds, every index below
    its length. Elements are gathered by index (numpy checks the bounds once more)."""
    _, storage, offset, shape, stride = ref
    data = storage.data
    size = math.prod(shape)  # Python integers: a crafted shape cannot wrap around to a small count
    numbers = (offset, *shape, *stride)
    if (len(shape) > MAX_DIMENSIONS or any(v < 0 or v > max(len(data), 1) for v in numbers)
            or size > len(data)):  # every real offset, side and stride indexes into the storage
        raise WeightsError(f"{where}: entry {name!r} has an impossible view (offset {offset}, shape {shape}, "
                           f"stride {stride}) of a storage of {len(data)} elements")
    if size == 0:  # no element to read
        return np.zeros(shape, np.float32)
    last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
    if last >= len(data):
        raise WeightsError(f"{where}: entry {name!r} reaches past its storage ({len(data)} elements)")
    index = np.full(shape, offset, dtype=np.int64)
    for axis, (n, s) in enumerate(zip(shape, stride)):
        index += (np.arange(n, dtype=np.int64) * s).reshape((-1,) + (1,) * (len(shape) - axis - 1))
    return data[index].astype(np.float32)


class StateDictReader(pickle.Unpickler):
    """Unpickles a legacy torch state dict with an allow-list of three names.

    ``collections.OrderedDict`` is the real class; ``torch._utils._rebuild_tensor_v2`` becomes a
    function that records (storage, offset, shape, stride) in a tuple; ``torch.FloatStorage`` an
    inert tag. Any other global is refused with :class:`WeightsError`, naming it.
    """

    ALLOWED = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch", "FloatStorage"): _FLOAT_STORAGE_TAG,
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
        kind, key, count = pid[1], str(pid[2]), pid[4]
        if kind is not _FLOAT_STORAGE_TAG or isinstance(count, bool) or not isinstance(count, int) or count < 0:
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
    except _BuildRefused:
        raise WeightsError(f"{where}: the file tries to change an object it did not make (a pickle BUILD of "
                           "a storage or tensor)") from None
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
        if not (isinstance(value, tuple) and len(value) == 5 and value[0] == "tensor" and value[1].data is not None):
            raise WeightsError(f"{where}: entry {name!r} is not a stored tensor")
        arrays[str(name)] = _tensor_array(value, str(name), where)
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
        for net in SHAPES:
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
    _check_arrays(arrays, wheel)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    try:
        return write_atomic(out, buffer.getvalue())
    except FractalMatchError as error:
        raise WeightsError(str(error)) from None


def load_weights(path=None) -> dict[str, np.ndarray]:
    """The imported weights (``pnet/conv1.weight`` -> float32 array). A plain ``.npz`` holds no
    code: it is read with ``allow_pickle=False``."""
    path = Path(path) if path is not None else WEIGHTS_PATH
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key].astype(np.float32) for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise WeightsError(f"{path}: cannot read the MTCNN weights ({type(error).__name__}: {error}); "
                           "re-create them with `fractal-match import-mtcnn WHEEL`") from None
    _check_arrays(arrays, path)
    return arrays


def _check_arrays(arrays: dict, where) -> None:
    """Every array the networks need, in its shape, and nothing else."""
    expected = expected_arrays()
    missing = [key for key in expected if key not in arrays]
    extra = [key for key in arrays if key not in expected]
    wrong = [f"{key} {arrays[key].shape} (expected {expected[key]})" for key in expected
             if key in arrays and arrays[key].shape != expected[key]]
    if missing or extra or wrong:
        detail = "; ".join(part for part in (
            f"missing {', '.join(missing[:3])}" if missing else "", f"unexpected {', '.join(extra[:3])}" if extra else "",
            f"wrong shape {', '.join(wrong[:2])}" if wrong else "") if part)
        raise WeightsError(f"{where}: not the MTCNN weights: {detail}")
