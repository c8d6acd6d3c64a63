"""The recurrent classifier reading several time steps at once: long series in fewer recurrent steps.

A recurrent network reads a long series one value at a time through hundreds of steps, and on the UCR/UEA
archive's small training sets it learns poorly (vanishing gradients over 150 to 250 steps). Read ``patch``
steps side by side as one input vector (non-overlapping windows, the series padded with zeros to a whole
number of windows), the same network sees a series of 150 steps as 25 steps of 6 values and learns it.
Any length runs, in PyTorch and in the exported graph; padded batches of unequal lengths read each sequence
only up to its own end (``lengths``).
"""
from __future__ import annotations

import torch
from torch import nn

from zoo_rnn.models import SequenceClassifier


def windows(x: torch.Tensor, patch: int) -> torch.Tensor:
    """(N, T, F) -> (N, ceil(T / patch), patch * F): ``patch`` consecutive steps side by side, the last window
    padded with zeros after the series' end."""
    n, t, f = x.shape
    padded = nn.functional.pad(x, (0, 0, 0, patch - 1))  # a fixed pad, then cut: the graph stays shape-generic
    steps = (t + patch - 1) // patch
    return padded[:, : steps * patch].reshape(n, steps, patch * f)


class PatchedSequenceClassifier(SequenceClassifier):
    """``SequenceClassifier`` over windows of ``patch`` steps (see ``windows``); the same modules and weights'
    names (``rnn``, ``head``), sized for ``patch * input_size`` features per step.

    Args:
        patch: time steps read together as one recurrent step.
        cell, input_size, num_classes, **kwargs: as ``SequenceClassifier`` (``input_size``: the data's features).
    """

    def __init__(self, patch: int, cell: str, input_size: int, num_classes: int, **kwargs) -> None:
        if int(patch) < 1:
            raise ValueError(f"patch must be 1 or more, got {patch!r}")
        super().__init__(cell, input_size * int(patch), num_classes, **kwargs)
        self.patch = int(patch)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, T, input_size) -> logits (N, num_classes). With ``lengths`` (int64, N) each sequence is read up
        to its own end: steps after it are zeroed (whatever the batch padded them with), so its last window is
        the one it has alone, and it is read for ``ceil(length / patch)`` windows."""
        if lengths is None:
            return super().forward(windows(x, self.patch))
        inside = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
        steps = torch.div(lengths + (self.patch - 1), self.patch, rounding_mode="floor")
        return super().forward(windows(x * inside.unsqueeze(-1).to(x.dtype), self.patch), steps)
