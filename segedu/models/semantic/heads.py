"""Segmentation heads shared by FCN and DeepLab: the FCN head and DeepLabv3's ASPP head.

Both turn a backbone's feature map (N, C_in, h, w) into class scores (N, num_classes, h, w) at the
same resolution; the model up-samples them to the image. Layer order and numbering follow
torchvision's ``FCNHead``, ``ASPP`` and ``DeepLabHead`` so that torchvision's weights load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["conv_bn_relu", "SeparableConv2d", "fcn_head", "ASPP", "deeplab_head"]


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, *,
                 dilation: int = 1) -> list[nn.Module]:
    """A convolution without bias (padding keeps the size), batch norm, ReLU."""
    padding = dilation * (kernel_size - 1) // 2
    return [nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation,
                      bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU()]


class SeparableConv2d(nn.Sequential):
    """Depthwise-separable convolution (DeepLabv3+, Xception): a k x k convolution of each
    channel on its own (``groups=C_in``), then a 1x1 convolution that mixes the channels.

    It sees the same window as a full k x k convolution with about ``1/C_out + 1/k^2`` of its
    weights. (N, C_in, H, W) -> (N, C_out, H, W) at stride 1 with ``padding = dilation``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *,
                 dilation: int = 1, bias: bool = False) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, in_channels, kernel_size, padding=padding, dilation=dilation,
                      groups=in_channels, bias=False),  # depthwise: one filter per channel
            nn.Conv2d(in_channels, out_channels, 1, bias=bias),  # pointwise: mix the channels
        )


def separable_bn_relu(in_channels: int, out_channels: int, *, dilation: int = 1) -> list[nn.Module]:
    """A 3x3 separable convolution without bias, batch norm, ReLU."""
    return [SeparableConv2d(in_channels, out_channels, 3, dilation=dilation),
            nn.BatchNorm2d(out_channels), nn.ReLU()]


def fcn_head(in_channels: int, num_classes: int) -> nn.Sequential:
    """3x3 conv to C_in/4 channels, BN, ReLU, dropout 0.1, 1x1 classifier: -> (N, num_classes,
    h, w)."""
    inter = in_channels // 4
    return nn.Sequential(*conv_bn_relu(in_channels, inter, 3), nn.Dropout(0.1),
                         nn.Conv2d(inter, num_classes, 1))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLabv3): five parallel branches, concatenated, projected.

    Branches on the same (N, C_in, h, w) input, each to ``out_channels``: a 1x1 convolution, three
    3x3 convolutions with dilation ``rates`` (the same kernel seeing ever wider context), and the
    image-level branch (global average pooling, 1x1 convolution, broadcast back to h x w).
    ``separable=True`` makes the three dilated branches depthwise-separable (DeepLabv3+).
    """

    def __init__(self, *, in_channels: int, rates: tuple[int, ...] = (12, 24, 36),
                 out_channels: int = 256,
                 separable: bool = False) -> None:
        super().__init__()
        branches = [nn.Sequential(*conv_bn_relu(in_channels, out_channels, 1))]
        dilated = (separable_bn_relu if separable
                   else lambda i, o, dilation: conv_bn_relu(i, o, 3, dilation=dilation))
        branches += [nn.Sequential(*dilated(in_channels, out_channels, dilation=rate))
                     for rate in rates]
        branches.append(nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                      *conv_bn_relu(in_channels, out_channels, 1)))
        self.convs = nn.ModuleList(branches)
        # (N, 5 * out, h, w) -> (N, out, h, w), with dropout 0.5 as in torchvision
        self.project = nn.Sequential(*conv_bn_relu(len(branches) * out_channels, out_channels, 1),
                                     nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        outputs = [branch(x) for branch in self.convs[:-1]]  # each (N, out, h, w)
        pooled = self.convs[-1](x)  # (N, out, 1, 1): one vector per image
        outputs.append(F.interpolate(pooled, size=size, mode="bilinear", align_corners=False))
        return self.project(torch.cat(outputs, dim=1))


def deeplab_head(in_channels: int, num_classes: int) -> nn.Sequential:
    """ASPP, a 3x3 conv-BN-ReLU, a 1x1 classifier: (N, C_in, h, w) -> (N, num_classes, h, w)."""
    return nn.Sequential(ASPP(in_channels=in_channels), *conv_bn_relu(256, 256, 3),
                         nn.Conv2d(256, num_classes, 1))
