"""The second stage of Faster / Mask R-CNN: classify and refine each proposal (and segment it).

**Training.** The ground-truth boxes are added to each image's proposals (so that every object has
at least one perfect positive early in training), each proposal is matched to the ground truth
(IoU >= 0.5: that object's class; below: background) and 512 per image are sampled, at most a
quarter positive. The box head pools each sampled proposal's features (7 x 7, from its FPN level)
and predicts class logits and per-class deltas; the **Fast R-CNN losses** are the cross-entropy of
the classes and the smooth L1 (``beta = 1/9``) of the ground-truth class's deltas on the positives,
summed and divided by the number of sampled proposals. The mask branch runs on the positives only.

**Inference.** Softmax over the classes; every proposal gives one box per foreground class
(its deltas decoded with weights ``(10, 10, 5, 5)``, clipped to the image). Boxes scoring
``<= score_thresh`` or smaller than 0.01 px are dropped, NMS (IoU ``nms_thresh``) runs per class,
and the ``detections_per_img`` best are kept. The mask branch then runs on these detections.

Equals torchvision's ``RoIHeads`` (same parameter names under ``roi_heads``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ....ops import (
    batched_nms,
    box_iou,
    clip_boxes_to_image,
    decode_boxes,
    encode_boxes,
    remove_small_boxes,
)
from .box_head import FastRCNNPredictor, TwoMLPHead
from .mask_head import MaskRCNNHeads, MaskRCNNPredictor, maskrcnn_inference, maskrcnn_loss
from .matcher import Matcher
from .multiscale_roi_align import MultiScaleRoIAlign
from .sampler import BalancedPositiveNegativeSampler

__all__ = ["RoIHeads", "fastrcnn_loss"]

BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def fastrcnn_loss(class_logits: torch.Tensor, box_regression: torch.Tensor,
                  labels: list[torch.Tensor],
                  regression_targets: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``class_logits (R, K)``, ``box_regression (R, 4K)`` -> (classification loss, box loss)."""
    labels, regression_targets = torch.cat(labels), torch.cat(regression_targets)  # (R,), (R, 4)
    classification_loss = F.cross_entropy(class_logits, labels)
    # only the positives regress, and only with their ground-truth class's deltas
    positives = torch.where(labels > 0)[0]
    per_class = box_regression.reshape(len(class_logits), -1, 4)  # (R, K, 4)
    box_loss = F.smooth_l1_loss(per_class[positives, labels[positives]],
                                regression_targets[positives],
                                beta=1 / 9, reduction="sum") / labels.numel()
    return classification_loss, box_loss


