r"""DETR's set prediction loss: match first, then score each pair and every unmatched query.

DETR (Carion et al., ECCV 2020) trains its ``Q`` predictions per image in two steps:

1. **Match.** :class:`~.hungarian_matcher.HungarianMatcher` pairs each of the ``M``
   ground-truth objects with one prediction.
2. **Score.** With :math:`\sigma(j)` the prediction matched to object :math:`j`:

   - **class** (``loss_ce``): cross-entropy of *every* query against its target class: the
     matched object's class, or the extra "no object" class :math:`\varnothing` (index ``C``)
     for the ``Q - M`` unmatched ones. Most queries are unmatched, so :math:`\varnothing` is
     down-weighted by ``eos_coef`` (0.1) to keep the classes balanced. The mean is PyTorch's
     weighted mean, :math:`\sum_i w_{y_i} \ell_i / \sum_i w_{y_i}`, over all queries of the batch.
   - **boxes**, on the matched pairs only, summed and divided by the number of ground-truth boxes
     in the batch (at least 1): the L1 distance between the ``cxcywh`` vectors (``loss_bbox``)
     and :math:`1 - \mathrm{GIoU}` (``loss_giou``, :func:`segedu.ops.generalized_box_iou`).

The total is :math:`1 \cdot \mathcal{L}_\text{ce} + 5 \cdot \mathcal{L}_\text{bbox} +
2 \cdot \mathcal{L}_\text{giou}` (``weight_dict``). **Auxiliary losses**: DETR's decoder
predicts after each of its layers; every intermediate prediction in ``outputs["aux_outputs"]``
is matched again, on its own, and gets the same three losses (keys ``loss_ce_0``, ``loss_bbox_0``,
...), which helps the early layers learn.

Two more figures are logged, without gradient: ``class_error`` (100 minus the accuracy, in
percent, of the matched queries' classes; last layer only) and ``cardinality_error`` (the L1
error of the number of queries not predicting :math:`\varnothing`).

This follows ``SetCriterion`` of facebookresearch/detr (``models/detr.py``; the mask losses of
DETR's panoptic head are left out) and is tested against ``ImageLoss`` of
``transformers.loss.loss_for_object_detection`` (which reads ``logits`` and
``auxiliary_outputs`` where DETR and segedu read ``pred_logits`` and ``aux_outputs``, and does
not log ``class_error``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ....ops import box_convert, generalized_box_iou
from .hungarian_matcher import HungarianMatcher, check_box_outputs, check_set_targets

__all__ = ["SetCriterion", "cached_criterion", "matched_query_index", "no_object_class_weights",
           "num_targets_per_process", "set_class_loss", "weighted_loss_sum"]

Indices = Sequence[tuple[torch.Tensor, torch.Tensor]]


def matched_query_index(indices: Indices) -> tuple[torch.Tensor, torch.Tensor]:
    """``(batch_idx, query_idx)`` of every matched prediction, images concatenated: indexes a
    ``(B, Q, ...)`` tensor to give the matched predictions in the matcher's order."""
    batch_idx = torch.cat([torch.full_like(pred, b) for b, (pred, _) in enumerate(indices)])
    query_idx = torch.cat([pred for pred, _ in indices])
    return batch_idx, query_idx


def num_targets_per_process(targets: Sequence[Mapping[str, torch.Tensor]],
                            device: torch.device) -> float:
    """The number of ground-truth objects in the batch, averaged over the processes of a
    distributed run, and at least 1: the normaliser of the box and mask losses."""
    count = torch.tensor([float(sum(len(t["labels"]) for t in targets))], device=device)
    world_size = 1
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(count)
        world_size = torch.distributed.get_world_size()
    return torch.clamp(count / world_size, min=1).item()


def weighted_loss_sum(losses: Mapping[str, torch.Tensor],
                      weight_dict: Mapping[str, float]) -> torch.Tensor:
    """``sum(weight_dict[base] * value)`` over ``losses``, where an auxiliary layer's key
    ``"<base>_<i>"`` takes its base's weight and keys without a weight (logged figures such as
    ``class_error``) are left out."""
    total = 0.0
    for key, value in losses.items():
        base = key.rsplit("_", 1)[0] if key.rsplit("_", 1)[-1].isdigit() else key
        if base in weight_dict:
            total = total + weight_dict[base] * value
    return total


