"""Reading and writing images: any path, clear errors, atomic writes, PNG text metadata.

Colour arrays are RGB (H, W, 3) throughout the library, as in matplotlib and pillow; OpenCV's
BGR order stays inside this module. Matching does not care about channel order as long as
target and template agree.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import zlib
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from ._errors import ImageError, ParameterError
from .atomic import write_atomic

MODES = ("gray", "color", "unchanged")
_SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32)


#: Files that reach a task as bytes instead of by path: {path as the client names it: bytes}, per
#: thread. A Dask worker on another machine gets the client's image files this way
#: (:func:`provided_files`); everything that reads an image goes through :func:`_read_bytes`.
_PROVIDED = threading.local()


@contextmanager
def provided_files(files: dict):
    """Within the block, this thread reads these paths ({path: bytes}) from the given bytes
    instead of the file system (a cluster worker's task, which cannot see the client's files).
    Other threads (tasks running beside it) see only their own."""
    before = getattr(_PROVIDED, "files", None)
    _PROVIDED.files = {str(path): data for path, data in files.items()}
    try:
        yield
    finally:
        _PROVIDED.files = before


def _read_bytes(path: Path) -> bytes:
    provided = (getattr(_PROVIDED, "files", None) or {}).get(str(path))
    if provided is not None:
        return bytes(provided)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise ImageError(f"{path}: file is empty (0 bytes)")
    return data


def _looks_truncated(data: bytes) -> str | None:
    """Name the format when a PNG or JPEG stream is cut short (decoders may half-decode it)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" not in data[-64:]:
        return "PNG"
    if data.startswith(b"\xff\xd8") and b"\xff\xd9" not in data[-64:]:
        return "JPEG"
    return None


