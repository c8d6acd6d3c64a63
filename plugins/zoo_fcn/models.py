"""The fully convolutional network for time series (Wang, Yan and Oates 2017) on (N, T, F) sequences.

Imports torch and, from zoo, ``zoo.recipes`` (the masks every sequence family shares).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo.recipes import valid_steps


def masked_batch_norm(h: torch.Tensor, mask: torch.Tensor, norm: nn.BatchNorm1d) -> torch.Tensor:
    """Training-mode batch norm of ``h`` (N, C, T) whose statistics are taken over the valid steps only
    (``mask`` (N, 1, T)), the running statistics updated as ``nn.BatchNorm1d`` does (momentum, unbiased
    variance): padding must not pull a batch's mean toward zero, nor its running mean at inference."""
    count = mask.sum()
    mean = (h * mask).sum(dim=(0, 2)) / count
    centred = (h - mean[None, :, None]) * mask
    var = (centred * centred).sum(dim=(0, 2)) / count
    if norm.track_running_stats and norm.running_mean is not None:
        with torch.no_grad():
            norm.num_batches_tracked += 1
            momentum = norm.momentum if norm.momentum is not None else 1.0 / float(norm.num_batches_tracked)
            unbiased = var * count / (count - 1).clamp(min=1)
            norm.running_mean.mul_(1 - momentum).add_(momentum * mean)
            norm.running_var.mul_(1 - momentum).add_(momentum * unbiased)
    out = (h - mean[None, :, None]) / torch.sqrt(var[None, :, None] + norm.eps)
    if norm.affine:
        out = out * norm.weight[None, :, None] + norm.bias[None, :, None]
    return out


class ConvBlock(nn.Module):
    """Convolution ('same' padding, no bias: batch norm follows), batch norm and ReLU over (N, C, T).

    The 'same' padding is explicit zeros, (kernel - 1) // 2 before and kernel // 2 after, as
    ``padding="same"`` places them, without its warning about a copy for even kernels."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, bias=False)
        self.norm = nn.BatchNorm1d(cout)
        self.padding = ((kernel - 1) // 2, kernel // 2)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """With ``mask`` (N, 1, T) the padded steps are zeroed after the block, so the next convolution's
        window reads zeros past a sequence's end, as it does for the sequence alone."""
        h = self.conv(nn.functional.pad(h, self.padding))
        if mask is not None and self.training and isinstance(self.norm, nn.BatchNorm1d):
            h = masked_batch_norm(h, mask, self.norm)
        else:  # inference (running statistics: per step), no lengths, or a replacement norm (Opacus: GroupNorm)
            h = self.norm(h)
        h = torch.relu(h)
        return h if mask is None else h * mask


class FCN(nn.Module):
    """Conv blocks (Wang et al. 2017: 128-256-128 filters, kernels 8-5-3), global average pooling over
    time, dropout and a linear head.

    Inputs are batch-first sequences (N, T, features), read as ``features`` channels over time; the
    graph is independent of T (the convolutions keep the length, the pooling averages it away), so ONNX
    export keeps a dynamic time axis. With ``lengths`` (int64, N; sequences padded after their ends) the
    input and each block's output are zeroed past each sequence's end and the pooling averages its own
    steps only: a sequence answers alike alone and in any padded batch, whatever the padding holds.

    Args:
        in_features: features per time step (the input channels).
        num_classes: number of output logits.
        channels: filters of each conv block.
        kernels: kernel size of each conv block (as many as ``channels``).
        dropout: dropout before the head (0 in the paper).
    """

    def __init__(self, in_features: int, num_classes: int, channels: Sequence[int] = (128, 256, 128),
                 kernels: Sequence[int] = (8, 5, 3), dropout: float = 0.0) -> None:
        super().__init__()
        channels, kernels = [int(c) for c in channels], [int(k) for k in kernels]
        if not channels or len(channels) != len(kernels):
            raise ValueError(f"channels and kernels must be lists of the same non-zero length, got {channels} "
                             f"and {kernels}")
        widths = [int(in_features), *channels]
        self.blocks = nn.ModuleList(ConvBlock(a, b, k) for a, b, k in zip(widths[:-1], widths[1:], kernels))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, T, in_features), lengths: (N,) int64 or None -> logits (N, num_classes)."""
        h = x.transpose(1, 2)  # (N, features, T): features are the convolution's channels
        mask = None
        if lengths is not None:
            mask = valid_steps(lengths, h.shape[2], h)[:, None, :]
            h = h * mask
        for block in self.blocks:
            h = block(h, mask)
        pooled = h.mean(dim=2) if mask is None else h.sum(dim=2) / mask.sum(dim=2)  # h is zero past each end
        return self.head(self.dropout(pooled))
