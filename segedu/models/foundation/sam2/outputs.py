"""What SAM 2 computes for a frame: its image features (:class:`FrameFeatures`) and, per object,
its prediction and memory (:class:`FrameOutput`), the entries of the memory bank."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["FrameFeatures", "FrameOutput"]


@dataclass
class FrameFeatures:
    """A frame's image features: ``high_res`` = [conv_s0(feat_4) ``(B, C/8, 4h, 4w)``,
    conv_s1(feat_8) ``(B, C/4, 2h, 2w)``], the ``embedding`` ``(B, C, h, w)`` and its sine
    code ``pos`` (same shape)."""

    high_res: list[torch.Tensor]
    embedding: torch.Tensor
    pos: torch.Tensor

    def select(self, indices: int | list[int] | torch.Tensor) -> FrameFeatures:
        """The features of image ``indices`` of the batch (an int: a batch of one)."""
        if isinstance(indices, int):
            indices = [indices]
        index = torch.as_tensor(indices, device=self.embedding.device)
        return FrameFeatures(high_res=[f[index] for f in self.high_res],
                             embedding=self.embedding[index], pos=self.pos[index])


@dataclass
class FrameOutput:
    """One object on one frame: low-resolution mask logits ``(1, 1, 4h, 4w)``, the same at the
    input size ``high_res_masks`` ``(1, 1, S, S)``, the IoU predictions ``(1, M)``, the
    ``object_score`` logit ``(1, 1)`` and the object pointer ``obj_ptr`` ``(1, C)``; after
    memory encoding, ``maskmem_features`` ``(1, h * w, mem_dim)`` (bfloat16) and
    ``maskmem_pos`` (same shape, float). ``multimasks`` keeps the decoder's ``M`` low-resolution
    masks ``(1, M, 4h, 4w)`` as predicted, before the choice and the blanking (for a training
    loss)."""

    pred_masks: torch.Tensor
    high_res_masks: torch.Tensor
    iou: torch.Tensor | None
    object_score: torch.Tensor
    obj_ptr: torch.Tensor
    maskmem_features: torch.Tensor | None = None
    maskmem_pos: torch.Tensor | None = None
    multimasks: torch.Tensor | None = None
