"""Summary figures of a run: hit-rate heatmap, hit rate against rotation and scale with Wilson
bands, rotation x scale heatmaps, success curves. Each takes rows from report.tables."""

from __future__ import annotations

from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import offset_copy

from ..engine.metrics import SUCCESS_THRESHOLDS

#: Okabe and Ito's colour-blind-safe colours; with distinct markers and, past eight, a dashed
#: line, so that no two variants look alike even in gray.
_SAFE = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
_DODGE = 3.5  # points between the markers of neighbouring variants at one pose
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")


def _style(index: int) -> dict:
    """Colour, marker and line style of the `index`-th variant."""
    return {"color": _SAFE[index % len(_SAFE)], "marker": _MARKERS[index % len(_MARKERS)],
            "linestyle": "-" if (index // len(_SAFE)) % 2 == 0 else "--"}


def _short(method: str) -> str:
    return method.replace("TM_", "")


def _pooled(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["scale"] == "all" and r["rotation"] == "all" and r["kernel"] == "all"]


def hit_rate_heatmap(rows: list[dict], methods: Sequence[str], variants: Sequence[str],
                     marks: dict | None = None) -> Figure:
    """Hit rate per method (rows) x variant (columns); `marks[(method, variant)]` adds a symbol."""
    pooled = {(r["method"], r["variant"]): r for r in _pooled(rows)}
    grid = np.array([[pooled.get((m, v), {}).get("hit_rate", np.nan) for v in variants] for m in methods])
    # wide enough for the title and the colorbar even with one variant
    fig = Figure(figsize=(max(5.5, 1.0 + 0.95 * len(variants)), 1.2 + 0.55 * len(methods)), layout="constrained")
    ax = fig.subplots()
    shown = ax.imshow(grid, cmap="magma", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(shown, ax=ax, label="hit rate")
    for i, method in enumerate(methods):
        for j, variant in enumerate(variants):
            value = grid[i, j]
            if np.isnan(value):
                continue
            label = f"{value:.2f}{(marks or {}).get((method, variant), '')}"
            ax.text(j, i, label, ha="center", va="center", fontsize=8, color="white" if value < 0.6 else "black")
    ax.set_xticks(range(len(variants)), variants, rotation=40, ha="right")
    ax.set_yticks(range(len(methods)), [_short(m) for m in methods])
    ax.set_title("hit rate per method and variant (all kernels, objects and poses)")
    return fig


def _spread(values: list[float], log: bool = False, parts: int = 12) -> set[float]:
    """The values to label on an axis: the first, then each at least 1/`parts` of the axis
    (in log space for a log axis) past the last one labelled."""
    if not values:
        return set()
    position = np.log2(values) if log else np.asarray(values, float)
    gap = (position[-1] - position[0]) / parts
    chosen, last = {values[0]}, position[0]
    for value, where in zip(values[1:], position[1:]):
        if where - last >= gap:
            chosen.add(value)
            last = where
    return chosen


def hit_rate_curves(rows: list[dict], methods: Sequence[str], variants: Sequence[str], axis: str) -> Figure:
    """Hit rate against `axis` ("rotation" or "scale"), pooled over the other; one panel per
    method (small multiples), one line per variant with its Wilson 95% band. Each variant keeps
    its colour, marker and line style in every panel; the y axis is fitted to the data and every
    pose on the x axis is ticked. Lines with equal rates stay distinguishable: markers are dodged
    sideways by a few points per variant, and earlier lines are drawn wider beneath later ones."""
    from .stats import wilson_interval

    cells = [r for r in rows if r["scale"] != "all"]
    other = "scale" if axis == "rotation" else "rotation"
    columns = min(3, len(methods))
    panels = -(-len(methods) // columns)
    fig = Figure(figsize=(5.2 * columns, 3.9 * panels + 0.4 + 0.3 * -(-len(variants) // 5)), layout="constrained")
    axes = fig.subplots(panels, columns, squeeze=False, sharey=True).ravel()
    top = 0.0
    ticks: set[float] = set()
    for ax, method in zip(axes, methods):
        for index, variant in enumerate(variants):
            pooled: dict[float, list[int]] = {}
            for r in cells:
                if r["method"] == method and r["variant"] == variant:
                    entry = pooled.setdefault(float(r[axis]), [0, 0])
                    entry[0] += r["hits"]
                    entry[1] += r["n"]
            if not pooled:
                continue
            xs = sorted(pooled)
            ticks.update(xs)
            rates = np.array([pooled[x][0] / pooled[x][1] for x in xs])
            bands = np.array([wilson_interval(*pooled[x]) for x in xs])
            top = max(top, float(bands[:, 1].max()))
            style = _style(index)
            # equal rates stay visible: each variant's markers sit a few points to the side of the
            # pose (never above or below it), and lines drawn earlier are wider, so that lines on
            # top of each other show as nested stripes of their colours
            dodge = offset_copy(ax.transData, fig=fig, x=(index - (len(variants) - 1) / 2) * _DODGE, units="points")
            width = 1.2 + 1.8 * (len(variants) - 1 - index) / max(1, len(variants) - 1)
            ax.plot(xs, rates, markersize=5, label=variant, linewidth=width, transform=dodge, **style)
            ax.fill_between(xs, bands[:, 0], bands[:, 1], color=style["color"], alpha=0.08, linewidth=0)
        ax.set_title(_short(method), fontsize=11)
        ax.set_xlabel(axis + (" (degrees)" if axis == "rotation" else " (object size / original)"), fontsize=9)
        ax.grid(alpha=0.3)
    labelled = _spread(sorted(ticks), log=axis == "scale")
    for ax in axes[: len(methods)]:
        if axis == "scale":
            ax.set_xscale("log", base=2)
        # every pose gets a tick; labels only where they do not run into each other
        ax.set_xticks(sorted(ticks), [f"{x:g}" if x in labelled else "" for x in sorted(ticks)], fontsize=8)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.tick_params(axis="y", labelsize=8)
    for ax in axes[::columns]:
        ax.set_ylabel("hit rate", fontsize=9)
    axes[0].set_ylim(-0.01, min(1.0, top * 1.08 + 0.02))  # shared: fitted to the highest band
    for ax in axes[len(methods):]:
        ax.axis("off")
    fig.suptitle(f"hit rate against {axis}, pooled over {other} (bands: Wilson 95%; markers set apart sideways)",
                 fontsize=12)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(5, len(labels)), fontsize=10,
               markerscale=1.3, handlelength=3.0, frameon=False)
    return fig


def _cell(value: float) -> str:
    """A hit rate short enough for a heatmap cell: 0, .04, .33, 1."""
    text = f"{value:.2f}"
    return {"0.00": "0", "1.00": "1"}.get(text, text[1:])


def pose_heatmaps(rows: list[dict], methods: Sequence[str], shown_variants: Sequence[str]) -> Figure:
    """Rotation x scale hit-rate heatmaps: one row per shown variant, one column per method, each
    cell labelled with its hit rate."""
    cells = [r for r in rows if r["scale"] != "all"]
    scales = sorted({float(r["scale"]) for r in cells})
    rotations = sorted({float(r["rotation"]) for r in cells})
    columns = min(3, len(methods))
    per_variant = -(-len(methods) // columns)  # panel rows per shown variant
    width = max(3.2, 0.5 * len(rotations) + 1.0)
    height = 0.42 * len(scales) + 1.2
    fig = Figure(figsize=(width * columns + 1.0, height * per_variant * len(shown_variants) + 0.4), layout="constrained")
    axes = fig.subplots(per_variant * len(shown_variants), columns, squeeze=False)
    shown = None
    step = 1 if len(rotations) <= 10 else 2  # every rotation labelled while the labels fit
    for i, variant in enumerate(shown_variants):
        for j, method in enumerate(methods):
            grid = np.full((len(scales), len(rotations)), np.nan)
            for r in cells:
                if r["method"] == method and r["variant"] == variant:
                    grid[scales.index(float(r["scale"])), rotations.index(float(r["rotation"]))] = r["hit_rate"]
            ax = axes[i * per_variant + j // columns, j % columns]
            shown = ax.imshow(grid, cmap="magma", vmin=0, vmax=1, aspect="auto", origin="lower")
            for (y, x), value in np.ndenumerate(grid):
                if not np.isnan(value):
                    ax.text(x, y, _cell(value), ha="center", va="center", fontsize=8,
                            color="white" if value < 0.6 else "black")
            ax.set_xticks(range(0, len(rotations), step), [f"{v:g}" for v in rotations[::step]], fontsize=9)
            ax.set_yticks(range(len(scales)), [f"{v:g}" for v in scales], fontsize=9)
            ax.set_title(f"{variant}: {_short(method)}", fontsize=10)
            if j % columns == 0:
                ax.set_ylabel("scale", fontsize=9)
            ax.set_xlabel("rotation (degrees)", fontsize=9)
        for j in range(len(methods), per_variant * columns):
            axes[i * per_variant + j // columns, j % columns].axis("off")
    if shown is not None:
        fig.colorbar(shown, ax=axes, label="hit rate", shrink=0.6)
    return fig


def success_curve_figure(curves: dict, methods: Sequence[str], variants: Sequence[str]) -> Figure:
    """Success rate over IoU thresholds per method (pairs datasets), AUC in the legend."""
    columns = min(3, len(methods))
    panels = -(-len(methods) // columns)
    fig = Figure(figsize=(5.0 * columns, 3.4 * panels), layout="constrained")
    axes = fig.subplots(panels, columns, squeeze=False).ravel()
    for ax, method in zip(axes, methods):
        for index, variant in enumerate(variants):
            curve = curves.get((method, variant))
            if curve is None:
                continue
            style = {**_style(index), "marker": None}  # the curves are dense: colour and dashes only
            ax.plot(SUCCESS_THRESHOLDS, curve, label=f"{variant} (AUC {curve[:-1].mean():.2f})", **style)
        ax.set_title(_short(method), fontsize=10)
        ax.set_xlabel("IoU threshold")
        ax.set_ylabel("success rate")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(methods):]:
        ax.axis("off")
    return fig
