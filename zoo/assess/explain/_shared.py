"""What several explanation measurements share, written once so they agree: independent seeded streams,
rank agreement between maps, and a graph's first output."""
from __future__ import annotations

import numpy as np

from zoo.assess import Context

SECTION = "explainability"
# Independent random streams of one context, so that no measurement shifts another's draws.
STREAM = {"figure": 0, "quality": 1, "random-order": 2, "surrogate": 3, "infidelity": 4, "subset": 5, "noise": 6,
          "class-grid": 7, "bootstrap": 8}


def stream_seed(ctx: Context, stream: str) -> int:
    """The seed of the context's stream ``stream``, for torch's global generator (captum samples from it)."""
    return ctx.generator(STREAM[stream]).initial_seed()


def plural(number: int, noun: str) -> str:
    """``number`` with ``noun``, plural unless it is one: summaries read "1 test sample", "20 test samples"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def mean_spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean over samples of Spearman's rank correlation. A constant map has no ranking: its sample is left
    out, and with every sample left out the answer is None (undefined), never a flattering 0."""
    from scipy.stats import spearmanr

    found = [float(spearmanr(left, right).statistic)
             for left, right in zip(a.reshape(len(a), -1), b.reshape(len(b), -1))
             if np.ptp(left) > 0 and np.ptp(right) > 0]
    return float(np.mean(found)) if found else None


def first_output(out):
    """A graph's first output (a module may return a tuple of them)."""
    return out[0] if isinstance(out, (tuple, list)) else out
