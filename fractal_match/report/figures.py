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
        from matplotlib import patheffects

        outline = [patheffects.Stroke(linewidth=4, foreground=np.array(_OUTLINE) / 255), patheffects.Normal()]
        ax.plot([match.x], [match.y], marker="+", color=np.array(_CROSS) / 255, markersize=14, markeredgewidth=2,
                clip_on=False, zorder=5, path_effects=outline)
    _no_axes(ax)
    return shown


def plot_detection(ax: Axes, target: np.ndarray, box, score: float | None = None, truth=None,
                   hit: bool | None = None):
    """Draw the target with the detected (x, y, w, h) box, its score, and optionally the true box
    (dashed blue). The box is green for a hit, red for a miss and magenta when `hit` is None."""
    image, cmap = _display(target)
    image, extent = _shrink(image)
    ax.imshow(image, cmap=cmap, interpolation="nearest", extent=extent)
    if truth is not None:
        ax.add_patch(Rectangle((truth[0] - 0.5, truth[1] - 0.5), truth[2], truth[3],
                               fill=False, edgecolor="deepskyblue", linewidth=1.5, linestyle="--"))
    colour = np.array(_UNJUDGED if hit is None else _HIT if hit else _MISS) / 255
    patch = Rectangle((box[0] - 0.5, box[1] - 0.5), box[2], box[3], fill=False, edgecolor=colour, linewidth=2)
    ax.add_patch(patch)
    if score is not None:
        ax.text(box[0], box[1] - 3, f"{score:.4g}", color="white", fontsize=8, va="bottom",
                bbox={"facecolor": colour, "alpha": 0.85, "pad": 1, "edgecolor": "none"})
    _no_axes(ax)
    return patch


#: pixels per inch of the detection grid: its layout is in pixels and :func:`save_figure` writes at 100 dpi
GRID_DPI = 100
#: One meaning per colour in every figure: green a hit, red a miss, magenta a detection nobody
#: judged (no true box), dashed blue the true box; the best position on a map is a white cross
#: outlined in black (no colormap of a map uses white).
_MISS = (220, 20, 20)
_HIT = (0, 170, 0)
_UNJUDGED = (220, 0, 220)  # magenta: no line colour of the summary plots
_TRUTH = (0, 191, 255)  # deepskyblue
_CROSS, _OUTLINE = (255, 255, 255), (0, 0, 0)
_UNDEFINED = (211, 211, 211)  # lightgrey


def _fit(shape, width: int, height: int) -> tuple[int, int]:
    """(w, h) of a picture of `shape` scaled to fit in width x height, aspect kept."""
    h, w = shape[:2]
    scale = min(width / w, height / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    shrink = size[0] < image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_NEAREST)