def cached_criterion(model: nn.Module, build: Callable[[], nn.Module],
                     device: torch.device) -> nn.Module:
    """The set criterion of a query model: ``build()`` on the first call, kept in the model's
    ``__dict__`` (not a submodule, so the model's state dict and checkpoints do not change) and
    moved to ``device``."""
    criterion = model.__dict__.get("_set_criterion")
    if criterion is None:
        criterion = build()
        model.__dict__["_set_criterion"] = criterion
    return criterion.to(device)


def no_object_class_weights(num_classes: int, eos_coef: float) -> torch.Tensor:
    """The cross-entropy's class weights ``(C + 1,)``: 1 for every class, ``eos_coef`` for
    "no object"."""
    weights = torch.ones(num_classes + 1)
    weights[-1] = eos_coef
    return weights


def set_class_loss(logits: torch.Tensor, targets: Sequence[Mapping[str, torch.Tensor]],
                   indices: Indices,
                   class_weights: torch.Tensor) -> torch.Tensor:
    """Weighted cross-entropy of all queries ``logits (B, Q, C + 1)``: a scalar. A matched query
    learns its object's class, every other query "no object" (index ``C``), weighted by
    ``class_weights`` (:func:`no_object_class_weights`). DETR's and
    Mask2Former's ``loss_labels``."""
    num_classes = logits.shape[-1] - 1
    # 1. every query's target class: "no object" (index C) unless it was matched
    target_classes = torch.full(logits.shape[:2], num_classes, dtype=torch.int64,
                                device=logits.device)
    matched_classes = torch.cat([t["labels"][tgt]
                                 for t, (_, tgt) in zip(targets, indices, strict=True)])
    target_classes[matched_query_index(indices)] = matched_classes.to(logits.device, torch.int64)
    # 2. cross-entropy with the no-object class down-weighted: (B, C + 1, Q) against (B, Q)
    return F.cross_entropy(logits.transpose(1, 2), target_classes, weight=class_weights.to(logits))


