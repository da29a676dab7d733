r"""Mask2Former's Hungarian matcher: DETR's set matching with mask costs on random points.

Mask2Former (Cheng et al., CVPR 2022) predicts, for each of ``Q`` queries, a class (``C`` classes
plus "no object") and a mask. As in DETR
(:mod:`segedu.models.universal.set_prediction.hungarian_matcher`),
each of the ``M`` ground-truth segments of an image is assigned to one query, the assignment
minimising the total cost, where the cost of query :math:`i` for segment :math:`j` is

.. math::
    C_{ij} = - w_\text{class}\, p_i(c_j)
             + w_\text{mask}\, \mathrm{BCE}(m_i, g_j) + w_\text{dice}\, \mathrm{Dice}(m_i, g_j)

with weights 2, 5, 5. The mask terms compare the predicted mask logits :math:`m_i` with the binary
ground truth :math:`g_j` on ``K = 12544`` points drawn **uniformly at random, the same points for
every prediction and every target of the image** (section 3.3 of the paper: matching on points
rather than full masks saves memory and does not hurt):

.. math::
    \mathrm{BCE}(m, g) = \frac1K \sum_k \mathrm{bce}(m_k, g_k), \qquad
    \mathrm{Dice}(m, g) = 1 - \frac{2 \sum_k \sigma(m_k) g_k + 1}{\sum_k \sigma(m_k) + \sum_k g_k
    + 1}

(:func:`pairwise_sigmoid_ce`, :func:`pairwise_dice`: all ``Q x M`` pairs with two matrix
products). The points come from
:func:`~segedu.models.universal.mask2former.point_sampling.point_sample`.

This follows ``HungarianMatcher`` of facebookresearch/Mask2Former (``modeling/matcher.py``):
per image, one ``torch.rand(1, K, 2)`` call (also for an image without targets), so that with
the same seed of PyTorch's global generator it draws the same points as the original and as
transformers' ``Mask2FormerHungarianMatcher`` (the test seeds both identically and compares the
indices). Half-precision inputs are computed in float32, as the original does. transformers
replaces non-finite costs by the largest float; here they raise ``ValueError``
(:func:`~segedu.models.universal.set_prediction.hungarian_matcher.hungarian_assignment`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..set_prediction.hungarian_matcher import check_set_targets, hungarian_assignment
from .point_sampling import point_sample

__all__ = ["MaskHungarianMatcher", "pairwise_sigmoid_ce", "pairwise_dice", "check_mask_outputs",
           "check_mask_targets"]


def pairwise_sigmoid_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of every (prediction, target) pair.

    Args:
        logits: ``(Q, K)`` predicted logits at ``K`` points.
        targets: ``(M, K)`` target values in ``[0, 1]`` at the same points.

    Returns:
        ``(Q, M)``: entry ``(i, j)`` is ``mean_k bce_with_logits(logits[i, k], targets[j, k])``.
    """
    num_points = logits.shape[1]
    # bce(x, t) = t * bce(x, 1) + (1 - t) * bce(x, 0): linear in t, so one matmul per term
    loss_if_one = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits),
                                                     reduction="none")
    loss_if_zero = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits),
                                                      reduction="none")
    return (loss_if_one @ targets.T + loss_if_zero @ (1 - targets).T) / num_points


