r"""Mask2Former's training loss: class cross-entropy, and BCE + Dice on importance-sampled points.

For each decoder layer's prediction (Cheng et al., CVPR 2022, section 4.1 "Loss"):

1. **Match** queries to ground-truth segments,
   :class:`~segedu.models.universal.mask2former.matcher.MaskHungarianMatcher` (costs 2, 5, 5 on
   ``K`` random points).
2. **Class** (``loss_ce``): cross-entropy of every query against the matched segment's class or,
   unmatched, "no object" (index ``C``), that class weighted ``eos_coef = 0.1`` (a *weak*
   no-object class, as in DETR); PyTorch's weighted mean over all queries of the batch.
3. **Masks**, matched pairs only: each matched mask is compared with its target on ``K = 12544``
   points chosen by **importance sampling** (:func:`~.point_sampling.sample_uncertain_points`:
   3K uniform candidates, the 0.75K where the prediction is most uncertain, plus 0.25K uniform
   ones), drawn per mask, without gradient. On these points:

   - ``loss_mask``: the mean binary cross-entropy with logits over the ``K`` points;
   - ``loss_dice``: :math:`1 - \frac{2 \sum \sigma(m) g + 1}{\sum \sigma(m) + \sum g + 1}`;

   each summed over the matched masks and divided by the number of ground-truth masks in the batch
   (averaged over processes, at least 1).

The total is :math:`2 \mathcal{L}_\text{ce} + 5 \mathcal{L}_\text{mask} + 5 \mathcal{L}_\text{dice}`
(``weight_dict``), added over the final prediction and **every auxiliary one**
(``outputs["aux_outputs"]``: the predictions before the first decoder layer and after each layer
but the last), each matched on its own; keys ``loss_ce_0``, ``loss_mask_0``, ... for
``aux_outputs[0]``.

Targets are the original's: per image ``labels (M,)`` and binary ``masks (M, H, W)``, all at the
same (padded) image size; predictions are ``(B, Q, H/4, W/4)`` logits and are never upsampled:
the points are in relative coordinates.

This follows ``SetCriterion`` of facebookresearch/Mask2Former (``modeling/criterion.py``). It
draws its random points in the original's order (matcher of the last layer, its mask loss, then
for each auxiliary layer its matcher and its mask loss), so that with the same seed of PyTorch's
global generator it gives the same values as transformers' ``Mask2FormerLoss``; the test seeds
both identically. transformers names the class loss ``loss_cross_entropy``; segedu keeps the
original's ``loss_ce``. The original pads target masks of different sizes inside the loss (but
not inside the matcher, where an unpadded target would be stretched); here they must share one
size, else ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ....losses import dice_loss as soft_dice_loss
from ..set_prediction.set_criterion import (
    matched_query_index,
    no_object_class_weights,
    num_targets_per_process,
    set_class_loss,
    weighted_loss_sum,
)
from .matcher import MaskHungarianMatcher, check_mask_outputs, check_mask_targets
from .point_sampling import point_sample, sample_uncertain_points

__all__ = ["MaskSetCriterion", "sigmoid_ce_loss", "dice_loss"]

Indices = Sequence[tuple[torch.Tensor, torch.Tensor]]


def sigmoid_ce_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Mean BCE over the points of each mask, summed over masks, over ``num_masks``.

    ``logits``, ``targets``: ``(N, K)`` (N matched masks, K points). Returns a scalar.
    """
    return (F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(1).sum()
            / num_masks)


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """``1 - (2 |p g| + 1) / (|p| + |g| + 1)`` of each mask, summed, over ``num_masks``:
    :func:`segedu.losses.dice_loss` in per-mask mode with smoothing 1.

    ``logits``, ``targets``: ``(N, K)`` (``targets`` in ``[0, 1]``). Returns a scalar.
    """
    return soft_dice_loss(logits, targets, mode="per_mask", smooth=1.0, reduction="sum") / num_masks


