"""Figures built with matplotlib's object-oriented API (no pyplot, no global state)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..atomic import write_atomic
from ..engine._methods import METHOD_INFO, Match


#: Longest side an array is drawn at: panels are a few hundred pixels wide, and full-size rasters
#: would only make the files (SVG above all) large. Coordinates are kept through `extent`.
DISPLAY_MAX_SIDE = 320


def _shrink(array: np.ndarray):
    """`array` downsampled for drawing (area average) and the extent that keeps pixel coordinates."""
    h, w = array.shape[:2]
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    scale = DISPLAY_MAX_SIDE / max(h, w)
    if scale >= 1:
        return array, extent
    import cv2

    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if np.ma.isMaskedArray(array):
        data = cv2.resize(np.ma.getdata(array).astype(np.float32), size, interpolation=cv2.INTER_AREA)
        hidden = cv2.resize(np.ma.getmaskarray(array).astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
        return np.ma.masked_array(data, mask=hidden), extent
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA), extent


def _display(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """An image ready for imshow (uint16/float stretched to [0, 1]) and its colormap."""
    if image.dtype != np.uint8:
        image = image.astype(np.float64)
        low, high = float(image.min()), float(image.max())
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return image, ("gray" if image.ndim == 2 else None)


def _is_flat(values: np.ndarray, degenerate: np.ndarray | None) -> bool:
    """Whether every defined position of a map has the same score (all tie)."""
    defined = values if degenerate is None else values[~np.asarray(degenerate, bool)]
    defined = defined[np.isfinite(defined)]
    if defined.size == 0:
        return True
    low, high = float(defined.min()), float(defined.max())
    return high - low <= 1e-6 * max(abs(low), abs(high), 1e-30)


def _no_axes(ax: Axes) -> None:
    """A picture panel: its frame, no ticks. Hiding the axis objects also spares drawing them and
    measuring them when the title is placed."""
    ax.xaxis.set_visible(False)
    ax.yaxis.set_visible(False)


def plot_response(ax: Axes, response: np.ndarray, method: str, match: Match | None = None,
                  degenerate: np.ndarray | None = None):
    """Draw a raw response map with a colour bar and the best position marked; returns the image.

    Degenerate positions (see :mod:`fractal_match.engine.matching`) are shown in light grey and left out
    of the colour scale, so a few undefined windows do not flatten the picture. A map whose
    defined positions all tie says so on the panel. The marker is never clipped at the border.
    """
    info = METHOD_INFO[method]
    cmap = matplotlib.colormaps["viridis_r" if info.lower_is_better else "viridis"].with_extremes(bad="lightgrey")
    shown_values = np.ma.masked_array(response, mask=degenerate) if degenerate is not None else response
    shown_values, extent = _shrink(shown_values)
    shown = ax.imshow(shown_values, cmap=cmap, interpolation="nearest", extent=extent)
    # the bar in an inset beside the map: no layout engine has to make room for it
    bar = ax.figure.colorbar(shown, cax=ax.inset_axes([1.03, 0.0, 0.05, 1.0]))
    formatter = bar.ax.yaxis.get_major_formatter()
    if isinstance(formatter, matplotlib.ticker.ScalarFormatter):
        formatter.set_useOffset(False)  # tick labels are the scores themselves, never "1e-7+1"
    bar.ax.tick_params(labelsize=7)
    if _is_flat(np.asarray(response), degenerate):
        ax.text(0.5, 0.5, "flat: every position ties", transform=ax.transAxes, ha="center", va="center",
                fontsize=9, color="black", bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 2})
    if match is not None:
        ax.plot([match.x], [match.y], marker="+", color="red", markersize=14, markeredgewidth=2, clip_on=False,
                zorder=5)
    _no_axes(ax)
    return shown


def plot_detection(ax: Axes, target: np.ndarray, box, score: float | None = None, truth=None):
    """Draw the target with the detected (x, y, w, h) box, its score, and optionally the true box."""
    image, cmap = _display(target)
    image, extent = _shrink(image)
    ax.imshow(image, cmap=cmap, interpolation="nearest", extent=extent)
    if truth is not None:
        ax.add_patch(Rectangle((truth[0] - 0.5, truth[1] - 0.5), truth[2], truth[3],
                               fill=False, edgecolor="deepskyblue", linewidth=1.5, linestyle="--"))
    patch = Rectangle((box[0] - 0.5, box[1] - 0.5), box[2], box[3], fill=False, edgecolor="red", linewidth=2)
    ax.add_patch(patch)
    if score is not None:
        ax.text(box[0], box[1] - 3, f"{score:.4g}", color="white", fontsize=8, va="bottom",
                bbox={"facecolor": "red", "alpha": 0.8, "pad": 1, "edgecolor": "none"})
    _no_axes(ax)
    return patch


def detection_grid(target: np.ndarray, variants: Sequence, methods: Sequence[str],
                   truth=None, title: str | None = None, panel: float = 3.6) -> Figure:
    """The experiment's central figure: one row per method, two panels per template variant.

    A header row shows each variant's template. Then for each method and variant: the raw
    response map (colour bar, best position marked) and the target with the detected box.
    `panel` is a panel's width in inches. The layout is fixed in inches (titles above each
    panel, the colour bar beside its map): no layout engine runs at save time, which made
    drawing the figure several times slower than drawing its panels.
    """
    columns = 2 * len(variants)
    rows = 1 + len(methods)
    # heights in inches: each row as tall as its pictures at the panel's width, plus a gap for
    # the two-line titles
    aspect = min(max(target.shape[0] / target.shape[1], 0.35), 1.2)
    heights = [0.62 * panel] + [0.72 * panel * aspect] * len(methods)
    gap = 0.5
    title_space = 0.6 if title else 0.1
    width = panel * columns
    height = title_space + sum(heights) + gap * len(methods) + 0.1
    with matplotlib.rc_context({"axes.titley": 1.0, "axes.titlepad": 4.0}):  # titles at a fixed height: none is measured
        return _detection_grid(target, variants, methods, truth, title, columns, rows, heights, gap, title_space, width, height)


def _detection_grid(target, variants, methods, truth, title, columns, rows, heights, gap, title_space, width, height) -> Figure:
    fig = Figure(figsize=(width, height))
    grid = fig.add_gridspec(rows, columns, height_ratios=heights, left=0.1 / width, right=1 - 0.75 / width,
                            bottom=0.1 / height, top=1 - title_space / height, wspace=0.42,
                            hspace=gap / (sum(heights) / rows))
    for v, variant in enumerate(variants):
        ax = fig.add_subplot(grid[0, 2 * v])
        image, cmap = _display(variant.template)
        ax.imshow(image, cmap=cmap, interpolation="nearest")
        ax.set_title(f"template: {variant.name}\n{variant.template.shape[1]}x{variant.template.shape[0]} px", fontsize=10)
        _no_axes(ax)
    for r, method in enumerate(methods, start=1):
        direction = "lower is better" if METHOD_INFO[method].lower_is_better else "higher is better"
        for v, variant in enumerate(variants):
            match = variant.best.get(method)
            ax = fig.add_subplot(grid[r, 2 * v])
            degenerate = getattr(variant.responses, "degenerate", {}).get(method)
            plot_response(ax, variant.responses[method], method, match, degenerate)
            ax.set_title(f"{method} ({direction})\n{variant.name}: response", fontsize=9)
            ax = fig.add_subplot(grid[r, 2 * v + 1])
            h, w = variant.template.shape[:2]
            if match is not None:
                plot_detection(ax, target, (match.x, match.y, w, h), match.score, truth)
            ax.set_title(f"{variant.name}: best at ({match.x}, {match.y})" if match else variant.name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=13, y=1 - 0.12 / height, va="top")
    return fig


def save_figure(fig: Figure, path, metadata: Mapping[str, object] | None = None, dpi: int = 100,
                on_saved=None, svg: bool = False) -> list[Path]:
    """Save `fig` as PNG with text metadata, and with `svg` also as SVG beside it; each file is
    written atomically.

    `path` may carry a suffix or not; returns the paths written. `on_saved()` is called after
    each file (progress). The same figure gives the same bytes (no dates, fixed SVG ids).
    """
    base = Path(path).with_suffix("")
    text = {str(k): v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in (metadata or {}).items()}
    written = []
    formats = [(".png", {"Software": "fractal-match", **text})]
    if svg:
        formats.append((".svg", {"Description": json.dumps(text, sort_keys=True), "Date": None}))
    for suffix, meta in formats:
        buffer = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "fractal-match"}):
            # zlib level 1: a third faster to encode than the default, a tenth larger
            options = {"pil_kwargs": {"compress_level": 1}} if suffix == ".png" else {}
            fig.savefig(buffer, format=suffix[1:], dpi=dpi, metadata=meta, **options)
        written.append(write_atomic(base.with_suffix(suffix), buffer.getvalue()))
        if on_saved is not None:
            on_saved()
    return written


def plot_template(ax: Axes, image: np.ndarray, mask: np.ndarray | None = None):
    """Draw a template; pixels its mask leaves out are shown over black."""
    # templates are float in [0, 1] already: show them on that scale, unstretched
    shown, cmap = (image, "gray" if image.ndim == 2 else None) if image.dtype.kind == "f" else _display(image)
    ax.set_facecolor("black")  # as the detection grids show templates
    if mask is not None:
        rgb = np.repeat(shown[:, :, None], 3, axis=2) if shown.ndim == 2 else shown
        rgb = rgb.astype(np.float64) / (255.0 if rgb.dtype == np.uint8 else 1.0)
        shown, cmap = np.dstack([rgb, np.clip(mask, 0.0, 1.0)]), None
    scale_max = 255 if shown.dtype == np.uint8 else 1
    ax.imshow(shown, cmap=cmap, interpolation="nearest", vmin=0 if cmap else None, vmax=scale_max if cmap else None)
    ax.set_xticks([])
    ax.set_yticks([])


def gallery(kernel_image: np.ndarray, templates: Sequence, title: str | None = None, columns: int | None = None) -> Figure:
    """A contact sheet: the kernel, then every template (anything with .image, .mask, .family).
    Without `columns`, 3 to 6 columns, whichever leaves the fewest empty cells."""
    count = 1 + len(templates)
    if columns is None:
        columns = min(range(6, 2, -1), key=lambda c: (-(-count // c) * c - count, -c)) if count > 3 else count
    rows = -(-count // columns)
    fig = Figure(figsize=(3.0 * columns, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    plot_template(axes[0], kernel_image)
    axes[0].set_title("kernel", fontsize=10)
    for ax, template in zip(axes[1:], templates):
        plot_template(ax, template.image, template.mask)
        ax.set_title(template.family, fontsize=10)
    for ax in axes[count:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=12)
    return fig
