r"""The backbone of Mask2Former and DETR: a ResNet giving four feature maps ``res2 .. res5`` at
strides 4, 8, 16, 32.

Mask2Former is a "meta-architecture" that works with any backbone that gives multi-scale features
(the paper uses ResNet-50/101 and Swin). segedu uses its own :class:`~segedu.nn.resnet.ResNet`
without the
classifier: its ``forward_stages`` gives the outputs of ``layer1 .. layer4``, which detectron2
calls ``res2 .. res5``::

    (B, 3, H, W) -> res2 (B, c,  H/4,  W/4)      c = width * expansion
                    res3 (B, 2c, H/8,  W/8)      (expansion 1 for ResNet-18/34, 4 for ResNet-50)
                    res4 (B, 4c, H/16, W/16)
                    res5 (B, 8c, H/32, W/32)

Relation to the reference: the paper's R50 is detectron2's ResNet-50 with frozen batch norm
(detectron2's default ``RESNETS.NORM = "FrozenBN"``, which Mask2Former's configs keep), stride on
the 3x3 convolution (``STRIDE_IN_1X1: False``, torchvision's "v1.5") and ImageNet weights converted
from torchvision (``R-50.pkl``). segedu's ResNet is that network with torchvision's parameter names,
so ``model.backbone.load_state_dict(torchvision_resnet50_weights, strict=False)`` (dropping ``fc``)
initialises it from ImageNet. detectron2 names the same tensors differently (``stem.conv1``,
``res2.0.conv1.norm``, ``res2.0.shortcut``), so an official Mask2Former checkpoint's backbone needs
a renaming (not written yet).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .frozen_batch_norm import FrozenBatchNorm2d
from .resnet import ResNet, resnet_by_name

__all__ = ["build_backbone"]


def build_backbone(*, name: str = "resnet50", width: int = 64,
                   frozen_batch_norm: bool = True) -> ResNet:
    """A classifier-less ResNet whose ``forward_stages(images)`` gives ``[res2, res3, res4, res5]``.

    Args (keyword-only):
        name: ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``.
        width: channels of the first stage (64 is the published network, smaller for slim ones).
        frozen_batch_norm: :class:`~segedu.nn.frozen_batch_norm.FrozenBatchNorm2d` (the paper,
            fine-tuning an ImageNet backbone) or trainable ``BatchNorm2d`` (training from scratch).

    The returned ResNet's ``stage_channels`` are the channels of ``res2 .. res5``.
    """
    norm_layer: Callable[[int], nn.Module] = (FrozenBatchNorm2d if frozen_batch_norm
                                              else nn.BatchNorm2d)
    return resnet_by_name(name, include_top=False, width=width, norm_layer=norm_layer)
