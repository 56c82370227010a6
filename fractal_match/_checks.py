"""Shared input validation (layer 0): every public function checks its arrays here first."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._errors import ImageError, ParameterError

#: Pixel types the matcher accepts. float64 is accepted and narrowed to float32.
ALLOWED_DTYPES = ("uint8", "uint16", "float32", "float64", "bool")

#: Largest image side we agree to allocate for (refuses absurd sizes before allocating).
MAX_SIDE = 32768


def check_image(array, name: str = "image") -> np.ndarray:
    """Return `array` as a 2-D (gray) or 3-D (H, W, C) image, or raise ParameterError.

    Accepts uint8, uint16, float32, float64 (narrowed to float32) and bool (as uint8);
    1 or 3 channels; finite values; at least 1x1 pixel. Never modifies the input.
    """
    array = np.asarray(array)
    if array.dtype.name not in ALLOWED_DTYPES:
        raise ParameterError(
            f"{name}: pixel type {array.dtype.name} is not supported "
            f"(allowed: {', '.join(ALLOWED_DTYPES)})"
        )
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif array.dtype == np.float64:
        array = array.astype(np.float32)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ParameterError(
            f"{name}: shape {array.shape} is not an image "
            "(allowed: (H, W) gray or (H, W, 3) colour)"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ParameterError(f"{name}: image is empty (shape {array.shape})")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ParameterError(f"{name}: contains NaN or Inf values (allowed: finite values only)")
    return array


def check_mask(mask, template_shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    """Return a float32 weight mask of the template's size (1 or the template's channels).

    uint8 and bool masks are binary (non-zero means 1, as in OpenCV); float masks are weights
    that must be finite and >= 0. An all-zero mask is refused: it selects nothing.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    h, w = template_shape[:2]
    channels = template_shape[2] if len(template_shape) == 3 else 1
    if mask.shape[:2] != (h, w) or (mask.ndim == 3 and mask.shape[2] != channels) or mask.ndim > 3:
        allowed = f"({h}, {w})" + (f" or ({h}, {w}, {channels})" if channels > 1 else "")
        raise ParameterError(f"{name}: shape {mask.shape} does not fit the template (allowed: {allowed})")
    if mask.dtype == bool or mask.dtype.kind in "ui":
        weights = (mask != 0).astype(np.float32)
    elif mask.dtype.kind == "f":
        weights = mask.astype(np.float32)
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ParameterError(f"{name}: weights must be finite and >= 0")
    else:
        raise ParameterError(f"{name}: pixel type {mask.dtype.name} is not supported (allowed: bool, uint8, float)")
    if not weights.any():
        raise ParameterError(f"{name}: every weight is zero, so the mask selects no pixel")
    return weights


def check_positive_int(value, what: str, low: int = 1, high: int | None = None) -> int:
    """Return `value` as an int in [low, high], or raise ParameterError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"{what} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f" to {high}"
        raise ParameterError(f"{what} = {value} is out of range (allowed: {low}{upper})")
    return int(value)


def read_toml(path) -> dict:
    """Parse a TOML file, or raise ConfigError naming the file and what is wrong with it."""
    import tomllib
    from pathlib import Path

    from ._errors import ConfigError

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a TOML file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None


def claim_output_dir(out: Path, command: str, owned, overwrite: bool = False) -> bool:
    """An output folder for `command`: new, empty, or an earlier output of the same command (every
    file in it is one the command writes: `owned(name)`). Any other folder is refused in one line
    naming a file it holds, unless `overwrite`. Returns whether the folder is the command's own
    (new, empty or an earlier output): only then may :func:`remove_stale` clear what an earlier
    output left; with `overwrite` into someone else's folder, no file of it is touched."""
    out = check_output_dir(out)
    if not out.is_dir():
        return True
    others = sorted(p.name for p in out.iterdir() if not owned(p.name))
    if others and not overwrite:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise ParameterError(f"{out}: is not empty and not an earlier `{command}` output (it holds {shown}) (allowed: "
                             f"a new or empty folder, an earlier {command} output, or --overwrite to write into it "
                             "anyway)")
    return not others


def remove_stale(out: Path, owned, written) -> list[str]:
    """Remove the files of `out` that the command writes (`owned(name)`) but did not write this
    time (`written`: its paths): a figure of an earlier --svg run, a table a run no longer has."""
    keep = {Path(path).name for path in written}
    removed = []
    for path in sorted(Path(out).iterdir()):
        if path.is_file() and owned(path.name) and path.name not in keep:
            path.unlink()
            removed.append(path.name)
    return removed


def check_output_dir(out: Path) -> Path:
    """Refuse an output folder that is an existing file or cannot be created/written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ImageError(f"{out}: is an existing file (allowed: a folder, new or existing)")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ImageError(f"{out}: cannot be a folder, because {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ImageError(f"{out}: folder is not writable")
    return out
