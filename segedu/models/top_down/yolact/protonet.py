"""YOLACT's protonet: a small fully convolutional network that turns the finest FPN level into
``k`` *prototype masks* shared by every detection of the image.

The prototypes are not tied to any object: they are image-sized "basis" masks (one may light up
the left edges of things, another the foreground, another a particular instance). Each detection
later mixes them with its own ``k`` coefficients (:mod:`.assemble`). The paper's protonet takes
``P3`` (stride 8), applies three 3x3 convolutions, upsamples x2, a 3x3 convolution, and a last 1x1
convolution to ``k`` channels with a ReLU, so the prototypes are at stride 4 (138x138 for a 550 px
image)::

    P3 (N, C, H/8, W/8) -> [3x3 conv, ReLU] x 3 -> upsample x2 -> 3x3 conv, ReLU -> 1x1 conv, ReLU
                                                  -> prototypes (N, k, H/4, W/4)

The ReLU at the end keeps the prototypes non-negative (the paper found unbounded prototypes
less stable). For small objects a finer ``prototype_stride`` (2 or 1) repeats the
"upsample x2, 3x3 conv" step: at stride 4 an 8-pixel object covers only 2x2 prototype pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ProtoNet"]


class ProtoNet(nn.Module):
    """Prototype masks from one feature map of stride 8.

    Args (keyword-only):
        in_channels: channels of the input map (the FPN width).
        hidden_channels: width of the 3x3 convolutions (256 in the paper).
        num_prototypes: ``k``, the number of prototypes (32 in the paper).
        num_convs: 3x3 convolutions before the first upsampling (3 in the paper).
        prototype_stride: image pixels per prototype pixel: 4 (the paper), 2 or 1.

    ``forward(x)``: ``(N, in_channels, h, w)`` -> ``(N, k, h * 8 / s, w * 8 / s)``, ``>= 0``.
    """

    def __init__(self, *, in_channels: int, hidden_channels: int = 256, num_prototypes: int = 32,
                 num_convs: int = 3, prototype_stride: int = 4) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels),
                            ("num_prototypes", num_prototypes), ("num_convs", num_convs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if prototype_stride not in (1, 2, 4):
            raise ValueError("prototype_stride must be 4 (the paper), 2 or 1, got "
                             f"{prototype_stride!r}")
        self.prototype_stride = prototype_stride
        self.num_prototypes = num_prototypes
        # the convolutions at the input's resolution
        convs: list[nn.Module] = []
        for i in range(num_convs):
            convs += [nn.Conv2d(in_channels if i == 0 else hidden_channels, hidden_channels, 3,
                                padding=1),
                      nn.ReLU(inplace=True)]
        self.convs = nn.Sequential(*convs)
        # one "upsample x2, 3x3 conv" step per halving of the stride: 8 -> 4 (-> 2 -> 1)
        num_upsamplings = int(math.log2(8 // prototype_stride))
        self.up_convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(hidden_channels, hidden_channels, 3, padding=1),
                          nn.ReLU(inplace=True))
            for _ in range(num_upsamplings))
        # to k prototypes, kept non-negative
        self.out = nn.Conv2d(hidden_channels, num_prototypes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError("ProtoNet expects a (N, C, h, w) feature map, got shape "
                             f"{tuple(x.shape)}")
        x = self.convs(x)  # (N, hidden, h, w)
        for up_conv in self.up_convs:
            # (N, hidden, 2h, 2w)
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = up_conv(x)
        return F.relu(self.out(x))  # (N, k, h * 8 / s, w * 8 / s)
