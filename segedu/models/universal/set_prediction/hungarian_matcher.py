r"""DETR's Hungarian matcher: a one-to-one assignment of predictions to ground-truth objects.

DETR (Carion et al., "End-to-End Object Detection with Transformers", ECCV 2020) predicts a
fixed *set* of ``Q`` objects per image, more than there are objects (``Q >= M``). To train it,
each of the ``M`` ground-truth objects is given to exactly one prediction, the one that makes the
total cost of the pairing smallest; the other ``Q - M`` predictions must say "no object". The
cost of predicting ground-truth object :math:`j` with query :math:`i` is

.. math::
    C_{ij} = - w_\text{class}\, p_i(c_j)
             + w_\text{bbox}\, \lVert b_i - b_j \rVert_1
             - w_\text{giou}\, \mathrm{GIoU}(b_i, b_j)

with :math:`p_i(c_j)` the softmax probability that query :math:`i` gives to object :math:`j`'s
class, the L1 distance taken between ``(cx, cy, w, h)`` boxes normalised by the image size, and
the generalised IoU (:func:`segedu.ops.generalized_box_iou`) between the same boxes in ``xyxy``.
(The paper writes :math:`1 - p`; the constant 1 does not change the assignment.) The pairing
with the smallest :math:`\sum C_{i \sigma(i)}` is found per image by the Hungarian algorithm
(:func:`scipy.optimize.linear_sum_assignment`) in polynomial time, not by trying the
:math:`Q! / (Q - M)!` possible injections.

This follows ``models/matcher.py`` of facebookresearch/detr (weights 1, 5, 2 there) and returns
what it returns: per image, ``(pred_idx, target_idx)`` int64 tensors of length ``min(Q, M)``,
``pred_idx`` increasing. Tests compare it with brute force and with ``HungarianMatcher`` of
``transformers.loss.loss_for_object_detection``. One difference: transformers replaces NaN and
infinite costs by the largest float (such a pair is only taken when nothing else is left); here
a non-finite cost raises ``ValueError``, which points at a diverged model or broken boxes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from ....ops import box_convert, generalized_box_iou

__all__ = ["HungarianMatcher", "hungarian_assignment", "check_set_targets", "check_box_outputs"]


def hungarian_assignment(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The minimum-cost one-to-one assignment of a cost matrix ``(Q, M)`` (rows: predictions,
    columns: targets).

    Returns ``(pred_idx, target_idx)``, two int64 CPU tensors of length ``min(Q, M)`` with
    ``pred_idx`` increasing: prediction ``pred_idx[k]`` is matched to target ``target_idx[k]``.
    ``M = 0`` (an image without objects) gives two empty tensors.
    """
    if cost.ndim != 2:
        raise ValueError(f"cost must be a (Q, M) matrix, got shape {tuple(cost.shape)}")
    # scipy works in float64 anyway (exact for float32)
    cost = cost.detach().cpu().to(torch.float64)
    if not torch.isfinite(cost).all():
        raise ValueError("the matching cost has NaN or infinite entries: check the predictions "
                         "(a diverged model?) and the target boxes")
    # scipy's Hungarian algorithm (a shortest augmenting path variant), rows returned sorted
    rows, cols = linear_sum_assignment(cost.numpy())
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)


def check_set_targets(
    targets: Sequence[Mapping[str, torch.Tensor]], batch_size: int, num_classes: int,
    keys: Sequence[str]
) -> None:
    """Raise a clear error unless ``targets`` is one dict per image with integer ``labels (M,)``
    in ``[0, num_classes)`` and, for each of ``keys``, a tensor whose first dimension is ``M``."""
    if isinstance(targets, Mapping) or not isinstance(targets, Sequence):
        raise TypeError("targets must be a list of dicts (one per image), got "
                        f"{type(targets).__name__}")
    if len(targets) != batch_size:
        raise ValueError(f"got {len(targets)} targets for a batch of {batch_size} images")
    for b, target in enumerate(targets):
        for key in ("labels", *keys):
            if key not in target:
                raise KeyError(f"targets[{b}] has no {key!r}")
            if not isinstance(target[key], torch.Tensor):
                raise TypeError(f"targets[{b}][{key!r}] must be a tensor, got "
                                f"{type(target[key]).__name__}")
        labels = target["labels"]
        if labels.ndim != 1 or labels.is_floating_point() or labels.dtype == torch.bool:
            raise TypeError(f"targets[{b}]['labels'] must be an integer (M,) tensor, got "
                            f"{labels.dtype} of shape {tuple(labels.shape)}")
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"targets[{b}]['labels'] must lie in [0, {num_classes}) "
                             f"({num_classes} is the no-object class), got {labels.tolist()}")
        for key in keys:
            if target[key].shape[0] != labels.shape[0]:
                raise ValueError(f"targets[{b}][{key!r}] has {target[key].shape[0]} rows for "
                                 f"{labels.shape[0]} labels")


def check_box_outputs(outputs: Mapping[str, torch.Tensor]) -> tuple[int, int, int]:
    """``(B, Q, C)`` of DETR outputs ``pred_logits (B, Q, C + 1)``, ``pred_boxes (B, Q, 4)``."""
    for key in ("pred_logits", "pred_boxes"):
        if key not in outputs:
            raise KeyError(f"outputs has no {key!r}")
    logits, boxes = outputs["pred_logits"], outputs["pred_boxes"]
    if logits.ndim != 3 or not logits.is_floating_point():
        raise ValueError(f"pred_logits must be a float (B, Q, C + 1) tensor, got {logits.dtype} "
                         f"of shape {tuple(logits.shape)}")
    if boxes.shape != (*logits.shape[:2], 4):
        raise ValueError(f"pred_boxes must be (B, Q, 4) = {(*logits.shape[:2], 4)}, got "
                         f"{tuple(boxes.shape)}")
    b, q, c1 = logits.shape
    return b, q, c1 - 1


class HungarianMatcher(nn.Module):
    """DETR's matcher (module docstring): predictions to ground-truth boxes, one to one.

    Args (keyword-only):
        cost_class: weight :math:`w_\\text{class}` of ``-p(class)`` (DETR: 1).
        cost_bbox: weight :math:`w_\\text{bbox}` of the L1 box distance (DETR: 5).
        cost_giou: weight :math:`w_\\text{giou}` of ``-GIoU`` (DETR: 2).
    """

    def __init__(self, *, cost_class: float = 1.0, cost_bbox: float = 5.0,
                 cost_giou: float = 2.0) -> None:
        super().__init__()
        if cost_class == 0 and cost_bbox == 0 and cost_giou == 0:
            raise ValueError("at least one of cost_class, cost_bbox, cost_giou must be non-zero")
        self.cost_class = cost_class
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou

    def cost_matrix(self, logits: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor,
                    target_boxes: torch.Tensor) -> torch.Tensor:
        """The cost ``(Q, M)`` of one image.

        Args:
            logits: ``(Q, C + 1)`` class logits (the last class is "no object").
            boxes: ``(Q, 4)`` predicted ``cxcywh`` boxes in ``[0, 1]``.
            labels: ``(M,)`` ground-truth classes in ``[0, C)``.
            target_boxes: ``(M, 4)`` ground-truth ``cxcywh`` boxes in ``[0, 1]``.
        """
        # 1. class cost: minus the probability of the target's class
        prob = logits.softmax(-1)  # (Q, C + 1)
        cost_class = -prob[:, labels.to(prob.device)]  # (Q, M)
        # 2. L1 distance between the (cx, cy, w, h) vectors
        cost_bbox = (boxes[:, None, :] - target_boxes[None, :, :]).abs().sum(-1)  # (Q, M)
        # 3. minus the generalised IoU of the same boxes as corners
        cost_giou = -generalized_box_iou(box_convert(boxes, "cxcywh", "xyxy"),
                                         box_convert(target_boxes, "cxcywh", "xyxy"))  # (Q, M)
        return (self.cost_class * cost_class + self.cost_bbox * cost_bbox
                + self.cost_giou * cost_giou)

    @torch.no_grad()
    def forward(
            self, outputs: Mapping[str, torch.Tensor], targets: Sequence[Mapping[str, torch.Tensor]]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Match each image's predictions to its targets.

        Args:
            outputs: ``pred_logits`` ``(B, Q, C + 1)`` and ``pred_boxes`` ``(B, Q, 4)`` (``cxcywh``,
                normalised to ``[0, 1]``); other keys are ignored.
            targets: ``B`` dicts with ``labels`` ``(M,)`` in ``[0, C)`` and ``boxes`` ``(M, 4)``
                (``cxcywh``, normalised); ``M`` may be 0.

        Returns:
            ``B`` pairs ``(pred_idx, target_idx)`` of int64 tensors of length ``min(Q, M)``,
            ``pred_idx`` increasing.
        """
        batch_size, _, num_classes = check_box_outputs(outputs)
        check_set_targets(targets, batch_size, num_classes, ("boxes",))
        indices = []
        for b, target in enumerate(targets):
            # each image is matched on its own: objects never move between images
            cost = self.cost_matrix(outputs["pred_logits"][b], outputs["pred_boxes"][b],
                                    target["labels"], target["boxes"].to(outputs["pred_boxes"]))
            indices.append(hungarian_assignment(cost))
        return indices

    def extra_repr(self) -> str:
        return (f"cost_class={self.cost_class}, cost_bbox={self.cost_bbox}, "
                f"cost_giou={self.cost_giou}")
