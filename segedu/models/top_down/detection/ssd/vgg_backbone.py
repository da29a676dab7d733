"""SSD300's backbone (Liu et al., ECCV 2016, Fig. 2): VGG-16 cut at ``conv5_3``, its fully
connected layers made convolutions, and four extra blocks: six feature maps, 38 .. 1 pixels.

From a 300 x 300 image:

=========  ===========================================================  ==========
map        how                                                          size
=========  ===========================================================  ==========
conv4_3    VGG-16's first ten convolutions (``pool3`` rounds up: 75->38),  512 x 38
           **L2-normalised** per position and rescaled by a learned
           per-channel weight (initially 20)
fc7        ``pool4``, ``conv5_1..3``, a 3x3 stride-1 ``pool5``, ``fc6`` as a  1024 x 19
           3x3 convolution dilated 6 (atrous), ``fc7`` as a 1x1 convolution
conv8_2    1x1 to 256, 3x3 stride 2 to 512                                512 x 10
conv9_2    1x1 to 128, 3x3 stride 2 to 256                                256 x 5
conv10_2   1x1 to 128, 3x3 unpadded to 256                                256 x 3
conv11_2   1x1 to 128, 3x3 unpadded to 256                                256 x 1
=========  ===========================================================  ==========

Why the L2 normalisation (Liu et al., section 3.1, after ParseNet): ``conv4_3``'s activations are
much larger than the deeper maps'; normalising each position's 512-vector to length 1 and
learning the scale puts the six maps on a common footing for the shared training.

Parameter names are torchvision's ``SSDFeatureExtractorVGG``'s (``features.*`` numbered as
VGG-16's, ``extra.0`` holding ``pool4`` .. ``conv5_3`` then the ``fc`` block, ``scale_weight``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .....nn.vgg import vgg16_config, vgg_features

__all__ = ["SSDVGGBackbone", "xavier_init"]

CONV4_3_END = 23  # features[:23] ends with conv4_3's ReLU; features[23] is pool4
POOL3 = 16  # features[16], the pooling that rounds up (75 -> 38)


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every convolution in ``module`` (SSD's)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _extra_block(in_channels: int, middle: int, out_channels: int, *, stride: int,
                 padding: int) -> nn.Sequential:
    """A 1x1 reduction, then a 3x3 convolution (each with ReLU): SSD's extra feature layers."""
    return nn.Sequential(nn.Conv2d(in_channels, middle, 1), nn.ReLU(inplace=True),
                         nn.Conv2d(middle, out_channels, 3, stride=stride, padding=padding),
                         nn.ReLU(inplace=True))


class SSDVGGBackbone(nn.Module):
    """VGG-16 and SSD's extra layers: ``(N, 3, 300, 300)`` -> an ordered dict ``"0" .. "5"`` of
    the six maps in the table of the module docstring.

    Args (keyword-only):
        width: VGG's first-block width (64, the published network); every layer keeps its
            ratio to it (:func:`segedu.nn.vgg.vgg16_config`), ``(width / 64) ** 2`` of the
            weights.
        extra_blocks: how many of the four extra blocks to keep (4); the last two are
            unpadded 3x3 convolutions that need maps of at least 3 pixels, so a 128 x 128
            image (maps of 16, 8, 4, 2 pixels) keeps two: four maps.

    ``out_channels`` is ``[512, 1024, 512, 256, 256, 256]`` at width 64 (the first
    ``2 + extra_blocks``), read by the heads.
    """

    def __init__(self, *, width: int = 64, extra_blocks: int = 4) -> None:
        super().__init__()
        if (isinstance(extra_blocks, bool) or not isinstance(extra_blocks, int)
                or not 0 <= extra_blocks <= 4):
            raise ValueError(f"extra_blocks must be an int in 0 .. 4, got {extra_blocks!r}")
        # VGG-16's 13 convolutions and 5 poolings, torchvision's numbering
        vgg = vgg_features(vgg16_config(width))

        def c(channels: int) -> int:  # a width-64 layer's channels at this width
            return channels * width // 64

        vgg[POOL3].ceil_mode = True  # 75 -> 38, so that conv4_3 is 38 x 38
        # the L2 normalisation's learned per-channel scale, initially 20
        self.scale_weight = nn.Parameter(torch.ones(c(512)) * 20)
        self.features = nn.Sequential(*vgg[:CONV4_3_END])  # up to conv4_3 (and its ReLU)
        # fc6 and fc7 as convolutions: pool5 keeps the size; fc6 is dilated 6 (atrous)
        fc = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
                           nn.Conv2d(c(512), c(1024), kernel_size=3, padding=6, dilation=6),
                           nn.ReLU(inplace=True), nn.Conv2d(c(1024), c(1024), kernel_size=1),
                           nn.ReLU(inplace=True))
        extra = [_extra_block(c(1024), c(256), c(512), stride=2, padding=1),  # conv8_2
                 _extra_block(c(512), c(128), c(256), stride=2, padding=1),  # conv9_2
                 _extra_block(c(256), c(128), c(256), stride=1, padding=0),  # conv10_2
                 _extra_block(c(256), c(128), c(256), stride=1, padding=0)][:extra_blocks]
        xavier_init(fc)
        for block in extra:
            xavier_init(block)
        # pool4, conv5_1 .. conv5_3 (VGG's, without pool5), then fc6 / fc7
        self.extra = nn.ModuleList([nn.Sequential(*vgg[CONV4_3_END:-1], fc), *extra])
        self.out_channels = [c(512), c(1024), c(512), c(256), c(256), c(256)][:2 + extra_blocks]

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = self.features(x)  # conv4_3: (N, 512, 38, 38)
        # unit length per position (over the channels), then the learned scale
        maps = [self.scale_weight.view(1, -1, 1, 1) * F.normalize(x)]
        for block in self.extra:  # fc7 (N, 1024, 19, 19), conv8_2 .. conv11_2
            x = block(x)
            maps.append(x)
        return OrderedDict((str(i), m) for i, m in enumerate(maps))
