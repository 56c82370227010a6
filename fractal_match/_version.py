"""The installed version (its own module, so that any module can read it without importing the package's API)."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("fractal-match")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
