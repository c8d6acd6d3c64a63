"""Small convolutional classifier for digit-sized images (8x8 up to 28x28)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    # bias is redundant before BatchNorm; BN keeps training stable at high lr.
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def window_matrix(out: int, size: int) -> torch.Tensor:
    """(out, size): row i averages the window nn.AdaptiveAvgPool2d reads for output i, from
    floor(i * size / out) to ceil((i + 1) * size / out)."""
    matrix = torch.zeros(out, size)
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class WindowAverage(nn.Module):
    """``nn.AdaptiveAvgPool2d(out)`` for inputs of one size (height, width), as two matrix products over the
    same windows: what ONNX exports for any size, where the TorchScript exporter refuses adaptive pooling
    whose output size does not divide the input's. It holds no weights (its matrices are not saved)."""

    def __init__(self, out: int, height: int, width: int) -> None:
        super().__init__()
        self.register_buffer("rows", window_matrix(out, height), persistent=False)
        self.register_buffer("columns", window_matrix(out, width).T.contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, height, width) -> (N, C, out, out)."""
        return self.rows @ x @ self.columns


class DigitsCNN(nn.Module):
    """VGG-style CNN: stages of two 3x3 conv-BN-ReLU layers, 2x2 max-pool between stages.

    The spatial map after the last stage is reduced by ``nn.AdaptiveAvgPool2d(pool_size)``,
    so the classifier head has a fixed input size whatever ``height``/``width`` are
    (8x8 digits, 28x28 MNIST and 64x64 photos all work). A stage is only followed by pooling while
    the map is still larger than ``pool_size``, so tiny inputs are not pooled away.
    ONNX export turns the adaptive pool into a fixed one, which the TorchScript exporter refuses
    unless ``pool_size`` divides the final map; where it does not (a 30x30 image leaves 15x15), the
    same windows are averaged by ``WindowAverage`` instead, which exports at any size.

    Args:
        in_channels, height, width: input image shape (C, H, W).
        num_classes: number of output logits.
        channels: output channels of each conv stage.
        hidden: width of the fully connected hidden layer (0 = linear head).
        dropout: dropout before each fully connected layer.
        pool_size: side of the adaptive pooling output.
    """

    def __init__(
        self,
        in_channels: int,
        height: int,
        width: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.3,
        pool_size: int = 2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin, h, w = in_channels, height, width
        for i, cout in enumerate(channels):
            layers += [_conv_bn_relu(cin, cout), _conv_bn_relu(cout, cout)]
            cin = cout
            last = i == len(channels) - 1
            if not last and min(h, w) // 2 >= pool_size:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        self.features = nn.Sequential(*layers)
        divides = h % pool_size == 0 and w % pool_size == 0
        self.pool = nn.AdaptiveAvgPool2d(pool_size) if divides else WindowAverage(pool_size, h, w)
        flat = cin * pool_size * pool_size
        head: list[nn.Module] = [nn.Flatten(), nn.Dropout(dropout)]
        if hidden:
            head += [nn.Linear(flat, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            flat = hidden
        head.append(nn.Linear(flat, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> logits (N, num_classes)."""
        return self.classifier(self.pool(self.features(x)))
