"""DeepLabv3+ (Chen, Zhu, Papandreou, Schroff and Adam, ECCV 2018): DeepLabv3 with a decoder.

DeepLabv3 sees context through ASPP on features at stride 16 (or 8), then up-samples its scores
x16 in one step, which blurs object boundaries. DeepLabv3+ adds a light decoder:

    image ─ ResNet ─ layer1 (stride 4) ─ 1x1 conv to 48 channels ──────────┐
                 └── layer4 (stride 16, dilated) ─ ASPP ─ 3x3 ─ up x4 ─ concat ─ 3x3 ─ 1x1
                 classifier ─ up x4

The low-level features are first reduced to 48 channels so that they do not outweigh the 256
channels of context. As in the paper, the ASPP's dilated branches and the decoder's 3x3
convolutions are **depthwise-separable** ("atrous separable convolution"; ``separable=False`` uses
full convolutions), the rates are (6, 12, 18) at output stride 16 and doubled at output stride 8,
and the bilinear up-samplings use ``align_corners=True`` like the reference TensorFlow code.

segmentation-models-pytorch's ``DeepLabV3Plus`` has the same decoder (tests/models compare them
weight for weight) and the same number of parameters; its ResNet differs in one place: when it
dilates ``layer4`` it also dilates the first block's 3x3 convolution, which torchvision (and this
module's backbone) leaves at the previous dilation. Its ``decoder_aspp_separable=False`` turns only
the ASPP's branches into full convolutions; ``separable=False`` here turns the decoder's too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.resnet import resnet_by_name
from ..registry import register_model
from .base import SemanticOutput, SemanticSegmenter
from .heads import ASPP, conv_bn_relu, separable_bn_relu

__all__ = ["DeepLabV3PlusDecoder", "DeepLabV3Plus", "deeplabv3plus"]


class DeepLabV3PlusDecoder(nn.Module):
    """ASPP on the deep features, fused with reduced low-level features: -> (N, channels,
    h4, w4)."""

    def __init__(self, *, high_channels: int, low_channels: int, channels: int = 256,
                 rates: tuple[int, int, int] = (6, 12, 18), separable: bool = True,
                 low_level_channels: int = 48, align_corners: bool = True) -> None:
        super().__init__()
        block = separable_bn_relu if separable else lambda i, o: conv_bn_relu(i, o, 3)
        self.aspp = nn.Sequential(ASPP(in_channels=high_channels, rates=rates,
                                       out_channels=channels,
                                       separable=separable), *block(channels, channels))
        self.reduce_low_level = nn.Sequential(*conv_bn_relu(low_channels, low_level_channels, 1))
        self.fuse = nn.Sequential(*block(channels + low_level_channels, channels))
        self.align_corners = align_corners

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """low (N, C_low, h4, w4) from stride 4, high (N, C_high, h16, w16) -> (N, channels,
        h4, w4)."""
        context = self.aspp(high)  # (N, 256, h16, w16)
        context = F.interpolate(context, size=low.shape[-2:], mode="bilinear",
                                align_corners=self.align_corners)
        detail = self.reduce_low_level(low)  # (N, 48, h4, w4)
        return self.fuse(torch.cat([context, detail], dim=1))  # (N, 256, h4, w4)


class DeepLabV3Plus(SemanticSegmenter):
    """ResNet backbone (output stride 16 or 8), DeepLabv3+ decoder, 1x1 classifier, up-sampling.

    ``forward``: (N, 3, H, W) -> (N, num_classes, H, W) logits, for any H, W.

    ``rates`` overrides the ASPP's dilation rates. The defaults suit the paper's 513 x 513 crops; on
    a small image a rate larger than the feature map leaves only the kernel's centre tap inside it
    (the paper's own observation, which is why ASPP has the image-pooling branch), so the zoo's
    slim models, trained on 128 x 128 scenes, use smaller rates. ``backbone_width`` is the
    ResNet's width (64: the published network and torchvision's weights).
    """

    def __init__(self, *, num_classes: int = 21, backbone: str = "resnet50",
                 output_stride: int = 16,
                 separable: bool = True, decoder_channels: int = 256, align_corners: bool = True,
                 rates: tuple[int, int, int] | None = None, backbone_width: int = 64) -> None:
        super().__init__()
        if output_stride not in (8, 16):
            raise ValueError(f"output_stride must be 8 or 16, got {output_stride!r}")
        dilate = (False, output_stride == 8, True)  # layer4 always dilated; layer3 too for stride 8
        self.backbone = resnet_by_name(backbone, replace_stride_with_dilation=dilate,
                                       include_top=False,
                                       width=backbone_width)
        if rates is None:
            rates = (6, 12, 18) if output_stride == 16 else (12, 24, 36)
        rates = tuple(rates)
        if len(rates) != 3 or any(isinstance(r, bool) or not isinstance(r, int) or r < 1
                                  for r in rates):
            raise ValueError(f"rates must be three positive ints, got {rates!r}")
        self.decoder = DeepLabV3PlusDecoder(high_channels=self.backbone.out_channels,
                                            low_channels=self.backbone.stage_channels[0],
                                            channels=decoder_channels, rates=rates,
                                            separable=separable,
                                            align_corners=align_corners)
        self.classifier = nn.Conv2d(decoder_channels, num_classes, 1)
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> SemanticOutput:
        layer1, _, _, layer4 = self.backbone.forward_stages(x)  # stride 4 and stride 16 (or 8)
        scores = self.classifier(self.decoder(layer1, layer4))  # (N, K, H/4, W/4)
        out = F.interpolate(scores, size=x.shape[-2:], mode="bilinear",
                            align_corners=self.align_corners)
        return {"out": out}  # (N, K, H, W)


@register_model("deeplabv3plus")
def deeplabv3plus(**kwargs) -> DeepLabV3Plus:
    """DeepLabv3+ (keyword arguments of :class:`DeepLabV3Plus`; ResNet-50, output stride 16)."""
    return DeepLabV3Plus(**kwargs)
