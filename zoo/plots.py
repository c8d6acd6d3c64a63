"""Drawing for cards and assessments: matplotlib on the Agg backend, small PNGs written atomically.

Part of the plugin API (``zoo.PLUGIN_API``), so that a plugin's assessment draws as the core's do.
Imports only numpy, matplotlib (when drawing) and ``zoo.fsutil``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.fsutil import atomic_write

DPI = 80


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight"))
    pyplot().close(fig)


def picture(sample: np.ndarray) -> np.ndarray:
    """A sample as a 2-D picture: an image's channels averaged; a sequence as its time x feature grid."""
    return sample.mean(axis=0) if sample.ndim == 3 else sample


def strip(pictures: list[np.ndarray], gap: float = np.nan) -> np.ndarray:
    """2-D pictures side by side as one, a column of ``gap`` between them: one image draws far faster than
    one axis per picture (NaN shows as the background)."""
    column = np.full((pictures[0].shape[0], 1), gap)
    return np.concatenate([part for item in pictures for part in (item, column)][:-1], axis=1)


def show_picture(ax, picture: np.ndarray, **style: Any) -> Any:
    ax.set_xticks([])
    ax.set_yticks([])
    return ax.imshow(picture, interpolation="nearest", **style)


def row_pairs(fig_rows: list[np.ndarray], titles: list[str], path: Path, cmap: str = "gray_r") -> None:
    plt = pyplot()
    columns = max(len(r) for r in fig_rows)
    fig, axes = plt.subplots(len(fig_rows), columns, figsize=(0.8 * columns, 0.85 * len(fig_rows)), squeeze=False)
    for row, (samples, title) in enumerate(zip(fig_rows, titles)):
        axes[row][0].set_ylabel(title, fontsize=7)
        for col in range(columns):
            if col < len(samples):
                show_picture(axes[row][col], picture(samples[col]), cmap=cmap, vmin=0, vmax=1)
            else:
                axes[row][col].axis("off")
    save_png(fig, path)
