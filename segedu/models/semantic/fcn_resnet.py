"""FCN-ResNet50 and DeepLabv3-ResNet50, equal to torchvision's models given their weights.

Both run a dilated ResNet-50 (output stride 8: layers 3 and 4 dilate instead of striding), put a
head on the last stage's features (an FCN head, or DeepLabv3's ASPP head) and up-sample its scores
bilinearly to the input size. With ``aux_loss=True`` an FCN head on layer 3 gives auxiliary scores
for a second loss during training (as in PSPNet). They return a dict ``{"out": (N, K, H, W),
"aux": (N, K, H, W)}``, as torchvision's. ``weights="official"`` downloads torchvision's
checkpoints (trained on a COCO subset with the 20 Pascal VOC classes and background: 21 classes).

Parameter counts with 21 classes and the auxiliary head (torchvision's documented numbers):
``fcn_resnet50`` 35,322,218 and ``deeplabv3_resnet50`` 42,004,074.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.resnet import ResNet, resnet50, resnet_by_name
from ..registry import register_model
from .base import SemanticOutput, SemanticSegmenter
from .heads import deeplab_head, fcn_head

__all__ = ["DilatedResNetSegmenter", "fcn_resnet50", "fcn_resnet", "deeplabv3_resnet50"]


class DilatedResNetSegmenter(SemanticSegmenter):
    """A dilated ResNet backbone, a head on layer 4, an optional auxiliary head on layer 3.

    ``backbone`` defaults to torchvision's dilated ResNet-50 (output stride 8); PSPNet passes
    another (e.g. a slim ResNet-18) built with ``replace_stride_with_dilation=(False, True, True)``.
    """

    def __init__(self, *, head: nn.Module, aux_head: nn.Module | None = None,
                 backbone: ResNet | None = None) -> None:
        super().__init__()
        if backbone is None:
            backbone = resnet50(replace_stride_with_dilation=(False, True, True), include_top=False)
        self.backbone = backbone
        self.classifier = head
        self.aux_classifier = aux_head

    def forward(self, x: torch.Tensor) -> SemanticOutput:
        size = x.shape[-2:]
        # ResNet-50: (N, 1024, H/8, W/8), (N, 2048, H/8, W/8)
        *_, layer3, layer4 = self.backbone.forward_stages(x)
        result: SemanticOutput = OrderedDict()  # as torchvision's
        scores = self.classifier(layer4)  # (N, K, H/8, W/8)
        # (N, K, H, W)
        result["out"] = F.interpolate(scores, size=size, mode="bilinear", align_corners=False)
        if self.aux_classifier is not None:
            scores = self.aux_classifier(layer3)
            result["aux"] = F.interpolate(scores, size=size, mode="bilinear", align_corners=False)
        return result


def _torchvision_url(weights_enum: str) -> Callable[[], str]:
    """The address of torchvision's default checkpoint for a weights enum of its
    segmentation models."""

    def url() -> str:
        import torchvision.models.segmentation as segmentation

        return getattr(segmentation, weights_enum).DEFAULT.url

    return url


@register_model("fcn_resnet50", official=_torchvision_url("FCN_ResNet50_Weights"))
def fcn_resnet50(*, num_classes: int = 21, aux_loss: bool = True) -> DilatedResNetSegmenter:
    """FCN with a dilated ResNet-50 (torchvision's ``fcn_resnet50``):
    :func:`fcn_resnet`'s defaults."""
    return fcn_resnet(num_classes=num_classes, aux_loss=aux_loss)


@register_model("fcn_resnet")
def fcn_resnet(*, num_classes: int = 21, aux_loss: bool = True, backbone: str = "resnet50",
               backbone_width: int = 64) -> DilatedResNetSegmenter:
    """FCN with any dilated ResNet (``"resnet18"``, ``"resnet34"``, ``"resnet50"``) of any width.

    The defaults give ``fcn_resnet50``; a slim ResNet-18 gives the zoo's FCN, which trains on a CPU
    where FCN-8s cannot: the VGG FCN's 100-pixel padding makes a 64 x 64 image a 264 x 264 one.
    """
    resnet = resnet_by_name(backbone, replace_stride_with_dilation=(False, True, True),
                            include_top=False,
                            width=backbone_width)
    layer3, layer4 = resnet.stage_channels[2:]
    return DilatedResNetSegmenter(head=fcn_head(layer4, num_classes), backbone=resnet,
                                  aux_head=fcn_head(layer3, num_classes) if aux_loss else None)


@register_model("deeplabv3_resnet50", official=_torchvision_url("DeepLabV3_ResNet50_Weights"))
def deeplabv3_resnet50(*, num_classes: int = 21, aux_loss: bool = True) -> DilatedResNetSegmenter:
    """DeepLabv3 with a dilated ResNet-50 and ASPP (torchvision's ``deeplabv3_resnet50``)."""
    return DilatedResNetSegmenter(head=deeplab_head(2048, num_classes),
                                  aux_head=fcn_head(1024, num_classes) if aux_loss else None)