def _decode_with_pillow(data: bytes) -> np.ndarray | None:
    """Decode what OpenCV cannot (GIF, palette images, ...), EXIF orientation applied."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            elif img.mode not in ("L", "LA", "RGB", "RGBA", "I;16", "F"):
                img = img.convert("RGBA" if "A" in img.mode else "RGB")
            return np.array(img)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def load_image(path, mode: str = "gray", return_mask: bool = False):
    """Read an image file into an array.

    Parameters
    ----------
    path : str or Path
        Any image OpenCV or pillow can decode (PNG, JPEG, TIFF, BMP, WebP, GIF, ...). EXIF
        orientation is applied.
    mode : {"gray", "color", "unchanged"}
        "gray" gives (H, W), "color" gives (H, W, 3) RGB, "unchanged" keeps what is stored
        (RGBA included). The pixel type is kept: uint8, uint16 or float32.
    return_mask : bool
        Also return the alpha channel as a uint8 mask (255 = opaque), or None without alpha.

    Raises
    ------
    ImageError
        Missing, a directory, empty, truncated, not an image, or an unsupported pixel type;
        the message names the file.
    """
    if mode not in MODES:
        raise ImageError(f"unknown image mode {mode!r} (allowed: {', '.join(MODES)})")
    path = Path(path)
    data = _read_bytes(path)
    truncated = _looks_truncated(data)
    if truncated:
        raise ImageError(f"{path}: {truncated} data is truncated (the file ends early)")
    buffer = np.frombuffer(data, np.uint8)
    # OpenCV applies EXIF orientation for every flag but IMREAD_UNCHANGED; JPEG (where EXIF
    # orientation lives) has no alpha, so it is decoded with orientation, the rest as stored.
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if data.startswith(b"\xff\xd8") else cv2.IMREAD_UNCHANGED
    raw = cv2.imdecode(buffer, flags)
    from_cv = raw is not None
    if raw is None:
        raw = _decode_with_pillow(data)
        if raw is None:
            raise ImageError(f"{path}: not an image, or a format neither OpenCV nor pillow can read")

    if raw.dtype == np.float64:
        raw = raw.astype(np.float32)
    if raw.dtype not in _SUPPORTED_DTYPES:
        raise ImageError(f"{path}: pixel type {raw.dtype.name} is not supported (allowed: uint8, uint16, float32)")
    if raw.size == 0:
        raise ImageError(f"{path}: image has no pixels")
    if raw.dtype == np.float32 and not np.isfinite(raw).all():
        raise ImageError(f"{path}: contains NaN or Inf values (allowed: finite values only)")

    if raw.ndim == 3 and from_cv:
        code = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}.get(raw.shape[2])
        raw = cv2.cvtColor(raw, code) if code is not None else raw
    alpha = raw[:, :, 3] if raw.ndim == 3 and raw.shape[2] == 4 else None
    if raw.ndim == 3 and raw.shape[2] == 2:  # gray + alpha
        alpha = raw[:, :, 1]
        raw = raw[:, :, 0]

    if mode == "unchanged":
        image = raw
    elif mode == "gray":
        image = raw if raw.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(raw[:, :, :3]), cv2.COLOR_RGB2GRAY)
    else:
        image = cv2.cvtColor(raw, cv2.COLOR_GRAY2RGB) if raw.ndim == 2 else np.ascontiguousarray(raw[:, :, :3])

    if not return_mask:
        return image
    mask = None
    if alpha is not None:
        scale = {np.dtype(np.uint8): 1, np.dtype(np.uint16): 257}.get(alpha.dtype)
        mask = (alpha / scale).astype(np.uint8) if scale else np.clip(alpha * 255, 0, 255).astype(np.uint8)
    return image, mask


def _png_text_chunk(key: str, value: str) -> bytes:
    """An iTXt chunk (UTF-8 text, uncompressed) for PNG metadata."""
    body = key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + value.encode("utf-8")
    return struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)


def encode_image(array: np.ndarray, suffix: str, metadata: dict | None = None) -> bytes:
    """Encode an image (RGB order for colour) to bytes of the format named by `suffix`."""
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 3:
        code = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}.get(array.shape[2])
        if code is None:
            raise ImageError(f"cannot write an image with {array.shape[2]} channels (allowed: 1, 3, 4)")
        array = cv2.cvtColor(array, code)
    ok, encoded = cv2.imencode(suffix, array)
    if not ok:
        raise ImageError(f"cannot encode a {array.dtype.name} image as {suffix}")
    data = encoded.tobytes()
    if metadata and suffix.lower() == ".png":
        chunks = b"".join(
            _png_text_chunk(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in metadata.items()
        )
        end = data.rindex(b"IEND") - 4  # the IEND chunk starts with its 4-byte length
        data = data[:end] + chunks + data[end:]
    return data


def save_image(path, array: np.ndarray, metadata: dict | None = None) -> Path:
    """Write an image atomically; for PNG, `metadata` values are stored as text chunks.

    Non-string metadata values are stored as JSON. Colour arrays are RGB (or RGBA).
    """
    path = Path(path)
    suffix = path.suffix.lower() or ".png"
    return write_atomic(path, encode_image(array, suffix, metadata))


def read_png_metadata(path) -> dict[str, str]:
    """The text chunks of a PNG file as a dict (empty when there are none)."""
    from PIL import Image

    data = _read_bytes(Path(path))
    with Image.open(io.BytesIO(data)) as img:
        return dict(getattr(img, "text", {}) or {})


def resize_square(picture: np.ndarray, size: int) -> np.ndarray:
    """A square picture at `size` px: cubic when enlarging, area averaging when shrinking."""
    if picture.shape[0] == size:
        return picture
    interpolation = cv2.INTER_CUBIC if size > picture.shape[0] else cv2.INTER_AREA
    return cv2.resize(picture, (size, size), interpolation=interpolation)


def as_unit_float(image) -> np.ndarray:
    """A kernel picture as float32 in [0, 1] (uint8 / 255, uint16 / 65535, floats clipped)."""
    image = np.asarray(getattr(image, "image", image))
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise ParameterError("kernel contains NaN or Inf values (allowed: finite values only)")
        return np.clip(image, 0.0, 1.0).astype(np.float32)
    raise ParameterError(f"kernel pixel type {image.dtype.name} is not supported (allowed: uint8, uint16, float)")


#: A float image whose values stay within 1 + this is on 0-1 (rounding may overshoot 1 a little).
UNIT_SLACK = 1e-3


def float_scale(image: np.ndarray) -> float:
    """The full scale of a float image: 1 (values within [0, 1 + UNIT_SLACK]) or 255 (up to
    255). A float image beyond 255 has no scale a picture can be put on: ParameterError."""
    top = float(np.max(image)) if image.size else 0.0
    if top <= 1.0 + UNIT_SLACK:
        return 1.0
    if top <= 255.0:
        return 255.0
    raise ParameterError(f"a float image reaching {top:g} has no known value scale (allowed: float images on 0-1 "
                         "or 0-255)")


def on_target_scale(image: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A kernel or template picture on the target's value scale and type (uint8 0-255, uint16
    0-65535, float 0-1 or 0-255: :func:`float_scale`), so the raw methods compare like with like."""
    unit = as_unit_float(image)
    if target.dtype == np.uint8:
        return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)
    if target.dtype == np.uint16:
        return np.clip(np.rint(unit * 65535.0), 0, 65535).astype(np.uint16)
    if target.dtype.kind == "f" and float_scale(target) == 255.0:
        return unit * np.float32(255.0)
    return unit
