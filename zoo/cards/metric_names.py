"""How to read a metric by its name: what it is called in words and which way is better.

One table for every reader of cards (the card's headline and metrics table, the catalog): a name it does not
know is shown as it is, with no direction claimed. Imports nothing from zoo.
"""
from __future__ import annotations

from typing import Any, Sequence

HIGHER, LOWER = "higher", "lower"
REFERENCE = "reference"  # a number to compare this model's with (a baseline's, real data's), not this model's
# name -> (words, which way is better, or REFERENCE)
KNOWN: dict[str, tuple[str, str]] = {
    "accuracy": ("accuracy", HIGHER),
    "balanced_accuracy": ("balanced accuracy", HIGHER),
    "precision_macro": ("precision (macro average)", HIGHER),
    "recall_macro": ("recall (macro average)", HIGHER),
    "f1_macro": ("F1 (macro average)", HIGHER),
    "top5_accuracy": ("top-5 accuracy", HIGHER),
    "auroc": ("AUROC", HIGHER),
    "mse": ("mean squared error", LOWER),
    "mae": ("mean absolute error", LOWER),
    "rmse": ("root mean squared error", LOWER),
    "psnr": ("PSNR (dB)", HIGHER),
    "mse_vs_pca": ("MSE relative to PCA's", LOWER),
    "baseline_pca_mse": ("PCA baseline's mean squared error", REFERENCE),
    "frechet_distance": ("Frechet distance", LOWER),
    "frechet_ratio_to_baseline": ("Frechet distance relative to the naive baseline's", LOWER),
    "frechet_distance_baseline": ("naive baseline's Frechet distance", REFERENCE),
    "frechet_distance_real": ("Frechet distance of real training images", REFERENCE),
    "label_accuracy": ("label accuracy (samples read as the requested class)", HIGHER),
    "reference_accuracy": ("reference classifier's test accuracy", REFERENCE),
    "ece": ("expected calibration error", LOWER),
    "nll": ("negative log-likelihood", LOWER),
    "loss": ("loss", LOWER),
}


def words(name: str) -> str:
    """The metric's name in words (``frechet_distance`` -> ``Frechet distance``); the name itself if unknown."""
    return KNOWN.get(name, (name, None))[0]


def direction(name: str) -> str | None:
    """``"higher"`` or ``"lower"`` (is better), or None where zoo does not know the metric or it is a reference."""
    found = KNOWN.get(name, (name, None))[1]
    return found if found in (HIGHER, LOWER) else None


def better_text(name: str) -> str:
    """``higher is better``, ``lower is better``, ``a reference, not this model's``, or '' for a metric zoo
    does not know."""
    if KNOWN.get(name, (name, None))[1] == REFERENCE:
        return "a reference, not this model's"
    found = direction(name)
    return f"{found} is better" if found else ""


def headline_text(name: str, value: Any, interval: Sequence[float] | None = None, level: float | None = None,
                  fmt=str) -> str:
    """``accuracy 0.9944 [0.9861, 1] (95% interval; higher is better)``, ``Frechet distance 0.8218 (lower is
    better)``: a metric as a reader meets it first. ``fmt`` formats the numbers."""
    notes = []
    shown = f"{words(name)} {fmt(value)}"
    if interval:
        shown += f" [{fmt(interval[0])}, {fmt(interval[1])}]"
        notes.append(f"{level:.0%} interval" if level else "interval")
    if direction(name):
        notes.append(better_text(name))
    return shown + (f" ({'; '.join(notes)})" if notes else "")