def _rgb(image: np.ndarray) -> np.ndarray:
    """uint8 RGB of a picture (uint16/float stretched like :func:`_display`)."""
    shown, _ = _display(image)
    if shown.dtype != np.uint8:
        shown = np.clip(np.rint(shown * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(shown[:, :, None], 3, axis=2) if shown.ndim == 2 else shown


def _tick_labels(low: float, high: float) -> list[tuple[float, str]]:
    """About five round values in [low, high] and labels just precise enough to tell them apart."""
    ticks = [t for t in matplotlib.ticker.MaxNLocator(5).tick_values(low, high) if low <= t <= high]
    for digits in range(3, 12):
        labels = [f"{t:.{digits}g}" for t in ticks]
        if len(set(labels)) == len(labels):
            return list(zip(ticks, labels))
    return list(zip(ticks, labels))


def _dashed_rectangle(canvas: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour, dash: int = 6) -> None:
    import cv2

    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    for (ax, ay), (bx, by) in zip(corners, corners[1:]):
        length = max(abs(bx - ax), abs(by - ay))
        for start in np.arange(0.0, length, 2 * dash):
            end = min(start + dash, length)
            p = (int(round(ax + (bx - ax) * start / max(length, 1e-9))), int(round(ay + (by - ay) * start / max(length, 1e-9))))
            q = (int(round(ax + (bx - ax) * end / max(length, 1e-9))), int(round(ay + (by - ay) * end / max(length, 1e-9))))
            cv2.line(canvas, p, q, colour, 2)


class _Grid:
    """A figure drawn as one raster: panels are pasted into a pixel canvas (maps coloured by
    their colormap, boxes and markers drawn into the pixels) and only the words are matplotlib
    text. Drawing it costs about one image and a few dozen labels, whatever the panel count."""

    def __init__(self, width: int, height: int):
        self.canvas = np.full((height, width, 3), 255, np.uint8)
        self.texts: list[tuple] = []  # (x px, y px, text, options)

    def text(self, x: float, y: float, text: str, **options) -> None:
        self.texts.append((x, y, text, options))

    def paste(self, picture: np.ndarray, x: int, y: int) -> None:
        """`picture` with its top-left corner at (x, y) and a thin black frame around it; the
        layout leaves a margin, so the frame is inside the canvas."""
        h, w = picture.shape[:2]
        self.canvas[y:y + h, x:x + w] = picture
        height, width = self.canvas.shape[:2]
        top, bottom, left, right = max(y - 1, 0), min(y + h, height - 1), max(x - 1, 0), min(x + w, width - 1)
        self.canvas[top:bottom + 1, [left, right]] = 0
        self.canvas[[top, bottom], left:right + 1] = 0

    def figure(self, title: str | None) -> Figure:
        height, width = self.canvas.shape[:2]
        fig = Figure(figsize=(width / GRID_DPI, height / GRID_DPI), dpi=GRID_DPI)
        opaque = np.full(self.canvas.shape[:2] + (1,), 255, np.uint8)  # RGBA: drawn without a conversion
        fig.figimage(np.concatenate([self.canvas, opaque], axis=2), xo=0, yo=0, origin="upper", resize=False)
        for x, y, text, options in self.texts:
            fig.text(x / width, 1 - y / height, text, **options)
        if title:  # smaller type for a title too long for the figure (about 0.6 em a character)
            fit = (width - 20) / (0.6 * len(title)) * 72 / GRID_DPI
            fig.text(0.5, 1 - 8 / height, title, ha="center", va="top", fontsize=max(7.0, min(13.0, fit)))
        return fig


def _map_panel(grid: _Grid, response: np.ndarray, method: str, match: Match | None, degenerate, x: int, y: int,
               size: tuple[int, int], flat: bool = False) -> None:
    """A response map in its colormap (undefined windows light grey), the best position marked
    with a white cross, and a colour bar with its scores to the right."""
    import cv2

    info = METHOD_INFO[method]
    cmap = matplotlib.colormaps["viridis_r" if info.lower_is_better else "viridis"]
    values = np.asarray(response, np.float64)
    defined = np.isfinite(values) if degenerate is None else np.isfinite(values) & ~np.asarray(degenerate, bool)
    low, high = (float(values[defined].min()), float(values[defined].max())) if defined.any() else (0.0, 1.0)
    flat = flat or _is_flat(values, degenerate)
    scaled = np.zeros(values.shape) if flat or high <= low else (np.where(defined, values, low) - low) / (high - low)
    colours = cmap(scaled, bytes=True)[:, :, :3].copy()
    colours[~defined] = _UNDEFINED
    grid.paste(_resized(colours, size), x, y)
    w, h = size
    if match is not None:
        cx = int(round(x + (match.x + 0.5) * w / values.shape[1]))
        cy = int(round(y + (match.y + 0.5) * h / values.shape[0]))
        for colour, thickness in ((_OUTLINE, 4), (_CROSS, 2)):
            cv2.line(grid.canvas, (cx - 8, cy), (cx + 8, cy), colour, thickness)
            cv2.line(grid.canvas, (cx, cy - 8), (cx, cy + 8), colour, thickness)
    bar_x = x + w + 6
    strip = cmap(np.linspace(1.0, 0.0, h)[:, None].repeat(10, axis=1), bytes=True)[:, :, :3]
    grid.paste(strip, bar_x, y)
    if flat or high <= low:
        grid.text(bar_x + 14, y + h / 2, f"{low:.6g}", fontsize=7, va="center")
        grid.text(x + w / 2, y + h / 2, "flat: every position ties\n(no detection)", fontsize=9, ha="center", va="center",
                  bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 2})
        return
    for value, label in _tick_labels(low, high):
        ty = y + (high - value) / (high - low) * (h - 1)
        grid.canvas[int(round(ty)), bar_x + 10:bar_x + 13] = 0
        grid.text(bar_x + 15, ty, label, fontsize=7, va="center")


def _detection_panel(grid: _Grid, picture: np.ndarray, shape, box, score: float | None, truth, x: int, y: int,
                     size: tuple[int, int], hit: bool | None = None) -> None:
    """The target with the detected box (its score above it: green a hit, red a miss, magenta when
    not judged) and the true box (dashed blue, drawn over the detected one, so that it shows on an
    exact hit)."""
    import cv2

    grid.paste(picture, x, y)
    fx, fy = size[0] / shape[1], size[1] / shape[0]
    x0, y0 = int(round(x + box[0] * fx)), int(round(y + box[1] * fy))
    x1, y1 = int(round(x + (box[0] + box[2]) * fx)), int(round(y + (box[1] + box[3]) * fy))
    colour = _UNJUDGED if hit is None else _HIT if hit else _MISS
    cv2.rectangle(grid.canvas, (x0, y0), (x1, y1), colour, 2)
    if truth is not None:
        _dashed_rectangle(grid.canvas, x + truth[0] * fx, y + truth[1] * fy, x + (truth[0] + truth[2]) * fx,
                          y + (truth[1] + truth[3]) * fy, _TRUTH)
    if score is not None:
        grid.text(x0, y0 - 3, f"{score:.4g}", color="white", fontsize=8, va="bottom",
                  bbox={"facecolor": np.array(colour) / 255, "alpha": 0.85, "pad": 1, "edgecolor": "none"})


def detection_grid(target: np.ndarray, variants: Sequence, methods: Sequence[str],
                   truth=None, title: str | None = None, panel: float = 3.6, hits: Mapping | None = None) -> Figure:
    """The experiment's central figure: one row per method, two panels per template variant.

    A header row shows each variant's template. Then for each method and variant: the raw
    response map (colour bar, best position marked) and the target with the detected box (and
    the true box dashed, when `truth` (x, y, w, h) is given; with `hits`, {(variant name, method):
    hit or not}, a hit's box is green and a miss's red, and the panel's title says which). `panel` is a panel's width in
    inches. The panels are drawn into one raster (:class:`_Grid`): a grid of 36 panels saves in
    a fraction of a second, where one matplotlib axes per panel took seconds.
    """
    cell = int(round(panel * GRID_DPI))
    top = 44 if title else 10
    title_height, gap, margin = 34, 14, 10
    map_shape = variants[0].responses[methods[0]].shape if variants and methods else target.shape[:2]
    picture_w = cell - 80  # room for a colour bar and its labels
    aspect = min(max(target.shape[0] / target.shape[1], 0.35), 1.2)
    picture_h = int(round(picture_w * aspect))
    header_h = int(round(0.55 * cell))
    width = 2 * cell * len(variants) + margin
    height = top + (title_height + header_h + gap) + len(methods) * (title_height + picture_h + gap) + margin
    grid = _Grid(width, height)
    target_rgb = _rgb(target)
    shown_target = _resized(target_rgb, _fit(target.shape, picture_w, picture_h))
    for v, variant in enumerate(variants):
        x = margin + 2 * cell * v
        size = _fit(variant.template.shape, cell - 20, header_h)
        grid.text(x, top + title_height - 4,
                  f"template: {variant.name}\n{variant.template.shape[1]}x{variant.template.shape[0]} px",
                  fontsize=10, ha="left", va="bottom")
        grid.paste(_resized(_rgb(variant.template), size), x, top + title_height)
    row_y = top + title_height + header_h + gap
    for method in methods:
        direction = "lower is better" if METHOD_INFO[method].lower_is_better else "higher is better"
        for v, variant in enumerate(variants):
            x = margin + 2 * cell * v
            y = row_y + title_height
            match = variant.best.get(method)
            response = variant.responses[method]
            size = _fit(response.shape, picture_w, picture_h)
            degenerate = getattr(variant.responses, "degenerate", {}).get(method)
            flat = method in getattr(variant, "flat", {})
            _map_panel(grid, response, method, match, degenerate, x, y, size, flat)
            # titles start at their panel's left edge: a long one runs into its own cell's margin,
            # never off the figure
            grid.text(x, y - 4, f"{method} ({direction})\n{variant.name}: response", fontsize=9, ha="left", va="bottom")
            h, w = variant.template.shape[:2]
            x2 = x + cell
            judged = None if hits is None else hits.get((variant.name, method))
            if match is not None:
                _detection_panel(grid, shown_target, target.shape, (match.x, match.y, w, h), match.score, truth, x2, y,
                                 shown_target.shape[1::-1], judged)
            verdict = "" if judged is None else " \u2713 hit" if judged else " \u2717 miss"
            if match is None and flat:
                grid.paste(shown_target, x2, y)
                verdict = " \u2717 miss" if judged is not None else ""
            grid.text(x2, y - 4, f"{variant.name}: best at ({match.x}, {match.y}){verdict}" if match else
                      f"{variant.name}: flat map, no detection{verdict}" if flat else variant.name,
                      fontsize=9, ha="left", va="bottom",
                      color="black" if judged is None else np.array(_HIT if judged else _MISS) / 255)
        row_y += title_height + picture_h + gap
    del map_shape
    return grid.figure(title)


def overflow(fig: Figure) -> tuple[float, float]:
    """How far (inches) what the figure draws reaches past its sides and past its top or bottom:
    a title or label that would be clipped in the saved file. Zero when everything fits."""
    fig.draw_without_rendering()
    box = fig.get_tightbbox()
    width, height = fig.get_size_inches()
    return (max(0.0, -box.x0, box.x1 - width), max(0.0, -box.y0, box.y1 - height))


def fit_to_contents(fig: Figure, tries: int = 4) -> None:
    """Widen (or heighten) a figure laid out by matplotlib until no title, label or legend runs
    off its edges; a figure without a layout engine (the raster grids) places its own words."""
    if fig.get_layout_engine() is None:
        return
    for _ in range(tries):
        wide, tall = overflow(fig)
        if wide < 0.01 and tall < 0.01:
            return
        width, height = fig.get_size_inches()
        fig.set_size_inches(width + 2 * wide + 0.1 * (wide > 0), height + 2 * tall + 0.1 * (tall > 0))


def save_figure(fig: Figure, path, metadata: Mapping[str, object] | None = None, dpi: int = 100,
                on_saved=None, svg: bool = False) -> list[Path]:
    """Save `fig` as PNG with text metadata, and with `svg` also as SVG beside it; each file is
    written atomically.

    `path` may carry a suffix or not; returns the paths written. `on_saved()` is called after
    each file (progress). The same figure gives the same bytes (no dates, fixed SVG ids).
    """
    fit_to_contents(fig)
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
