"""The contract of an ImageNet classifier that is also a segmentation backbone: logits from
``forward``, the four stages' feature maps from ``forward_stages``.

Segmentation heads (U-Net decoders, FPNs, Mask2Former's pixel decoder) need a pyramid of feature
maps at strides 4, 8, 16 and 32 (detectron2's ``res2 .. res5``); a classifier is a stack of
stages that produces exactly that pyramid before pooling it to a vector. Swin
(:class:`segedu.nn.swin.SwinTransformer`) and ConvNeXt (:class:`segedu.nn.convnext.ConvNeXt`)
subclass :class:`Backbone`; segedu's :class:`~segedu.nn.resnet.ResNet` keeps the same interface
(``forward_stages``, ``stage_channels``) with its own base.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Backbone"]


class Backbone(nn.Module):
    """``forward(images (B, 3, H, W))`` -> logits ``(B, num_classes)`` (or, built without the
    top, the last map); ``forward_stages(images)`` -> one map ``(B, stage_channels[i], H /
    strides[i], W / strides[i])`` per stage, shallow to deep.

    Subclasses set ``stage_channels`` and ``strides`` (tuples, one value per stage) and implement
    both methods.
    """

    stage_channels: tuple[int, ...]
    strides: tuple[int, ...]

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must implement forward_stages")