class RoIHeads(nn.Module):
    """Box head, predictor and (for Mask R-CNN) mask branch, with matching, sampling, losses and
    postprocessing.

    Args (keyword-only):
        box_roi_pool, box_head, box_predictor: :class:`MultiScaleRoIAlign` (7 x 7),
            :class:`TwoMLPHead`, :class:`FastRCNNPredictor`.
        fg_iou_thresh, bg_iou_thresh: the matcher's thresholds (0.5, 0.5).
        batch_size_per_image, positive_fraction: the sampler's (512, 0.25).
        score_thresh, nms_thresh, detections_per_img: inference (0.05, 0.5, 100).
        mask_roi_pool, mask_head, mask_predictor: the mask branch (14 x 14 pooling,
            :class:`MaskRCNNHeads`, :class:`MaskRCNNPredictor`), or ``None`` for Faster R-CNN.

    ``forward(features, proposals, image_sizes, targets=None)`` -> ``(detections, losses)``:
    in evaluation one dict per image with ``boxes (D, 4)``, ``labels (D,)``, ``scores (D,)``
    (and ``masks (D, 1, 28, 28)``); in training the losses ``loss_classifier``, ``loss_box_reg``
    (and ``loss_mask``).
    """

    def __init__(self, *, box_roi_pool: MultiScaleRoIAlign, box_head: TwoMLPHead,
                 box_predictor: FastRCNNPredictor,
                 fg_iou_thresh: float = 0.5, bg_iou_thresh: float = 0.5,
                 batch_size_per_image: int = 512,
                 positive_fraction: float = 0.25, score_thresh: float = 0.05,
                 nms_thresh: float = 0.5,
                 detections_per_img: int = 100, mask_roi_pool: MultiScaleRoIAlign | None = None,
                 mask_head: MaskRCNNHeads | None = None,
                 mask_predictor: MaskRCNNPredictor | None = None) -> None:
        super().__init__()
        self.proposal_matcher = Matcher(high_threshold=fg_iou_thresh, low_threshold=bg_iou_thresh)
        self.fg_bg_sampler = BalancedPositiveNegativeSampler(
            batch_size_per_image=batch_size_per_image, positive_fraction=positive_fraction)
        self.box_roi_pool, self.box_head, self.box_predictor = box_roi_pool, box_head, box_predictor
        self.score_thresh, self.nms_thresh, self.detections_per_img = (score_thresh, nms_thresh,
                                                                       detections_per_img)
        self.mask_roi_pool, self.mask_head, self.mask_predictor = (mask_roi_pool, mask_head,
                                                                   mask_predictor)

    @property
    def has_mask(self) -> bool:
        return self.mask_predictor is not None

    def select_training_samples(self, proposals: list[torch.Tensor],
                                targets: list[dict[str, torch.Tensor]]):
        """Add the ground truth to the proposals, match, sample. Per image: the sampled proposals
        ``(S, 4)``, their matched ground-truth index ``(S,)``, class ``(S,)`` (0 background) and
        regression targets ``(S, 4)``."""
        gt_boxes = [t["boxes"].to(proposals[0].dtype) for t in targets]
        gt_labels = [t["labels"] for t in targets]
        # 1. the ground truth are proposals too
        proposals = [torch.cat([p, g]) for p, g in zip(proposals, gt_boxes, strict=True)]
        # 2. match: the class of the best ground truth, 0 below the threshold
        #    (-1 ignored in between)
        matched_idxs, labels = [], []
        for boxes, gt, gt_label in zip(proposals, gt_boxes, gt_labels, strict=True):
            if gt.numel() == 0:  # no objects: every proposal is background
                matched_idxs.append(torch.zeros(len(boxes), dtype=torch.int64, device=boxes.device))
                labels.append(torch.zeros(len(boxes), dtype=torch.int64, device=boxes.device))
                continue
            matches = self.proposal_matcher(box_iou(gt, boxes))
            label = gt_label[matches.clamp(min=0)].to(torch.int64)
            label[matches == Matcher.BELOW_LOW_THRESHOLD] = 0
            label[matches == Matcher.BETWEEN_THRESHOLDS] = -1
            matched_idxs.append(matches.clamp(min=0))
            labels.append(label)
        # 3. sample positives and negatives, keep them in index order
        positive_masks, negative_masks = self.fg_bg_sampler(labels)
        regression_targets = []
        for i, (pos, neg) in enumerate(zip(positive_masks, negative_masks, strict=True)):
            sampled = torch.where(pos | neg)[0]
            proposals[i], labels[i], matched_idxs[i] = (proposals[i][sampled], labels[i][sampled],
                                                        matched_idxs[i][sampled])
            gt = gt_boxes[i] if gt_boxes[i].numel() else gt_boxes[i].new_zeros((1, 4))
            regression_targets.append(encode_boxes(gt[matched_idxs[i]], proposals[i], BOX_WEIGHTS))
        return proposals, matched_idxs, labels, regression_targets

    def postprocess_detections(self, class_logits: torch.Tensor, box_regression: torch.Tensor,
                               proposals: list[torch.Tensor], image_sizes: list[tuple[int, int]]):
        """Per image: the kept ``boxes (D, 4)``, ``scores (D,)`` and ``labels (D,)``, best first."""
        num_classes = class_logits.shape[-1]
        counts = [len(p) for p in proposals]
        # one decoded box per proposal and class: (R, K, 4); class probabilities (R, K)
        boxes_all = decode_boxes(box_regression, torch.cat(proposals),
                                 BOX_WEIGHTS).reshape(sum(counts), num_classes, 4)
        scores_all = F.softmax(class_logits, -1)
        all_boxes, all_scores, all_labels = [], [], []
        for boxes, scores, size in zip(boxes_all.split(counts), scores_all.split(counts),
                                       image_sizes, strict=True):
            boxes = clip_boxes_to_image(boxes, size)
            labels = torch.arange(num_classes, device=boxes.device).view(1, -1).expand_as(scores)
            # every (proposal, foreground class) pair is a candidate detection
            boxes, scores, labels = (boxes[:, 1:].reshape(-1, 4), scores[:, 1:].reshape(-1),
                                     labels[:, 1:].reshape(-1))
            keep = torch.where(scores > self.score_thresh)[0]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = remove_small_boxes(boxes, 1e-2)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            # NMS per class, then the best detections_per_img
            # (in float32: under autocast the boxes and scores may be half precision)
            keep = batched_nms(boxes.float(), scores.float(), labels,
                               self.nms_thresh)[:self.detections_per_img]
            all_boxes.append(boxes[keep])
            all_scores.append(scores[keep])
            all_labels.append(labels[keep])
        return all_boxes, all_scores, all_labels

    def forward(self, features: dict[str, torch.Tensor], proposals: list[torch.Tensor],
                image_sizes: list[tuple[int, int]],
                targets: list[dict[str, torch.Tensor]] | None = None):
        if self.training:
            if targets is None:
                raise ValueError("the RoI heads need targets in training mode")
            proposals, matched_idxs, labels, regression_targets = self.select_training_samples(
                proposals, targets)
        # 1. pool, box head, predictor: (R, C, 7, 7) -> (R, D) -> (R, K), (R, 4K)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_sizes))
        class_logits, box_regression = self.box_predictor(box_features)

        results: list[dict[str, torch.Tensor]] = []
        losses: dict[str, torch.Tensor] = {}
        if self.training:
            loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels,
                                                          regression_targets)
            losses = {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}
        else:
            boxes, scores, labels = self.postprocess_detections(class_logits, box_regression,
                                                                proposals, image_sizes)
            results = [{"boxes": b, "labels": c, "scores": s}
                       for b, s, c in zip(boxes, scores, labels, strict=True)]

        if self.has_mask:
            # 2. the mask branch: on the positive samples in training, on the detections otherwise
            if self.training:
                positives = [torch.where(label > 0)[0] for label in labels]
                mask_proposals = [p[i] for p, i in zip(proposals, positives, strict=True)]
                positive_matches = [m[i] for m, i in zip(matched_idxs, positives, strict=True)]
            else:
                mask_proposals = [r["boxes"] for r in results]
            # (R, C, 14, 14)
            mask_features = self.mask_head(self.mask_roi_pool(features, mask_proposals,
                                                              image_sizes))
            mask_logits = self.mask_predictor(mask_features)  # (R, K, 28, 28)
            if self.training:
                losses["loss_mask"] = maskrcnn_loss(mask_logits, mask_proposals,
                                                    [t["masks"] for t in targets],
                                                    [t["labels"] for t in targets],
                                                    positive_matches)
            else:
                probabilities = maskrcnn_inference(mask_logits, [r["labels"] for r in results])
                for result, probability in zip(results, probabilities, strict=True):
                    result["masks"] = probability
        return results, losses
