"""Recurrent sequence classifier (tanh RNN, LSTM or GRU) for (N, T, F) inputs, padded sequences with their lengths."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from zoo.recipes import mean_over_valid

_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class SequenceClassifier(nn.Module):
    """Recurrent encoder followed by a mean over time and a linear head.

    Averaging the top-layer outputs over all time steps (instead of reading only
    the last hidden state) gives every step a direct gradient path to the loss,
    which is what makes the plain tanh RNN train reliably, and it keeps the graph
    independent of T, so ONNX export works with a dynamic time axis.
    Inputs are batch_first: (N, T, input_size). On 8x8 digits read row by row, two
    bidirectional layers generalise clearly better than one.

    Args:
        cell: 'rnn' (tanh Elman RNN), 'lstm' or 'gru'.
        input_size: features per time step.
        num_classes: number of output logits.
        hidden_size: hidden units per direction.
        num_layers: stacked recurrent layers.
        bidirectional: also read the sequence backwards (outputs concatenated).
        dropout: dropout between stacked layers and before the head.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        num_classes: int,
        hidden_size: int = 48,
        num_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
        self.cell = cell
        self.rnn = _CELLS[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, T, input_size) -> logits (N, num_classes).

        ``lengths`` (int64, N; sequences padded after their ends): each sequence is read only up to its own
        length, packed (``pack_padded_sequence``) through the same recurrent module, so the backward
        direction starts at its last real step, and the mean is over its own steps: a sequence answers
        alike alone and in any padded batch. The TorchScript ONNX exporter writes the packed sequence as
        the ONNX LSTM/GRU/RNN operator's ``sequence_lens``, which ONNX Runtime honours per sequence.
        """
        if lengths is None:
            out, _ = self.rnn(x)  # (N, T, D * hidden_size), zero initial state
            return self.head(self.dropout(out.mean(dim=1)))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)  # zeros after each end
        return self.head(self.dropout(mean_over_valid(out, lengths, time_dim=1)))

