"""The network: a Transformer encoder over (N, T, F) sequences, mean-pooled, and a linear head.

Imports torch at module level: the plugin's hooks import this module inside their bodies only.
"""
from __future__ import annotations

import math

import torch
from torch import nn

POSITIONAL = ("learned", "sinusoidal")


def sinusoidal_table(length: int, width: int) -> torch.Tensor:
    """Vaswani et al.'s fixed table: sin on even features, cos on odd ones, wavelengths up to 10,000 steps."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    scale = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    table = torch.zeros(length, width)
    table[:, 0::2] = torch.sin(position * scale)
    table[:, 1::2] = torch.cos(position * scale[: width // 2])
    return table


class TransformerClassifier(nn.Module):
    """Project each step to ``d_model``, add a positional code, encode, average over time, classify.

    The positional code covers ``max_len`` steps: a learned table (a parameter, trained) or the
    sinusoidal one (a buffer, not trained, but only ``max_len`` rows of it are kept so that the
    state dict stays small and the graph has no length-dependent arithmetic). A sequence longer
    than ``max_len`` is refused with a ``ValueError`` naming both lengths.

    The head is ``self.head``, an ``nn.Linear`` from the pooled ``d_model`` features to the logits,
    the name every built-in classifier of zoo uses for its last layer.
    """

    def __init__(self, input_size: int, num_classes: int, d_model: int = 32, nhead: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 64, dropout: float = 0.1,
                 positional: str = "learned", max_len: int = 64) -> None:
        super().__init__()
        if positional not in POSITIONAL:
            raise ValueError(f"positional must be one of {', '.join(POSITIONAL)}, got {positional!r}")
        self.max_len = max_len
        self.embed = nn.Linear(input_size, d_model)
        if positional == "learned":
            self.position = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        else:
            self.register_buffer("position", sinusoidal_table(max_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, T, input_size) with T <= max_len -> logits (N, num_classes)."""
        steps = x.shape[1]
        if steps > self.max_len:
            raise ValueError(f"a sequence of {steps} steps is longer than the positional table ({self.max_len})")
        h = self.embed(x) + self.position[:steps]
        return self.head(self.dropout(self.encoder(h).mean(dim=1)))
