"""VGG16 (Simonyan and Zisserman, ICLR 2015), state-dict compatible with torchvision's ``vgg16``.

Thirteen 3x3 convolutions (padding 1, so they keep the size) in five blocks of 2, 2, 3, 3, 3,
each block closed by a 2x2 max pooling: 224 -> 7 pixels, 64 -> 512 channels. The classifier is
three fully connected layers (25088 -> 4096 -> 4096 -> 1000) after an adaptive pooling to 7x7.
FCN turns those fully connected layers into convolutions; SegNet keeps only ``features`` and the
pooling indices.

``features`` is one ``nn.Sequential`` numbered exactly as torchvision's (convolution, ReLU, ...,
pooling), so ``features.0.weight`` is the first convolution's weight in both.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VGG16_CONFIG", "VGG", "vgg16", "vgg16_config", "vgg_features"]

# channels of each 3x3 convolution; "M" is a 2x2 max pooling
VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
                "M")


def vgg16_config(width: int = 64) -> tuple:
    """VGG16's layer list with ``width`` channels in the first block (64: the published network).

    Every convolution keeps its ratio to the first: ``width, width, "M", 2 width, ..., 8 width``.
    A slim ``width`` (16) keeps the depth and the poolings but has ``(width / 64) ** 2`` of the
    weights, so it trains in minutes on a CPU.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")
    return tuple(item if item == "M" else item * width // 64 for item in VGG16_CONFIG)


def vgg_features(config=VGG16_CONFIG, *, in_channels: int = 3,
                 batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part: (N, in_channels, H, W) -> (N, 512, H/32, W/32) for VGG16."""
    layers: list[nn.Module] = []
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, item, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        in_channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``features``, a 7x7 adaptive pooling and the three fully connected layers."""

    def __init__(self, *, num_classes: int = 1000, dropout: float = 0.5,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.features = vgg_features(batch_norm=batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        # torchvision's initialisation
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, num_classes)."""
        x = self.avgpool(self.features(x))  # (N, 512, 7, 7)
        return self.classifier(torch.flatten(x, 1))


def vgg16(**kwargs) -> VGG:
    """VGG16: 138,357,544 parameters with the 1000-class classifier."""
    return VGG(**kwargs)
