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


class DigitsCNN(nn.Module):
    """VGG-style CNN: stages of two 3x3 conv-BN-ReLU layers, 2x2 max-pool between stages.

    The spatial map after the last stage is reduced by ``nn.AdaptiveAvgPool2d(pool_size)``,
    so the classifier head has a fixed input size whatever ``height``/``width`` are
    (8x8 digits and 28x28 MNIST both work). A stage is only followed by pooling while
    the map is still larger than ``pool_size``, so tiny inputs are not pooled away.
    ONNX export (which turns the adaptive pool into a fixed one) needs the final map to be
    divisible by ``pool_size``: true for the defaults at 8x8 (4x4 map) and 28x28 (14x14);
    ``pool_size=1`` (global average pooling) always exports.

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
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
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
