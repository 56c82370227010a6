"""Error types, and the wording of their messages. Every message is one line that names the input
and what is allowed (and, for a mistyped name, the name it is most like)."""

from __future__ import annotations


class FractalMatchError(Exception):
    """Base class for problems caused by the caller's input (the CLI shows the message, no traceback).

    ``resumable`` marks an error after which a batch command's finished work is kept and
    ``--resume`` continues it (the command line then adds the whole command to the message)."""

    resumable = False


class ImageError(FractalMatchError):
    """An image file cannot be read, written or used."""


class ParameterError(FractalMatchError, ValueError):
    """An argument has a value that is not allowed."""


class DegenerateError(ParameterError):
    """A similarity score is mathematically undefined for these inputs (e.g. a constant template)."""


class FlatMapError(DegenerateError):
    """A response map has no spread: every defined position scores the same, so it points at no
    position (a row says ``flat: ...``; a flat map is never a detection, never a hit)."""


class ConfigError(FractalMatchError):
    """An experiment configuration file is invalid."""


def closest(value: str, allowed, cutoff: float = 0.65) -> str | None:
    """The name in `allowed` most like `value` (difflib's ratio, compared case-insensitively, at
    least `cutoff`), or None when nothing is that close. The cutoff is a little above difflib's
    0.6, which offers 'none' for 'newton'; one wrong letter in three still counts (0.67)."""
    from difflib import get_close_matches

    names = {}
    for name in allowed:
        names.setdefault(str(name).lower(), str(name))
    found = get_close_matches(str(value).lower(), list(names), n=1, cutoff=cutoff)
    return names[found[0]] if found else None


def did_you_mean(value: str, allowed) -> str:
    """``"did you mean 'X'? "`` for the name in `allowed` closest to `value`, or "" when none is
    close. It goes first inside an error's parentheses, before the list of what is allowed::

        f"unknown method {name!r} ({did_you_mean(name, METHODS)}allowed: {', '.join(METHODS)})"

    gives ``unknown method 'TM_CCOEF' (did you mean 'TM_CCOEFF'? allowed: TM_SQDIFF, ...)``, and
    without a close name the message is the same as before. See :func:`unknown_name` for the
    whole message.
    """
    found = closest(value, allowed)
    return "" if found is None else f"did you mean {found!r}? "


def unknown_name(what: str, value: str, allowed, listed: str | None = None) -> str:
    """``"unknown WHAT 'VALUE' (did you mean 'X'? allowed: A, B, C)"``: one line naming the value, a
    close name if there is one, and every allowed name (or `listed`, to describe them otherwise)."""
    allowed = [str(name) for name in allowed]
    return f"unknown {what} {value!r} ({did_you_mean(value, allowed)}allowed: {listed or ', '.join(allowed)})"
