"""Registries that other packages can extend through entry points.

A registry is a read-only mapping from names to entries: the built-in ones, plus the entries of
installed packages that declare an entry point in the registry's group. Plug-ins are loaded on
first use, so a plain import stays cheap, and a plug-in that cannot be loaded or gives the wrong
kind of object is one clear error naming the plug-in.

A plug-in package declares, in its pyproject.toml::

    [project.entry-points."fractal_match.families"]
    spiral = "my_package:SPIRAL"          # a Family, a list of them, or a function returning either
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Callable, Iterator

from ._errors import ParameterError, unknown_name


def _package(point) -> dict:
    """{"package", "version"} of the distribution that declares the entry point `point`."""
    dist = getattr(point, "dist", None)  # None when the entry point was not read from an installed distribution
    try:
        name, version = (dist.name, dist.version) if dist is not None else (None, None)
    except Exception:  # noqa: BLE001 - metadata a broken install cannot give: say so, never fail
        name = version = None
    return {"package": name or "unknown", "version": version or "unknown"}


class Registry(Mapping):
    """Name -> entry, built-ins first, then plug-ins from the entry-point `group`.

    `kind` is the class every entry must be; `name_of` reads an entry's name; `reserved` lists
    names that no plug-in may take.
    """

    def __init__(self, what: str, group: str, kind: type, name_of: Callable, reserved: tuple[str, ...] = ()):
        self.what, self.group, self.kind, self.name_of, self.reserved = what, group, kind, name_of, reserved
        self._entries: dict = {}
        self._plugins: dict[str, str] = {}  # name -> entry point that gave it
        self._packages: dict[str, dict] = {}  # name -> {"package", "version"} of the plug-in's distribution
        self._loaded = False
        self._error: ParameterError | None = None  # the first broken plug-in, raised on every use

    def add(self, entry, source: str = "built-in", package: dict | None = None) -> None:
        """Register `entry`; a name that is taken (or reserved) is an error naming both sources.
        `package` is the plug-in's distribution ({"package": name, "version": version})."""
        if not isinstance(entry, self.kind):
            raise ParameterError(f"{source}: gives {type(entry).__name__} (allowed: a {self.kind.__name__}, "
                                 f"or a list of them, for {self.group})")
        name = self.name_of(entry)
        if not isinstance(name, str) or not name or name in self.reserved or name in self._entries:
            holder = self._plugins.get(name, "built-in")
            raise ParameterError(f"{source}: {self.what} name {name!r} is taken by {holder} "
                                 f"(taken: {', '.join([*self._entries, *self.reserved])})")
        self._entries[name] = entry
        if source != "built-in":
            self._plugins[name] = source
            self._packages[name] = package or {"package": "unknown", "version": "unknown"}

    def _load(self) -> None:
        """Load every plug-in once. A broken one does not hide the others: all are tried, and
        the first failure is raised on this and every later use (never a partial registry)."""
        if not self._loaded:
            self._loaded = True
            for point in sorted(entry_points(group=self.group), key=lambda p: p.name):
                source = f"plug-in {point.name!r} ({point.value}, entry point group {self.group})"
                try:
                    found = point.load()
                    if callable(found) and not isinstance(found, self.kind):
                        found = found()
                    for entry in found if isinstance(found, (list, tuple)) else (found,):
                        self.add(entry, source, _package(point))
                except ParameterError as exc:
                    self._error = self._error or exc
                except Exception as exc:  # a broken plug-in: say which, never a traceback
                    self._error = self._error or ParameterError(
                        f"{source}: cannot be loaded ({type(exc).__name__}: {exc})")
        if self._error is not None:
            raise self._error

    def call(self, name: str, what: str, function: Callable, *args, **kwargs):
        """Call a plug-in entry's `function`; anything it raises becomes one line naming the plug-in
        (a built-in's errors pass through unchanged)."""
        try:
            return function(*args, **kwargs)
        except ParameterError:
            raise
        except Exception as exc:  # noqa: BLE001 - plug-in code: any failure is one line
            source = self.plugin_source(name)
            if source is None:
                raise
            raise ParameterError(f"{source}: {what} failed ({type(exc).__name__}: {exc})") from None

    def plugin_source(self, name: str) -> str | None:
        """The entry point that gave `name`, or None for a built-in."""
        self._load()
        return self._plugins.get(name)

    def package(self, name: str) -> dict | None:
        """The distribution that installed the plug-in entry `name`, as {"package": its name,
        "version": its version} ("unknown" where the metadata does not say), or None for a built-in."""
        self._load()
        return dict(self._packages[name]) if name in self._packages else None

    def unknown(self, name: str) -> ParameterError:
        """The error for a name that is not registered, listing the ones that are."""
        return ParameterError(unknown_name(self.what, name, self))

    def __getitem__(self, name: str):
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __contains__(self, name) -> bool:
        self._load()
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.group}: {', '.join(self)})"
