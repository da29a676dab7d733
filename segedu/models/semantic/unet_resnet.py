"""U-Net with a ResNet encoder: the U-Net most used in practice (Kaggle,
segmentation-models-pytorch).

The original U-Net (:mod:`segedu.models.semantic.unet`) learns its encoder from scratch. In practice
the contracting path is usually a classification network pre-trained on ImageNet, here a ResNet, and
only the expanding path is new. The skips come from every resolution the ResNet has::

    image (3, H, W)
      stem: conv 7x7/2 ─ BN ─ ReLU ───────── (w, H/2) ────────────────── block 3 ─ block 4 ─ 3x3
          conv ─ logits (K, H, W)
        maxpool ─ layer1 ────────────────── (w, H/4) ──────────── block 2 ─┘    (no skip: up to H)
          layer2 ─────────────────────────── (2w, H/8) ──── block 1 ─┘
            layer3 ───────────────────────── (4w, H/16) ─ block 0 ─┘
              layer4 (8w, H/32) ──────────────────────────┘

(``w`` = 64 channels for ResNet-18/34, times 4 after the stem for ResNet-50.) Each decoder block
up-samples its input to the size of the next skip (nearest neighbour by default, no weights),
concatenates the skip, and applies two 3x3 conv-BN-ReLU: the same "up, concatenate, convolve" as
the original U-Net, with a fixed up-sampling instead of a transposed convolution, padded
convolutions, and decoder widths ``(256, 128, 64, 32, 16)`` that no longer mirror the encoder.
Because every block interpolates to the *exact* size of its skip, any input size works (odd ones
included); there is nothing to crop.

The module names follow segmentation-models-pytorch 0.6's ``Unet`` (``encoder.*`` is a torchvision
ResNet, ``decoder.blocks.<i>.conv1.0`` the first convolution of block ``i``,
``segmentation_head.0`` the classifier), so its state dict loads as it is and the two models give
the same outputs (tests/models/semantic/test_unet_resnet.py); torchvision's ImageNet ResNet weights
load into ``encoder`` for fine-tuning.

Registered builder: ``get_model("unet_resnet", backbone="resnet34", num_classes=K)``.

The same decoder on the Transformer-era backbones, :class:`UNetOnBackbone`: Swin-T
(``get_model("unet_swin_t")``) and ConvNeXt-T (``get_model("unet_convnext_tiny")``). Their
first map is at stride 4 (a 4 x 4 patchify stem, no stride-2 map), so the decoder has four
blocks: three with the skips at strides 16, 8 and 4, and a last one, without a skip, up to the
image. The encoder is the classifier without its top, under the classifier's own names
(``encoder.stages...``), so its ImageNet weights load into ``encoder`` (``strict=False``, the
head dropped).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.backbone import Backbone
from ...nn.convnext import convnext_tiny as convnext_tiny_encoder
from ...nn.resnet import resnet_by_name
from ...nn.swin import swin_t as swin_t_encoder
from ..registry import register_model
from .base import SemanticOutput, SemanticSegmenter
from .heads import conv_bn_relu

__all__ = ["UNetDecoderBlock", "UNetDecoder", "UNetResNet", "unet_resnet", "UNetOnBackbone",
           "unet_swin_t", "unet_convnext_tiny"]


class UNetDecoderBlock(nn.Module):
    """Up-sample to the skip's size, concatenate the skip, two 3x3 conv-BN-ReLU.

    Shapes: x (N, C_in, h, w), skip (N, C_skip, H', W') -> (N, C_out, H', W'). Without a skip
    (``skip_channels=0``, the last block) the block up-samples to ``size`` given to ``forward``.
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, *,
                 interpolation: str = "nearest") -> None:
        super().__init__()
        self.interpolation = interpolation
        self.conv1 = nn.Sequential(*conv_bn_relu(in_channels + skip_channels, out_channels, 3))
        self.conv2 = nn.Sequential(*conv_bn_relu(out_channels, out_channels, 3))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None,
                size: tuple[int, int] | None = None) -> torch.Tensor:
        size = skip.shape[-2:] if skip is not None else size
        x = F.interpolate(x, size=size, mode=self.interpolation)  # (N, C_in, H', W'): no weights
        if skip is not None:
            x = torch.cat([x, skip], dim=1)  # (N, C_in + C_skip, H', W'): context + detail
        return self.conv2(self.conv1(x))  # (N, C_out, H', W')


