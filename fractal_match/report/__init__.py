"""Figures and reports. The only part of the package that imports matplotlib."""

from .build import make_report
from .figures import detection_grid, plot_detection, plot_response, save_figure

__all__ = ["detection_grid", "make_report", "plot_detection", "plot_response", "save_figure"]
