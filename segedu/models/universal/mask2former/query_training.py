"""The training half of the universal contract for models trained with Mask2Former's set
criterion: :meth:`targets`, :meth:`loss`, :meth:`total_loss` as methods.

Mask2Former (Cheng et al., CVPR 2022) and EoMT (Kerssies et al., CVPR 2025) predict ``Q``
(class, mask) pairs and train them the same way: one target per panoptic *segment*, Hungarian
matching and :class:`~.criterion.MaskSetCriterion` on every layer's prediction. A model that
inherits :class:`QueryTraining` (and :class:`~.inference.QueryInference` for the read-outs) sets
``num_classes`` and ``criterion_options`` and returns ``forward``'s dict with ``pred_logits``,
``pred_masks`` and ``aux_outputs``.
"""

from __future__ import annotations

import torch

from ..base import UniversalModel
from ..set_prediction import cached_criterion
from .criterion import MaskSetCriterion

__all__ = ["QueryTraining"]


class QueryTraining:
    """:meth:`targets`, :meth:`loss` and :meth:`total_loss` of a query model (module
    docstring); reads ``self.num_classes`` and ``self.criterion_options``."""

    num_classes: int
    criterion_options: dict

    def targets(self, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The segments of one image's panoptic ground truth ``(H, W, 2)`` int64
        ``(category_id, instance_id)``: ``labels`` ``(M,)`` int64 and ``masks`` ``(M, H, W)`` bool,
        one per ``(category, instance)`` pair whose category is one of the model's ``0 ..
        num_classes - 1`` (others are void), sorted by instance id then category: the stuff
        segments (instance 0) first, then the things in instance order."""
        _, _, pairs, masks = UniversalModel.panoptic_segments(
            target, lambda category, _: (category >= 0) & (category < self.num_classes))
        return {"labels": pairs[:, 1].clone(), "masks": masks}

    def loss(self, outputs: dict, targets: list[dict[str, torch.Tensor]]
             ) -> dict[str, torch.Tensor]:
        """The unweighted losses of :class:`.MaskSetCriterion` (``num_classes`` the model's, the
        ``criterion`` options of the constructor) of ``forward``'s outputs against one
        :meth:`targets` dict per image; :meth:`total_loss` weights and adds them."""
        return self._criterion(outputs["pred_logits"].device)(outputs, targets)

    def total_loss(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """:meth:`.MaskSetCriterion.total`: the losses weighted (class 2, mask 5, Dice 5) and
        added."""
        return self._criterion(next(iter(losses.values())).device).total(losses)

    def _criterion(self, device: torch.device) -> MaskSetCriterion:
        # built on demand and kept out of the module's state dict (checkpoints stay unchanged)
        return cached_criterion(self, lambda: MaskSetCriterion(
            num_classes=self.num_classes, **self.criterion_options), device)
