"""What several safety measurements share, written once so they agree: the input range, the model's
outputs as float64, per-sample reconstruction errors, JSON-safe numbers, and saving and comparing figures."""
from __future__ import annotations

import math

import numpy as np

from zoo.assess import Context, Figure

SECTION = "safety"
LOW, HIGH = 0.0, 1.0  # every split's inputs lie in [0, 1] (zoo.data refuses anything else)


def predict(model, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """The model's outputs on ``x`` (batched, no gradients; with each sequence's ``lengths`` where the data
    has them), as float64 for the metrics."""
    import torch

    from zoo.training import predict_batches

    given = None if lengths is None else torch.from_numpy(np.ascontiguousarray(lengths))
    return predict_batches(model, torch.from_numpy(np.ascontiguousarray(x)), lengths=given).numpy().astype(np.float64)


def reconstruction_errors(model, x: np.ndarray) -> np.ndarray:
    """Mean squared error of each sample's reconstruction: the autoencoder's own loss, per sample."""
    from zoo.metrics import per_sample_mse

    return per_sample_mse(x, predict(model, x))


def rounded(value: float | None, digits: int = 6) -> float | None:
    """A JSON-safe number: rounded, and None for a value that is not one (an undefined AUROC)."""
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def save_figure(ctx: Context, name: str, fig, caption: str) -> Figure:
    """Save ``fig`` where the context says and describe it for the card."""
    from zoo.plots import save_png

    path = ctx.figure(name)
    save_png(fig, path)
    return Figure(path.name, caption)


def histograms(ax, groups: dict[str, np.ndarray], xlabel: str, log: bool = False) -> None:
    """Overlaid histograms (each group's share per bin) on shared bins: the overlap is what the eye compares.
    The legend goes outside the data (``zoo.plots.legend_outside``; the figure made with a constrained layout)."""
    from zoo.plots import legend_outside

    every = np.concatenate(list(groups.values()))
    if log:
        low = max(float(every[every > 0].min()) if (every > 0).any() else 1e-6, 1e-12)
        bins = np.geomspace(low, max(float(every.max()), low * 10), 40)
        ax.set_xscale("log")
    else:
        bins = np.linspace(float(every.min()), max(float(every.max()), float(every.min()) + 1e-6), 40)
    for label, values in groups.items():
        ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, weights=np.full(len(values), 1.0 / len(values)),
                alpha=0.5, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of the group")
    legend_outside(ax.figure, "right upper", columns=1)
