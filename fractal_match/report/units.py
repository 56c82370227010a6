"""Contact sheets of visualized CNN units, like the feature-visualization pages the original
experiment's kernel came from."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure


def unit_sheet(rows: Sequence[tuple[str, Sequence[tuple[np.ndarray, str]]]], title: str | None = None) -> Figure:
    """One row per layer: the layer's name, then each unit's picture (RGB uint8) with its caption
    (channel and selectivity) underneath."""
    columns = max(len(units) for _, units in rows)
    fig = Figure(figsize=(1.55 * columns + 0.9, 1.85 * len(rows) + (0.5 if title else 0.0)), layout="constrained")
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for row, (layer, units) in zip(axes, rows):
        for index, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if index >= len(units):
                ax.axis("off")
                continue
            picture, caption = units[index]
            ax.imshow(picture, interpolation="nearest")
            ax.set_xlabel(caption, fontsize=8)
            for spine in ax.spines.values():
                spine.set_visible(False)
        row[0].set_ylabel(layer, fontsize=10, rotation=0, ha="right", va="center", labelpad=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
