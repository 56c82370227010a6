"""Summary figures of a run: hit-rate heatmap, hit rate against rotation and scale with Wilson
bands, rotation x scale heatmaps, success curves. Each takes rows from report.tables."""

from __future__ import annotations

from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..metrics import SUCCESS_THRESHOLDS

_PALETTE = matplotlib.colormaps["tab20"]


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


def hit_rate_curves(rows: list[dict], methods: Sequence[str], variants: Sequence[str], axis: str) -> Figure:
    """Hit rate against `axis` ("rotation" or "scale"), pooled over the other; one panel per
    method, one line per variant with its Wilson 95% band."""
    from ..stats import wilson_interval

    cells = [r for r in rows if r["scale"] != "all"]
    other = "scale" if axis == "rotation" else "rotation"
    columns = min(3, len(methods))
    panels = -(-len(methods) // columns)
    fig = Figure(figsize=(5.0 * columns, 3.6 * panels + 0.8), layout="constrained")
    axes = fig.subplots(panels, columns, squeeze=False).ravel()
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
            rates = np.array([pooled[x][0] / pooled[x][1] for x in xs])
            bands = np.array([wilson_interval(*pooled[x]) for x in xs])
            colour = _PALETTE(index % 20)
            ax.plot(xs, rates, marker="o", markersize=3, color=colour, label=variant, linewidth=1.4)
            ax.fill_between(xs, bands[:, 0], bands[:, 1], color=colour, alpha=0.12, linewidth=0)
        ax.set_title(f"{_short(method)}: hit rate vs {axis} (pooled over {other})", fontsize=10)
        ax.set_xlabel(axis + (" (degrees)" if axis == "rotation" else ""))
        ax.set_ylabel("hit rate")
        ax.set_ylim(-0.02, 1.02)
        if axis == "scale":
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.grid(alpha=0.3)
    for ax in axes[len(methods):]:
        ax.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(7, len(labels)), fontsize=8)
    return fig


def pose_heatmaps(rows: list[dict], methods: Sequence[str], shown_variants: Sequence[str]) -> Figure:
    """Rotation x scale hit-rate heatmaps: one row per shown variant, one column per method."""
    cells = [r for r in rows if r["scale"] != "all"]
    scales = sorted({float(r["scale"]) for r in cells})
    rotations = sorted({float(r["rotation"]) for r in cells})
    fig = Figure(figsize=(2.6 * len(methods) + 1.0, 2.6 * len(shown_variants) + 0.6), layout="constrained")
    axes = fig.subplots(len(shown_variants), len(methods), squeeze=False)
    shown = None
    for i, variant in enumerate(shown_variants):
        for j, method in enumerate(methods):
            grid = np.full((len(scales), len(rotations)), np.nan)
            for r in cells:
                if r["method"] == method and r["variant"] == variant:
                    grid[scales.index(float(r["scale"])), rotations.index(float(r["rotation"]))] = r["hit_rate"]
            ax = axes[i, j]
            shown = ax.imshow(grid, cmap="magma", vmin=0, vmax=1, aspect="auto", origin="lower")
            ax.set_xticks(range(len(rotations)), [f"{v:g}" for v in rotations], fontsize=6, rotation=90)
            ax.set_yticks(range(len(scales)), [f"{v:g}" for v in scales], fontsize=6)
            ax.set_title(f"{variant}\n{_short(method)}", fontsize=8)
            if j == 0:
                ax.set_ylabel("scale")
            if i == len(shown_variants) - 1:
                ax.set_xlabel("rotation")
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
            ax.plot(SUCCESS_THRESHOLDS, curve, color=_PALETTE(index % 20), label=f"{variant} (AUC {curve[:-1].mean():.2f})")
        ax.set_title(_short(method), fontsize=10)
        ax.set_xlabel("IoU threshold")
        ax.set_ylabel("success rate")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(methods):]:
        ax.axis("off")
    return fig