class UNetDecoder(nn.Module):
    """One :class:`UNetDecoderBlock` per encoder map, deepest first; the last one has no skip
    (five blocks on a ResNet: stem and four stages; four on Swin or ConvNeXt)."""

    def __init__(self, *, encoder_channels: tuple[int, ...], channels: tuple[int, ...],
                 interpolation: str = "nearest") -> None:
        super().__init__()
        if len(channels) != len(encoder_channels):
            raise ValueError(f"decoder channels {channels!r} need one value per encoder map "
                             f"({len(encoder_channels)})")
        # encoder_channels: stem, layer1..layer4 (shallow to deep). Inputs come from below,
        # skips from the side: block i takes the deeper map and the skip one level up.
        deep_first = tuple(reversed(encoder_channels))  # layer4, layer3, layer2, layer1, stem
        inputs = (deep_first[0], *channels[:-1])
        skips = (*deep_first[1:], 0)
        self.blocks = nn.ModuleList(
            UNetDecoderBlock(c_in, c_skip, c_out, interpolation=interpolation)
            for c_in, c_skip, c_out in zip(inputs, skips, channels, strict=True))

    def forward(self, features: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """features: stem, layer1..layer4 outputs (shallow to deep) -> (N, channels[-1], *size)."""
        x, skips = features[-1], features[-2::-1]  # start at layer4; skips deep to shallow
        for i, block in enumerate(self.blocks):
            skip = skips[i] if i < len(skips) else None
            x = block(x, skip, size)
        return x


class UNetResNet(SemanticSegmenter):
    """U-Net whose contracting path is a ResNet: (N, 3, H, W) -> {"out": (N, num_classes, H, W)}.

    Args:
        num_classes: output channels.
        backbone: ``"resnet18"``, ``"resnet34"`` (default, as smp's ``Unet``) or ``"resnet50"``.
        backbone_width: the ResNet's width (64: the published network and its ImageNet weights).
        decoder_channels: output channels of the five decoder blocks, deepest first.
        interpolation: the decoder's up-sampling, ``"nearest"`` (smp's default) or ``"bilinear"``.
    """

    def __init__(self, *, num_classes: int = 1, backbone: str = "resnet34",
                 backbone_width: int = 64,
                 decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16),
                 interpolation: str = "nearest") -> None:
        super().__init__()
        if len(decoder_channels) != 5:
            raise ValueError("decoder_channels needs 5 values (one per resolution), got "
                             f"{decoder_channels!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError("interpolation must be 'nearest' or 'bilinear', got "
                             f"{interpolation!r}")
        self.encoder = resnet_by_name(backbone, include_top=False, width=backbone_width)
        stem = (backbone_width,)  # the stem's output, before the max pooling
        self.decoder = UNetDecoder(encoder_channels=stem + self.encoder.stage_channels,
                                   channels=tuple(decoder_channels), interpolation=interpolation)
        self.segmentation_head = nn.Sequential(nn.Conv2d(decoder_channels[-1], num_classes, 3,
                                                         padding=1))

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, H, W) -> the stem's and layer1..layer4's outputs, at strides 2, 4, 8, 16, 32."""
        e = self.encoder
        stem = e.relu(e.bn1(e.conv1(x)))  # (N, w, H/2, W/2): a skip, taken before the pooling
        x = e.maxpool(stem)  # (N, w, H/4, W/4)
        features = [stem]
        for stage in (e.layer1, e.layer2, e.layer3, e.layer4):
            x = stage(x)  # strides 4, 8, 16, 32
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> SemanticOutput:
        features = self.encode(x)  # shallow to deep
        x = self.decoder(features, size=x.shape[-2:])  # (N, 16, H, W)
        return {"out": self.segmentation_head(x)}  # (N, num_classes, H, W)


@register_model("unet_resnet")
def unet_resnet(**kwargs) -> UNetResNet:
    """U-Net with a ResNet-34 encoder (keyword arguments of :class:`UNetResNet`).

    24,436,369 parameters with one class, as segmentation-models-pytorch's ``Unet("resnet34")``.
    """
    return UNetResNet(**kwargs)


# encoders with four maps at strides 4-32, built without their classifier: name -> builder
ENCODERS = {"swin_t": swin_t_encoder, "convnext_tiny": convnext_tiny_encoder}


class UNetOnBackbone(SemanticSegmenter):
    """The U-Net decoder on a Swin or ConvNeXt encoder: (N, 3, H, W) -> {"out": (N, K, H, W)}.

    Args (keyword-only):
        num_classes: output channels.
        backbone: ``"swin_t"`` or ``"convnext_tiny"``.
        backbone_config: keyword arguments of the encoder's builder (e.g. ``{"dims": (16, 32,
            64, 128), "depths": (1, 1, 1, 1)}`` for a slim ConvNeXt, ``{"embed_dim": 16,
            "depths": (2, 2, 2, 2), "num_heads": (1, 2, 4, 8)}`` for a slim Swin).
        decoder_channels: output channels of the four decoder blocks, deepest first.
        interpolation: the decoder's up-sampling, ``"nearest"`` or ``"bilinear"``.
    """

    def __init__(self, *, num_classes: int = 1, backbone: str = "convnext_tiny",
                 backbone_config: dict | None = None,
                 decoder_channels: tuple[int, ...] = (256, 128, 64, 32),
                 interpolation: str = "nearest") -> None:
        super().__init__()
        if backbone not in ENCODERS:
            raise ValueError(f"backbone must be one of {sorted(ENCODERS)}, got {backbone!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError("interpolation must be 'nearest' or 'bilinear', got "
                             f"{interpolation!r}")
        self.encoder: Backbone = ENCODERS[backbone](include_top=False, **(backbone_config or {}))
        self.decoder = UNetDecoder(encoder_channels=self.encoder.stage_channels,
                                   channels=tuple(decoder_channels), interpolation=interpolation)
        self.segmentation_head = nn.Sequential(nn.Conv2d(decoder_channels[-1], num_classes, 3,
                                                         padding=1))

    def forward(self, x: torch.Tensor) -> SemanticOutput:
        features = self.encoder.forward_stages(x)  # strides 4, 8, 16, 32 (shallow to deep)
        x = self.decoder(features, size=x.shape[-2:])  # (N, decoder_channels[-1], H, W)
        return {"out": self.segmentation_head(x)}  # (N, num_classes, H, W)


@register_model("unet_swin_t")
def unet_swin_t(**kwargs) -> UNetOnBackbone:
    """U-Net decoder on Swin-T (keyword arguments of :class:`UNetOnBackbone`).

    31,621,147 parameters with one class: Swin-T without its classifier (27,517,818) and the
    decoder (checked in the tests)."""
    return UNetOnBackbone(backbone="swin_t", **kwargs)


@register_model("unet_convnext_tiny")
def unet_convnext_tiny(**kwargs) -> UNetOnBackbone:
    """U-Net decoder on ConvNeXt-T (keyword arguments of :class:`UNetOnBackbone`).

    31,921,921 parameters with one class: ConvNeXt-T without its classifier (27,818,592) and the
    decoder (checked in the tests)."""
    return UNetOnBackbone(backbone="convnext_tiny", **kwargs)
