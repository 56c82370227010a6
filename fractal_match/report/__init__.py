"""Figures and reports. The only part of the package that imports matplotlib."""

from .figures import detection_grid, plot_detection, plot_response, save_figure

__all__ = ["detection_grid", "plot_detection", "plot_response", "save_figure"]

from .build import make_report  # noqa: E402

__all__.append("make_report")
