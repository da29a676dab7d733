"""Batch norm as the checkpoint was trained with it: frozen for torchvision's COCO detectors.

torchvision trains its COCO detectors (Faster/Mask R-CNN, RetinaNet) on an ImageNet backbone
whose batch norms are *frozen*: fixed statistics and affine parameters, ``eps = 0``, with the
stem and ``layer1`` not trained either (``trainable_backbone_layers=3``). Such a checkpoint has
no ``num_batches_tracked`` entries in the backbone; one trained from scratch with ordinary batch
norm has them. :func:`match_batch_norm_to_checkpoint` builds the backbone the way the checkpoint
needs, exactly as torchvision's builders do for those weights; :class:`MatchBatchNormOnLoad` does
it in a detector's ``load_state_dict`` (the two-stage and the one-stage families mix it in).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ....nn.frozen_batch_norm import freeze_batch_norm

__all__ = ["match_batch_norm_to_checkpoint", "MatchBatchNormOnLoad"]


def match_batch_norm_to_checkpoint(body: nn.Module, state_dict: Mapping[str, torch.Tensor], *,
                                   prefix: str = "backbone.body.") -> bool:
    """Freeze ``body``'s batch norms (``eps = 0``) and its stem and ``layer1`` when
    ``state_dict`` (whose keys for ``body`` start with ``prefix``) was trained with frozen batch
    norm; leave it as it is otherwise. Returns whether it froze."""
    frozen_checkpoint = any(
        isinstance(m, nn.BatchNorm2d) and f"{prefix}{name}.running_mean" in state_dict
        and f"{prefix}{name}.num_batches_tracked" not in state_dict
        for name, m in body.named_modules())
    if not frozen_checkpoint:
        return False
    freeze_batch_norm(body, eps=0.0)
    for name, parameter in body.named_parameters():  # trainable_backbone_layers=3
        if name.startswith(("conv1.", "layer1.")):
            parameter.requires_grad_(False)
    return True


class MatchBatchNormOnLoad(nn.Module):
    """Mixed in before a detector family's base class: ``load_state_dict`` first builds the
    batch norms of ``self.backbone.body`` (when there is one) the way ``state_dict`` was trained
    (:func:`match_batch_norm_to_checkpoint`), then loads it as :class:`torch.nn.Module` does."""

    def load_state_dict(self, state_dict: Mapping[str, torch.Tensor], strict: bool = True,
                        assign: bool = False):
        body = getattr(getattr(self, "backbone", None), "body", None)
        if body is not None:
            match_batch_norm_to_checkpoint(body, state_dict)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