class MaskSetCriterion(nn.Module):
    """Mask2Former's loss (module docstring); the original calls it ``SetCriterion``.

    Args (keyword-only):
        num_classes: ``C``; class logits have ``C + 1`` entries, the last one "no object".
        matcher: default :class:`MaskHungarianMatcher` with the loss weights as costs and
            ``num_points`` points.
        eos_coef: weight of the no-object class in the cross-entropy (0.1).
        class_weight, mask_weight, dice_weight: the weights of ``weight_dict`` (2, 5, 5).
        num_points: ``K`` points per mask (12544).
        oversample_ratio, importance_sample_ratio: of the importance sampling (3, 0.75).

    ``forward(outputs, targets)`` returns the unweighted losses, as the original does;
    :meth:`total` weights and adds them.
    """

    def __init__(self, *, num_classes: int, matcher: MaskHungarianMatcher | None = None,
                 eos_coef: float = 0.1,
                 class_weight: float = 2.0, mask_weight: float = 5.0, dice_weight: float = 5.0,
                 num_points: int = 12544, oversample_ratio: float = 3.0,
                 importance_sample_ratio: float = 0.75) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if eos_coef < 0:
            raise ValueError(f"eos_coef must be >= 0, got {eos_coef}")
        if oversample_ratio < 1 or not 0 <= importance_sample_ratio <= 1:
            raise ValueError("need oversample_ratio >= 1 and 0 <= importance_sample_ratio <= 1, "
                             f"got {oversample_ratio} and {importance_sample_ratio}")
        self.num_classes = num_classes
        self.matcher = matcher if matcher is not None else MaskHungarianMatcher(
            cost_class=class_weight, cost_mask=mask_weight, cost_dice=dice_weight,
            num_points=num_points)
        self.eos_coef = eos_coef
        self.weight_dict = {"loss_ce": class_weight, "loss_mask": mask_weight,
                            "loss_dice": dice_weight}
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        # weak no-object
        self.register_buffer("empty_weight", no_object_class_weights(num_classes, eos_coef))

    def loss_labels(self, logits: torch.Tensor, targets: Sequence[Mapping[str, torch.Tensor]],
                    indices: Indices) -> torch.Tensor:
        """Weighted cross-entropy of all queries ``logits (B, Q, C + 1)``: a scalar, as
        DETR's (:func:`~segedu.models.universal.set_prediction.set_criterion.set_class_loss`)."""
        return set_class_loss(logits, targets, indices, self.empty_weight)

    def loss_masks(self, mask_logits: torch.Tensor, targets: Sequence[Mapping[str, torch.Tensor]],
                   indices: Indices, num_masks: float,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """BCE and Dice of the matched masks ``mask_logits (B, Q, H, W)`` on importance-sampled
        points: two scalars."""
        # 1. matched predictions (N, 1, H, W) and their targets (N, 1, Ht, Wt), in the same order
        pred = mask_logits[matched_query_index(indices)][:, None]
        target = torch.cat([t["masks"][tgt] for t, (_, tgt) in zip(targets, indices, strict=True)])
        target = target.to(device=pred.device, dtype=pred.dtype)[:, None]
        with torch.no_grad():
            # 2. K points per mask, mostly where the prediction is uncertain; the targets there
            points = sample_uncertain_points(pred, num_points=self.num_points,
                                             oversample_ratio=self.oversample_ratio,
                                             importance_sample_ratio=self.importance_sample_ratio,
                                             generator=generator)  # (N, K, 2)
            target_points = point_sample(target, points)[:, 0]  # (N, K)
        # 3. the prediction at the same points (with gradient), and the two losses
        pred_points = point_sample(pred, points)[:, 0]  # (N, K)
        return (sigmoid_ce_loss(pred_points, target_points, num_masks),
                dice_loss(pred_points, target_points, num_masks))

    def _layer_losses(self, outputs: Mapping[str, torch.Tensor],
                      targets: Sequence[Mapping[str, torch.Tensor]],
                      num_masks: float,
                      generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """Match one layer's predictions, then its class and mask losses."""
        indices = self.matcher(outputs, targets, generator=generator)
        loss_mask, loss_dice = self.loss_masks(outputs["pred_masks"], targets, indices, num_masks,
                                               generator)
        return {"loss_ce": self.loss_labels(outputs["pred_logits"], targets, indices),
                "loss_mask": loss_mask, "loss_dice": loss_dice}

    def forward(self, outputs: Mapping[str, torch.Tensor | list],
                targets: Sequence[Mapping[str, torch.Tensor]],
                *, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The losses of a batch.

        Args:
            outputs: ``pred_logits`` ``(B, Q, C + 1)``, ``pred_masks`` ``(B, Q, H, W)`` (logits) and
                optionally ``aux_outputs``: a list of dicts with the same two keys.
            targets: ``B`` dicts with ``labels`` ``(M,)`` in ``[0, C)`` and binary ``masks``
                ``(M, Ht, Wt)``, the same ``(Ht, Wt)`` for the whole batch.
            generator: for the random points (default: PyTorch's global generator).

        Returns:
            Scalar tensors ``loss_ce``, ``loss_mask``, ``loss_dice`` and ``loss_ce_i``,
            ``loss_mask_i``, ``loss_dice_i`` for ``aux_outputs[i]``.
        """
        batch_size, _, num_classes = check_mask_outputs(outputs)
        if num_classes != self.num_classes:
            raise ValueError(f"pred_logits has {num_classes + 1} classes, expected num_classes + 1 "
                             f"= {self.num_classes + 1} (the last one is no-object)")
        check_mask_targets(targets, batch_size, self.num_classes)
        # 1. the normaliser: ground-truth masks in the batch (averaged over processes), >= 1
        num_masks = num_targets_per_process(targets, outputs["pred_logits"].device)
        # 2. the final prediction
        losses = self._layer_losses(outputs, targets, num_masks, generator)
        # 3. each auxiliary prediction, matched on its own
        for i, aux in enumerate(outputs.get("aux_outputs", [])):
            check_mask_outputs(aux)
            for key, value in self._layer_losses(aux, targets, num_masks, generator).items():
                losses[f"{key}_{i}"] = value
        return losses

    def total(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of the losses that ``forward`` returned (auxiliary ones included)."""
        return weighted_loss_sum(losses, self.weight_dict)
