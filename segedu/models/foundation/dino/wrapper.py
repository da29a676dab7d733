"""Backbone + head applied to a list of crops of different sizes (DINO's ``MultiCropWrapper``).

Caron et al., ICCV 2021; DINO's ``utils.MultiCropWrapper``. The crops of one size are concatenated
into one batch for the backbone (a ViT takes any size that is a multiple of its patch, but one batch
must share a size), so that 2 global + 8 local crops cost two backbone calls; the class-token
embeddings of all crops then go through the head together. DINO returns one tensor with the crops
stacked along the batch dimension; we split it back into one ``(B, K)`` tensor per crop, the form
that :class:`~segedu.models.foundation.dino.loss.DINOLoss` takes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MultiCropWrapper"]


class MultiCropWrapper(nn.Module):
    """``V`` crops ``(B, 3, S_v, S_v)`` -> ``V`` head outputs ``(B, K)``.

    Args:
        backbone: images ``(B, 3, S, S)`` -> embeddings ``(B, D)`` (the ViT's class token).
        head: embeddings ``(B, D)`` -> ``(B, K)``
            (:class:`~segedu.models.foundation.dino.head.DINOHead`).
    """

    def __init__(self, *, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, crops: Sequence[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
        if isinstance(crops, torch.Tensor):
            crops = [crops]
        if not len(crops):
            raise ValueError("crops must hold at least one batch of images")
        batch = crops[0].shape[0]
        if any(c.ndim != 4 or c.shape[0] != batch for c in crops):
            raise ValueError("every crop must be (B, C, S, S) with the same B, got "
                             f"{[tuple(c.shape) for c in crops]}")
        # 1. runs of consecutive crops with the same size: one backbone call each
        embeddings, start = [], 0
        while start < len(crops):
            end = start
            while end < len(crops) and crops[end].shape[-2:] == crops[start].shape[-2:]:
                end += 1
            embeddings.append(self.backbone(torch.cat(list(crops[start:end]))))
            start = end
        # 2. the head on all embeddings at once: (V B, D) -> (V B, K)
        outputs = self.head(torch.cat(embeddings))
        # 3. one (B, K) tensor per crop, in the crops' order
        return list(outputs.split(batch))
