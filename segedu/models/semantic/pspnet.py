"""PSPNet (Zhao et al., 2017): a dilated ResNet-50 and the pyramid pooling module.

Reference: H. Zhao, J. Shi, X. Qi, X. Wang, J. Jia, "Pyramid Scene Parsing Network", CVPR 2017,
https://arxiv.org/abs/1612.01105.

A pixel's class often depends on the whole scene (a boat is on water, not on a road), but even a
deep network's *effective* receptive field is much smaller than its theoretical one. The pyramid
pooling module (PPM) gives every pixel a summary of the scene at four scales: the feature map is
average-pooled to 1x1, 2x2, 3x3 and 6x6 bins, each summary is reduced to C/4 channels, up-sampled
back and concatenated with the features themselves::

    image (3, H, W) ─ dilated ResNet-50 ─ layer4 (C=2048, H/8, W/8) ─┬──────────────────────┐
                           │                   ├ avgpool 1x1 ─ 1x1 conv C/4 ─ BN ─ ReLU ─ up ┤
                           │                   ├ avgpool 2x2 ─ 1x1 conv C/4 ─ BN ─ ReLU ─ up ┤
                           │                   ├ avgpool 3x3 ─ 1x1 conv C/4 ─ BN ─ ReLU ─ up ┤
                           │                   └ avgpool 6x6 ─ 1x1 conv C/4 ─ BN ─ ReLU ─ up ┤
                           │                         concatenate: C + 4 * C/4 = 2C = 4096 ───┘
                           │                         3x3 conv-BN-ReLU 512, dropout 0.1, 1x1 conv K
                           │                         bilinear up-sampling to H x W ─ "out"
                           └ layer3 (1024, H/8, W/8) ─ FCN head ─ up-sampling ─ "aux" (training)

"up" is bilinear interpolation (``align_corners=False``) to the feature map's size. The auxiliary
head supervises layer 3 during training (deep supervision); the loss is
``CE(out) + 0.4 CE(aux)``, the paper's weight (:func:`pspnet_loss`). At test time "aux" is unused.

Differences from the paper's networks: the backbone is torchvision's ResNet-50 (a 7x7 stem; the
paper's ResNet has three 3x3 convolutions in its stem), so torchvision's ImageNet weights fit it.
Note that the 1x1 branch applies batch norm to a 1x1 map: in training mode that needs more than
one image per batch (as torchvision's ASPP pooling branch).

Compared with segmentation-models-pytorch's ``PSPModule``/``PSPDecoder`` (v0.6) the layout
differs, so their outputs are not compared in the tests beyond the shared pooling branches:

- smp's 1x1 branch has no batch norm (a convolution with bias instead); ours has BN in all four;
- smp concatenates ``[branches..., features]``; we concatenate ``[features, branches...]`` as the
  authors' code (``hszhao/semseg``);
- smp (like the authors' code and its Caffe ``Interp`` layer) up-samples with
  ``align_corners=True``; we use ``align_corners=False``, as torchvision and the rest of segedu;
- smp follows the module with a 1x1 conv-BN-ReLU and ``Dropout2d(0.2)``; the paper uses a 3x3
  conv-BN-ReLU to 512 and dropout 0.1.

Registered builders: ``get_model("pspnet_resnet50", num_classes=21, aux_loss=True)``, and
``get_model("pspnet", backbone=..., backbone_width=..., ...)`` for other backbones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.resnet import resnet_by_name
from ..registry import register_model
from .fcn_resnet import DilatedResNetSegmenter
from .heads import conv_bn_relu, fcn_head

__all__ = ["PyramidPoolingModule", "psp_head", "PSPNet", "pspnet", "pspnet_resnet50", "pspnet_loss"]


class PyramidPoolingModule(nn.Module):
    """Pool to ``bins`` x ``bins``, reduce, up-sample, concatenate with the input.

    Branch ``i`` (``stages[i]``) is AdaptiveAvgPool2d(bins[i]) -> 1x1 conv C -> C/len(bins), no
    bias -> BN -> ReLU, giving (N, C/len(bins), bins[i], bins[i]).
    Shapes: (N, C, h, w) -> (N, C + len(bins) * (C // len(bins)), h, w), i.e. (N, 2C, h, w).
    """

    def __init__(self, in_channels: int, *, bins: tuple[int, ...] = (1, 2, 3, 6)) -> None:
        super().__init__()
        reduced = in_channels // len(bins)  # C/4 for the paper's 4 levels
        self.bins = tuple(bins)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), *conv_bn_relu(in_channels, reduced, 1))
            for b in bins
        )
        self.out_channels = in_channels + len(bins) * reduced

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]  # (h, w)
        outputs = [x]  # the features themselves: (N, C, h, w)
        for stage in self.stages:
            pooled = stage(x)  # (N, C/4, bin, bin): a summary of each region of the scene
            # back to (N, C/4, h, w): every pixel gets the summary of the region it lies in
            outputs.append(F.interpolate(pooled, size=size, mode="bilinear", align_corners=False))
        return torch.cat(outputs, dim=1)  # (N, 2C, h, w)


def psp_head(in_channels: int, num_classes: int, *, bins: tuple[int, ...] = (1, 2, 3, 6),
             channels: int = 512, dropout: float = 0.1) -> nn.Sequential:
    """PPM, 3x3 conv-BN-ReLU to ``channels``, dropout, 1x1 classifier.

    Shapes: (N, C, h, w) -> PPM (N, 2C, h, w) -> (N, 512, h, w) -> (N, num_classes, h, w).
    """
    ppm = PyramidPoolingModule(in_channels, bins=bins)
    return nn.Sequential(ppm, *conv_bn_relu(ppm.out_channels, channels, 3), nn.Dropout(dropout),
                         nn.Conv2d(channels, num_classes, 1))


class PSPNet(DilatedResNetSegmenter):
    """PSPNet on a dilated ResNet (output stride 8): ResNet-50 by default, as the paper's.

    (N, 3, H, W) -> {"out": (N, K, H, W)} plus "aux": (N, K, H, W) when ``aux_loss=True``, as
    torchvision's segmentation models. ``classifier[0]`` is the :class:`PyramidPoolingModule`.
    ``backbone`` (``"resnet18"``, ``"resnet34"``, ``"resnet50"``), ``backbone_width`` (64: the
    published ResNet) and ``head_channels`` (512) give the slim PSPNet of :mod:`segedu.zoo`.
    """

    def __init__(self, *, num_classes: int = 21, aux_loss: bool = True,
                 bins: tuple[int, ...] = (1, 2, 3, 6),
                 backbone: str = "resnet50", backbone_width: int = 64,
                 head_channels: int = 512) -> None:
        resnet = resnet_by_name(backbone, replace_stride_with_dilation=(False, True, True),
                                include_top=False,
                                width=backbone_width)
        layer3, layer4 = resnet.stage_channels[2:]  # 1024 and 2048 for the ResNet-50
        # (N, C4, H/8, W/8)
        super().__init__(head=psp_head(layer4, num_classes, bins=bins, channels=head_channels),
                         aux_head=fcn_head(layer3, num_classes) if aux_loss else None,  # on layer3
                         backbone=resnet)


@register_model("pspnet_resnet50")
def pspnet_resnet50(*, num_classes: int = 21, aux_loss: bool = True) -> PSPNet:
    """PSPNet with a dilated ResNet-50; 48,957,802 parameters with 21 classes and the aux head."""
    return PSPNet(num_classes=num_classes, aux_loss=aux_loss)


@register_model("pspnet")
def pspnet(**kwargs) -> PSPNet:
    """PSPNet (keyword arguments of :class:`PSPNet`; a dilated ResNet-50 by default)."""
    return PSPNet(**kwargs)


def pspnet_loss(outputs: dict[str, torch.Tensor], target: torch.Tensor, *, aux_weight: float = 0.4,
                ignore_index: int = 255) -> torch.Tensor:
    """``CE(outputs["out"]) + aux_weight * CE(outputs["aux"])`` (the aux term only if present).

    ``outputs``: the model's dict of (N, K, H, W) logits; ``target``: (N, H, W) class indices,
    ``ignore_index`` marking unlabelled pixels. Each cross-entropy is the mean over labelled pixels.
    The paper weighs the auxiliary loss by 0.4.
    """
    loss = F.cross_entropy(outputs["out"], target, ignore_index=ignore_index)
    if "aux" in outputs:
        loss = loss + aux_weight * F.cross_entropy(outputs["aux"], target,
                                                   ignore_index=ignore_index)
    return loss
