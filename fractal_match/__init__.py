"""fractal-match: does a fractalized feature kernel find its object better than the kernel itself?

A short guide. Match a kernel against a photo with all six OpenCV methods at once::

    >>> from fractal_match import load_image, match_all
    >>> target = load_image(DATA_DIR / "images" / "astronaut.png")
    >>> match_all(target, target[52:164, 172:264]).best("TM_CCOEFF_NORMED")
    Match(x=172, y=52, score=1.0)

Make a fractal of a kernel (any family in ``FAMILIES``; ``fractal-match families`` lists them)::

    >>> from fractal_match import fractalize, load_kernel
    >>> template = fractalize(load_kernel("learned:mean-face"), "orbit-trap", size=64)
    >>> template.image.shape, template.family
    ((64, 64), 'orbit-trap')

Run a batch experiment without the command line (a shipped config by name, or a TOML path)::

    config = load_config("quick")
    summary = run_experiment(config, "results/quick", executor="processes", workers=2)

The package in layers, each importing only those before it: the basics (``images``,
``geometry``, ``datasets``, ``atomic``, ``progress``), ``engine`` (the six maps from one
correlation, peaks, measures), ``templates`` (kernel sources, generator families, visualized CNN
units), ``experiments`` (configs, plans, runs, the run folder), ``search`` (tune and confirm),
``report`` (tables, statistics, figures, the HTML page; imports matplotlib) and ``cli``.
"""

from ._data import DATA_DIR
from ._errors import ConfigError, DegenerateError, FractalMatchError, ImageError, ParameterError
from .engine._methods import METHOD_INFO, METHODS, Match, Responses, best_match, canonical_method
from ._version import __version__
from .experiments.config import Config, load_config
from .templates.fractal import FAMILIES, Family, Param, Template, fractalize
from .geometry import Box, iou
from .images import load_image, read_png_metadata, save_image
from .templates.kernels import KERNEL_SOURCES, Kernel, KernelSource, load_kernel, resize_kernel
from .engine.matching import match_all, match_many
from .engine.peaks import find_peaks
from .experiments.runs import run_experiment

__all__ = [
    "METHODS", "METHOD_INFO", "Match", "Responses", "match_all", "match_many", "best_match", "canonical_method", "find_peaks",
    "fractalize", "FAMILIES", "Family", "Param", "Template",
    "load_kernel", "resize_kernel", "Kernel", "KernelSource", "KERNEL_SOURCES",
    "load_config", "Config", "run_experiment",
    "load_image", "save_image", "read_png_metadata", "Box", "iou", "DATA_DIR",
    "FractalMatchError", "ImageError", "ParameterError", "DegenerateError", "ConfigError", "__version__",
]