class SetCriterion(nn.Module):
    """DETR's loss (module docstring).

    Args (keyword-only):
        num_classes: the number ``C`` of object classes; logits have ``C + 1`` entries, the last
            one "no object".
        matcher: the matcher; default :class:`HungarianMatcher` with DETR's costs 1, 5, 2.
        eos_coef: the weight of the no-object class in the cross-entropy (DETR: 0.1).
        class_weight, bbox_weight, giou_weight: the weights of ``weight_dict`` (DETR: 1, 5, 2).

    ``forward(outputs, targets)`` returns the unweighted losses, as DETR does;
    :meth:`total` weights and adds them.
    """

    def __init__(self, *, num_classes: int, matcher: HungarianMatcher | None = None,
                 eos_coef: float = 0.1,
                 class_weight: float = 1.0, bbox_weight: float = 5.0,
                 giou_weight: float = 2.0) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if not 0 <= eos_coef:
            raise ValueError(f"eos_coef must be >= 0, got {eos_coef}")
        self.num_classes = num_classes
        self.matcher = matcher if matcher is not None else HungarianMatcher()
        self.eos_coef = eos_coef
        self.weight_dict = {"loss_ce": class_weight, "loss_bbox": bbox_weight,
                            "loss_giou": giou_weight}
        self.register_buffer("empty_weight", no_object_class_weights(num_classes, eos_coef))

    def loss_labels(self, logits: torch.Tensor, targets: Sequence[Mapping[str, torch.Tensor]],
                    indices: Indices) -> torch.Tensor:
        """Weighted cross-entropy of all queries ``logits (B, Q, C + 1)``: a
        scalar (:func:`set_class_loss`)."""
        return set_class_loss(logits, targets, indices, self.empty_weight)

    @torch.no_grad()
    def class_error(self, logits: torch.Tensor, targets: Sequence[Mapping[str, torch.Tensor]],
                    indices: Indices) -> torch.Tensor:
        """100 minus the top-1 accuracy (percent) of the matched queries; 100 with no match,
        as DETR."""
        matched_logits = logits[matched_query_index(indices)]  # (N, C + 1)
        matched_classes = torch.cat([t["labels"][tgt]
                                     for t, (_, tgt) in zip(targets, indices, strict=True)])
        matched_classes = matched_classes.to(logits.device)
        if matched_classes.numel() == 0:
            return torch.tensor(100.0, device=logits.device)
        accuracy = (matched_logits.argmax(-1) == matched_classes).float().mean() * 100
        return 100 - accuracy

    @torch.no_grad()
    def cardinality_error(self, logits: torch.Tensor,
                          targets: Sequence[Mapping[str, torch.Tensor]]) -> torch.Tensor:
        """Mean absolute error of the number of queries whose top class is not "no object"."""
        predicted = (logits.argmax(-1) != logits.shape[-1] - 1).sum(1).float()  # (B,)
        actual = torch.tensor([float(len(t["labels"])) for t in targets], device=logits.device)
        return F.l1_loss(predicted, actual)

    def loss_boxes(self, boxes: torch.Tensor, targets: Sequence[Mapping[str, torch.Tensor]],
                   indices: Indices, num_boxes: float) -> tuple[torch.Tensor, torch.Tensor]:
        """L1 and ``1 - GIoU`` of the matched boxes ``(B, Q, 4)``, each summed over the pairs and
        divided by ``num_boxes``."""
        # 1. the matched predictions and their targets, in the same order
        pred = boxes[matched_query_index(indices)]  # (N, 4) cxcywh
        # (N, 4)
        target = torch.cat([t["boxes"][tgt]
                            for t, (_, tgt) in zip(targets, indices, strict=True)]).to(pred)
        # 2. L1 over the four numbers
        loss_bbox = (pred - target).abs().sum() / num_boxes
        # 3. 1 - GIoU of each pair: the diagonal of the pairwise matrix
        giou = torch.diag(generalized_box_iou(box_convert(pred, "cxcywh", "xyxy"),
                                              box_convert(target, "cxcywh", "xyxy")))
        loss_giou = (1 - giou).sum() / num_boxes
        return loss_bbox, loss_giou

    def _layer_losses(self, outputs: Mapping[str, torch.Tensor],
                      targets: Sequence[Mapping[str, torch.Tensor]],
                      num_boxes: float, log: bool) -> dict[str, torch.Tensor]:
        """Match one layer's predictions, then its class and box losses."""
        indices = self.matcher(outputs, targets)
        logits = outputs["pred_logits"]
        losses = {"loss_ce": self.loss_labels(logits, targets, indices)}
        if log:
            losses["class_error"] = self.class_error(logits, targets, indices)
        losses["cardinality_error"] = self.cardinality_error(logits, targets)
        losses["loss_bbox"], losses["loss_giou"] = self.loss_boxes(outputs["pred_boxes"], targets,
                                                                   indices, num_boxes)
        return losses

    def forward(self, outputs: Mapping[str, torch.Tensor | list],
                targets: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """The losses of a batch.

        Args:
            outputs: ``pred_logits`` ``(B, Q, C + 1)``, ``pred_boxes`` ``(B, Q, 4)`` (``cxcywh`` in
                ``[0, 1]``) and optionally ``aux_outputs``, a list of dicts with the same two keys,
                one per intermediate decoder layer.
            targets: ``B`` dicts with ``labels`` ``(M,)`` in ``[0, C)`` and ``boxes`` ``(M, 4)``
                (``cxcywh``, normalised by the image size).

        Returns:
            Scalar tensors ``loss_ce``, ``loss_bbox``, ``loss_giou``, ``class_error``,
            ``cardinality_error``, and ``loss_ce_i``, ``loss_bbox_i``, ``loss_giou_i``,
            ``cardinality_error_i`` for ``aux_outputs[i]``.
        """
        batch_size, _, num_classes = check_box_outputs(outputs)
        if num_classes != self.num_classes:
            raise ValueError(f"pred_logits has {num_classes + 1} classes, expected num_classes + 1 "
                             f"= {self.num_classes + 1} (the last one is no-object)")
        check_set_targets(targets, batch_size, self.num_classes, ("boxes",))
        # 1. the normaliser: ground-truth boxes in the batch (averaged over processes), >= 1
        num_boxes = num_targets_per_process(targets, outputs["pred_logits"].device)
        # 2. the last layer's losses
        losses = self._layer_losses(outputs, targets, num_boxes, log=True)
        # 3. every intermediate layer, matched on its own
        for i, aux in enumerate(outputs.get("aux_outputs", [])):
            check_box_outputs(aux)
            for key, value in self._layer_losses(aux, targets, num_boxes, log=False).items():
                losses[f"{key}_{i}"] = value
        return losses

    def total(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of the losses that ``forward`` returned (auxiliary ones included)."""
        return weighted_loss_sum(losses, self.weight_dict)
