"""Atomic file writes, and the leftovers a kill can make of them.

A file is written to a temporary file in its own folder (``.NAME.XXXXXX.tmp``), flushed, synced
and renamed over NAME, so a reader sees the old file or the new one, never half of one. A kill
between the temporary file's creation and the rename leaves the temporary file behind. Folders
that the tool owns (run folders, tuning folders) know these leftovers as their own and remove them
when they are opened again: :func:`own_leftovers` finds them, :func:`remove_leftovers` removes them.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ._errors import ImageError

#: A temporary file of :func:`write_atomic`: ``.`` + the target's name + ``.`` + the random part
#: of :func:`tempfile.mkstemp` (8 of ``a-z0-9_``; 6 to 8 are taken) + ``.tmp``. A user's
#: ``.config.toml.old.tmp`` is not one.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{6,8}\.tmp$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path, data: bytes) -> Path:
    """Write bytes to `path` through a temporary file in the same folder, then rename."""
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a directory (allowed: a file path)")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ImageError(f"{folder}: cannot write here ({exc.strerror or exc})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ImageError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def temporary_of(name: str) -> str | None:
    """The file name a leftover temporary file `name` was to become, or None if it is not one."""
    found = _TEMPORARY.match(name)
    return found["name"] if found else None


def own_leftovers(folder, files) -> list[Path]:
    """The temporary files in `folder` that :func:`write_atomic` left on its way to one of
    `files` (names), sorted; regular files only."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    wanted = set(files)
    return sorted(p for p in folder.iterdir() if temporary_of(p.name) in wanted and p.is_file() and not p.is_symlink())


def remove_leftovers(folder, files) -> int:
    """Remove :func:`own_leftovers`; how many were removed."""
    removed = 0
    for path in own_leftovers(folder, files):
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed
