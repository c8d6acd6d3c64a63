"""Progress on the terminal: a tqdm bar over a run's steps (``zoo.training.Progress``).

Terminal UI for the command line and the workflows (``zoo train``, ``zoo publish``, torchrun workers),
kept out of the plugin API's ``zoo.training``. Imports nothing from zoo.
"""
from __future__ import annotations

import sys
from typing import Any, Mapping


def step_line(name: str, what: str) -> None:
    """One line on stderr for a step of a workflow (``zoo publish``: "cnn-digits: export"); whole lines, so that
    several processes' steps interleave legibly."""
    print(f"{name}: {what}", file=sys.stderr, flush=True)


class BarProgress:
    """A tqdm bar on stderr over all steps, showing the epoch, the losses and the validation metric."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar = None

    def start(self, total_steps: int, done_steps: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total_steps, initial=done_steps, desc=self.label, unit="step",
                        file=sys.stderr, dynamic_ncols=True, leave=True, disable=None)

    def advance(self) -> None:
        self.bar.update(1)

    def epoch_done(self, record: Mapping[str, Any], epochs: int) -> None:
        shown = {k: v for k, v in record.items() if k not in ("epoch", "seconds") and isinstance(v, float)}
        self.bar.set_description(f"{self.label} epoch {record['epoch']}/{epochs}", refresh=False)
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()})

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