def pairwise_dice(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice loss ``1 - (2 |p g| + 1) / (|p| + |g| + 1)`` of every pair, ``p = sigmoid(logits)``.

    Args:
        logits: ``(Q, K)`` predicted logits; targets: ``(M, K)`` values in ``[0, 1]``.

    Returns:
        ``(Q, M)`` Dice losses.
    """
    probs = logits.sigmoid()
    intersection = probs @ targets.T  # (Q, M)
    sizes = probs.sum(-1)[:, None] + targets.sum(-1)[None, :]  # (Q, M)
    return 1 - (2 * intersection + 1) / (sizes + 1)


def check_mask_outputs(outputs: Mapping[str, torch.Tensor]) -> tuple[int, int, int]:
    """``(B, Q, C)`` of outputs ``pred_logits (B, Q, C + 1)`` and ``pred_masks (B, Q, H, W)``."""
    for key in ("pred_logits", "pred_masks"):
        if key not in outputs:
            raise KeyError(f"outputs has no {key!r}")
        if not isinstance(outputs[key], torch.Tensor) or not outputs[key].is_floating_point():
            raise TypeError(f"outputs[{key!r}] must be a float tensor")
    logits, masks = outputs["pred_logits"], outputs["pred_masks"]
    if logits.ndim != 3:
        raise ValueError(f"pred_logits must be (B, Q, C + 1), got shape {tuple(logits.shape)}")
    if masks.ndim != 4 or masks.shape[:2] != logits.shape[:2]:
        raise ValueError("pred_masks must be (B, Q, H, W) with (B, Q) = "
                         f"{tuple(logits.shape[:2])}, got shape {tuple(masks.shape)}")
    b, q, c1 = logits.shape
    return b, q, c1 - 1


def check_mask_targets(targets: Sequence[Mapping[str, torch.Tensor]], batch_size: int,
                       num_classes: int) -> None:
    """Targets: per image ``labels (M,)`` in ``[0, C)`` and ``masks (M, H, W)``, one ``(H, W)``
    for the whole batch (pad them to the batch's image size first, as Mask2Former does)."""
    check_set_targets(targets, batch_size, num_classes, ("masks",))
    sizes = set()
    for b, target in enumerate(targets):
        if target["masks"].ndim != 3:
            raise ValueError(f"targets[{b}]['masks'] must be (M, H, W), got shape "
                             f"{tuple(target['masks'].shape)}")
        sizes.add(tuple(target["masks"].shape[-2:]))
    if len(sizes) > 1:
        raise ValueError("the target masks of a batch must share one size (H, W), got "
                         f"{sorted(sizes)}: pad them to the padded image size first")


class MaskHungarianMatcher(nn.Module):
    """Mask2Former's matcher (module docstring); the original calls it ``HungarianMatcher``.

    Args (keyword-only):
        cost_class: weight of ``-p(class)`` (Mask2Former: 2).
        cost_mask: weight of the mean sigmoid BCE on the points (5).
        cost_dice: weight of the Dice loss on the points (5).
        num_points: ``K``, points per image (12544 = 112 * 112).
    """

    def __init__(self, *, cost_class: float = 2.0, cost_mask: float = 5.0, cost_dice: float = 5.0,
                 num_points: int = 12544) -> None:
        super().__init__()
        if cost_class == 0 and cost_mask == 0 and cost_dice == 0:
            raise ValueError("at least one of cost_class, cost_mask, cost_dice must be non-zero")
        if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 1:
            raise ValueError(f"num_points must be a positive int, got {num_points!r}")
        self.cost_class = cost_class
        self.cost_mask = cost_mask
        self.cost_dice = cost_dice
        self.num_points = num_points

    def cost_matrix(self, logits: torch.Tensor, mask_logits: torch.Tensor, labels: torch.Tensor,
                    masks: torch.Tensor, point_coords: torch.Tensor) -> torch.Tensor:
        """The cost ``(Q, M)`` of one image.

        Args:
            logits: ``(Q, C + 1)`` class logits; mask_logits: ``(Q, H, W)``.
            labels: ``(M,)`` classes; masks: ``(M, Ht, Wt)`` binary targets (any resolution).
            point_coords: ``(1, K, 2)`` points ``(x, y)`` in ``[0, 1]``, shared by all masks.
        """
        # 1. class cost: minus the probability of the target's class
        cost_class = -logits.softmax(-1)[:, labels.to(logits.device)]  # (Q, M)
        # 2. predictions and targets at the same K points: (Q, K) and (M, K)
        work_dtype = (torch.float32 if mask_logits.dtype in (torch.float16, torch.bfloat16)
                      else mask_logits.dtype)
        mask_logits = mask_logits.to(work_dtype)
        masks = masks.to(work_dtype)
        pred_points = point_sample(mask_logits[:, None],
                                   point_coords.expand(mask_logits.shape[0], -1, -1))[:, 0]
        target_points = point_sample(masks[:, None],
                                     point_coords.expand(masks.shape[0], -1, -1))[:, 0]
        # 3. mask costs of all pairs
        cost_mask = pairwise_sigmoid_ce(pred_points, target_points)
        cost_dice = pairwise_dice(pred_points, target_points)
        return (self.cost_class * cost_class.to(work_dtype) + self.cost_mask * cost_mask
                + self.cost_dice * cost_dice)

    @torch.no_grad()
    def forward(self, outputs: Mapping[str, torch.Tensor],
                targets: Sequence[Mapping[str, torch.Tensor]],
                *, generator: torch.Generator | None = None
                ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Match each image's queries to its ground-truth segments.

        Args:
            outputs: ``pred_logits`` ``(B, Q, C + 1)`` and ``pred_masks`` ``(B, Q, H, W)`` (logits);
                other keys are ignored.
            targets: ``B`` dicts with ``labels`` ``(M,)`` in ``[0, C)`` and ``masks``
                ``(M, Ht, Wt)`` (binary; any resolution: points are in relative coordinates).
            generator: for the random points (default: PyTorch's global generator).

        Returns:
            ``B`` pairs ``(pred_idx, target_idx)`` of int64 tensors of length ``min(Q, M)``,
            ``pred_idx`` increasing.
        """
        batch_size, _, num_classes = check_mask_outputs(outputs)
        check_set_targets(targets, batch_size, num_classes, ("masks",))
        indices = []
        for b, target in enumerate(targets):
            mask_logits = outputs["pred_masks"][b]
            # the same K uniform points for every prediction and target of this image
            point_coords = torch.rand(1, self.num_points, 2, device=mask_logits.device,
                                      generator=generator)
            cost = self.cost_matrix(outputs["pred_logits"][b], mask_logits, target["labels"],
                                    target["masks"].to(mask_logits.device), point_coords)
            indices.append(hungarian_assignment(cost))
        return indices

    def extra_repr(self) -> str:
        return (f"cost_class={self.cost_class}, cost_mask={self.cost_mask}, "
                f"cost_dice={self.cost_dice}, num_points={self.num_points}")
