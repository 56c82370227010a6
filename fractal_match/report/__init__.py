"""Figures and reports. The only part of the package that imports matplotlib.

Names load on first use (``from fractal_match.report import make_report``), so importing one
part, such as :mod:`fractal_match.report.figures` for a single-image figure, does not import the
report builder and the batch-run modules it reads runs with.
"""

_NAMES = {"make_report": "build", "detection_grid": "figures", "plot_detection": "figures",
          "plot_response": "figures", "save_figure": "figures"}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module 'fractal_match.report' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{_NAMES[name]}", __name__), name)
    globals()[name] = value
    return value
