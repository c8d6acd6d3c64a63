"""Fully connected autoencoder (dense or sparse) and the KL sparsity penalty."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

_CODE_ACTIVATIONS = ("linear", "sigmoid")


def _mlp(sizes: Sequence[int]) -> list[nn.Module]:
    """Linear+ReLU for every consecutive pair of ``sizes`` (no activation after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return layers


class Autoencoder(nn.Module):
    """MLP autoencoder with separately exportable ``encoder`` and ``decoder``.

    encoder: (N, C, H, W) -> code (N, code_size); flatten, hidden ReLU layers, then a
        linear code ('linear', dense AE) or a sigmoid code ('sigmoid', so units are
        firing rates in (0, 1) as the KL sparsity penalty requires).
    decoder: (N, code_size) -> (N, C, H, W); mirrored hidden layers and a sigmoid,
        because pixels live in [0, 1].

    Args:
        input_shape: (C, H, W) of the images.
        code_size: size of the bottleneck.
        hidden: encoder hidden widths (the decoder uses them reversed).
        code_activation: 'linear' or 'sigmoid'.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        code_size: int,
        hidden: Sequence[int] = (128, 64),
        code_activation: str = "linear",
    ) -> None:
        super().__init__()
        if code_activation not in _CODE_ACTIVATIONS:
            raise ValueError(f"code_activation must be one of {_CODE_ACTIVATIONS}, got {code_activation!r}")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.code_size = int(code_size)
        n_in = math.prod(self.input_shape)
        hidden = [int(h) for h in hidden]
        enc: list[nn.Module] = [nn.Flatten(), *_mlp([n_in, *hidden, self.code_size])]
        if code_activation == "sigmoid":
            enc.append(nn.Sigmoid())
        self.encoder = nn.Sequential(*enc)
        dec = _mlp([self.code_size, *reversed(hidden), n_in])
        self.decoder = nn.Sequential(*dec, nn.Sigmoid(), nn.Unflatten(1, self.input_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> reconstruction (N, C, H, W) in [0, 1]."""
        return self.decoder(self.encoder(x))


def kl_sparsity_penalty(code: torch.Tensor, rho: float, eps: float = 1e-6) -> torch.Tensor:
    """Sparse-autoencoder penalty sum_j KL(rho || rho_hat_j).

    rho_hat_j is the mean activation of code unit j over the batch (``code`` must be
    in (0, 1), i.e. a sigmoid code); KL is between Bernoulli(rho) and Bernoulli(rho_hat_j).
    It pushes each unit to be active on only a fraction ``rho`` of the inputs.
    """
    rho_hat = code.mean(dim=0).clamp(eps, 1.0 - eps)
    rho_t = torch.as_tensor(rho, dtype=code.dtype, device=code.device)
    kl = rho_t * torch.log(rho_t / rho_hat) + (1 - rho_t) * torch.log((1 - rho_t) / (1 - rho_hat))
    return kl.sum()
