"""fractal-match: does a fractalized feature kernel find its object better than the kernel itself?

The public API, flat:

>>> from fractal_match import match_all, best_match, METHODS, load_image
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("fractal-match")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from ._errors import ConfigError, DegenerateError, FractalMatchError, ImageError, ParameterError
from .geometry import Box, iou
from .images import load_image, read_png_metadata, save_image
from .kernels import Kernel, load_kernel, resize_kernel
from .matching import METHOD_INFO, METHODS, Match, Responses, best_match, find_peaks, match_all, match_many

__all__ = [
    "METHODS", "METHOD_INFO", "Match", "Responses", "match_all", "match_many", "best_match", "find_peaks",
    "load_image", "save_image", "read_png_metadata", "Kernel", "load_kernel", "resize_kernel",
    "Box", "iou", "FractalMatchError", "ImageError", "ParameterError", "DegenerateError", "ConfigError",
    "__version__",
]
