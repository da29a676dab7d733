"""The semantic family's contract: an image batch in, a dict of class scores per pixel out.

Every model of :mod:`segedu.models.semantic` is a :class:`SemanticSegmenter`, whose ``forward``
maps images ``(N, C_in, H, W)`` (volumes ``(N, C_in, D, H, W)`` for the 3D U-Net) to a dict, as
torchvision's segmentation models (``torchvision.models.segmentation._utils
._SimpleSegmentationModel``) do:

- ``"out"``: the logits ``(N, K, H, W)``, one score per class and pixel (the unpadded U-Net's
  output is smaller than its input: see :func:`segedu.models.semantic.unet.unet_output_size`);
- ``"aux"``: ``(N, K, H, W)``, only for the models built with an auxiliary head
  (``aux_loss=True``: FCN-ResNet, DeepLabv3, PSPNet), for a second loss during training.

A prediction is ``model(images)["out"].argmax(1)``. Networks of other families built on a
semantic network (StarDist, Cellpose, spatial embeddings and the U-Net weight map on
:class:`~segedu.models.semantic.unet.UNet`) read its ``"out"`` and keep their own family's
contract.
"""

from __future__ import annotations

from typing import TypedDict

import torch
from torch import nn

__all__ = ["SemanticOutput", "SemanticSegmenter"]


class SemanticOutput(TypedDict, total=False):
    """What a semantic model's ``forward`` returns: ``"out"`` always, ``"aux"`` optionally."""

    out: torch.Tensor
    aux: torch.Tensor


class SemanticSegmenter(nn.Module):
    """Base class of the semantic family: ``forward(x) -> {"out": (N, K, H, W)[, "aux": ...]}``.

    Subclasses implement ``forward`` and return :class:`SemanticOutput` (``"aux"`` only when they
    have an auxiliary head).
    """

    def forward(self, x: torch.Tensor) -> SemanticOutput:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement forward")
