"""The Region Proposal Network (Ren et al., NeurIPS 2015): class-agnostic boxes worth a second look.

A small head slides over every FPN level: a 3x3 convolution and ReLU, then two 1x1 convolutions
giving, for each of the ``A`` anchors at each position, an **objectness** logit (object or not)
and four **deltas** that move the anchor onto the object (:mod:`segedu.ops.box_coder`). The same
head (same weights) runs on every level; the levels differ by their anchor sizes.

**Proposals.** From the decoded anchors of each image: on each level keep the ``pre_nms_top_n``
most object-like, clip them to the image, drop the tiny ones (< 1e-3 px) and those below
``score_thresh``, run NMS (IoU ``nms_thresh``) separately per level, and keep the
``post_nms_top_n`` best overall. Training keeps more (2000 / 2000) than testing (1000 / 1000).

**Losses.** Anchors are matched to the ground truth (IoU >= 0.7 positive, < 0.3 negative, and
each object's best anchors positive); 256 per image are sampled, at most half positive. The
objectness loss is the binary cross-entropy over the sampled anchors; the box loss is the smooth
L1 (``beta = 1/9``) of the positives' deltas, summed and divided by the number of sampled anchors.

Equals torchvision's ``RegionProposalNetwork`` and ``RPNHead`` (same parameter names).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ....ops import (
    AnchorGenerator,
    batched_nms,
    box_iou,
    clip_boxes_to_image,
    decode_boxes,
    encode_boxes,
    remove_small_boxes,
)
from .matcher import Matcher
from .sampler import BalancedPositiveNegativeSampler
from .transform import ImageList

__all__ = ["RPNHead", "RegionProposalNetwork"]


class RPNHead(nn.Module):
    """3x3 conv + ReLU, then 1x1 objectness and 1x1 deltas, on each level.

    ``forward(features)``: a list of ``(N, C, H_l, W_l)`` -> two lists, objectness
    ``(N, A, H_l, W_l)`` and deltas ``(N, A*4, H_l, W_l)``.
    """

    def __init__(self, *, in_channels: int, num_anchors: int) -> None:
        super().__init__()
        # nested as torchvision's Conv2dNormActivation: keys conv.0.0.weight
        self.conv = nn.Sequential(nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, padding=1),
                                                nn.ReLU(inplace=True)))
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 1)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.normal_(layer.weight, std=0.01)
                nn.init.zeros_(layer.bias)

    def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
        # old torchvision checkpoints (e.g. the COCO ones) call the 3x3 convolution "conv"
        for kind in ("weight", "bias"):
            if prefix + "conv." + kind in state_dict:
                state_dict[prefix + "conv.0.0." + kind] = state_dict.pop(prefix + "conv." + kind)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self,
                features: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        objectness, deltas = [], []
        for feature in features:
            hidden = self.conv(feature)  # (N, C, H, W)
            objectness.append(self.cls_logits(hidden))  # (N, A, H, W)
            deltas.append(self.bbox_pred(hidden))  # (N, A*4, H, W)
        return objectness, deltas


def _flatten_per_anchor(x: torch.Tensor, values: int) -> torch.Tensor:
    """``(N, A*values, H, W)`` -> ``(N, H*W*A, values)``, in the anchors' order (position-major)."""
    n, _, h, w = x.shape
    return x.view(n, -1, values, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, values)


class RegionProposalNetwork(nn.Module):
    """Anchors, the RPN head, proposal selection and (in training) the RPN losses.

    Args (keyword-only):
        anchor_generator: the anchors of each level (:class:`segedu.ops.AnchorGenerator`).
        head: :class:`RPNHead`.
        fg_iou_thresh, bg_iou_thresh: the matcher's thresholds (0.7, 0.3).
        batch_size_per_image, positive_fraction: the sampler's (256, 0.5).
        pre_nms_top_n, post_nms_top_n: ``{"training": ..., "testing": ...}``.
        nms_thresh: NMS IoU between proposals (0.7).
        score_thresh: the least objectness probability of a proposal (0).

    ``forward(images, features, targets=None)`` -> ``(proposals, losses)``: one ``(P_i, 4)``
    tensor of ``xyxy`` proposals per image (best first) and ``{"loss_objectness",
    "loss_rpn_box_reg"}`` in training (else ``{}``).
    """

    def __init__(self, *, anchor_generator: AnchorGenerator, head: RPNHead,
                 fg_iou_thresh: float = 0.7,
                 bg_iou_thresh: float = 0.3, batch_size_per_image: int = 256,
                 positive_fraction: float = 0.5,
                 pre_nms_top_n: dict[str, int], post_nms_top_n: dict[str, int],
                 nms_thresh: float = 0.7,
                 score_thresh: float = 0.0) -> None:
        super().__init__()
        self.anchor_generator = anchor_generator
        self.head = head
        self.proposal_matcher = Matcher(high_threshold=fg_iou_thresh, low_threshold=bg_iou_thresh,
                                        allow_low_quality_matches=True)
        self.fg_bg_sampler = BalancedPositiveNegativeSampler(
            batch_size_per_image=batch_size_per_image, positive_fraction=positive_fraction)
        self._pre_nms_top_n, self._post_nms_top_n = dict(pre_nms_top_n), dict(post_nms_top_n)
        self.nms_thresh = nms_thresh
        self.score_thresh = score_thresh
        self.min_size = 1e-3

    def pre_nms_top_n(self) -> int:
        return self._pre_nms_top_n["training" if self.training else "testing"]

    def post_nms_top_n(self) -> int:
        return self._post_nms_top_n["training" if self.training else "testing"]

    def filter_proposals(self, proposals: torch.Tensor, objectness: torch.Tensor,
                         image_sizes: list[tuple[int, int]], anchors_per_level: list[int]
                         ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``proposals (N, K, 4)``, ``objectness (N, K)`` logits -> the kept boxes and their
        probabilities, per image."""
        num_images = proposals.shape[0]
        # proposals are inputs of the second stage, not a path for gradients
        objectness = objectness.detach()
        # the level of every anchor: (N, K)
        levels = torch.cat([torch.full((n,), level, dtype=torch.int64, device=proposals.device)
                            for level, n in enumerate(anchors_per_level)])
        levels = levels.reshape(1, -1).expand_as(objectness)
        # 1. the pre_nms_top_n highest objectness logits of each level
        top_indices, offset = [], 0
        for scores in objectness.split(anchors_per_level, dim=1):  # (N, K_l)
            k = min(self.pre_nms_top_n(), scores.shape[1])
            top_indices.append(scores.topk(k, dim=1).indices + offset)
            offset += scores.shape[1]
        top = torch.cat(top_indices, dim=1)  # (N, sum_l k_l)
        rows = torch.arange(num_images, device=proposals.device)[:, None]
        objectness, levels, proposals = (objectness[rows, top], levels[rows, top],
                                         proposals[rows, top])
        probabilities = torch.sigmoid(objectness)

        final_boxes, final_scores = [], []
        for boxes, scores, level, size in zip(proposals, probabilities, levels, image_sizes,
                                              strict=True):
            # 2. inside the image, not tiny, likely enough
            boxes = clip_boxes_to_image(boxes, size)
            keep = remove_small_boxes(boxes, self.min_size)
            boxes, scores, level = boxes[keep], scores[keep], level[keep]
            keep = torch.where(scores >= self.score_thresh)[0]
            boxes, scores, level = boxes[keep], scores[keep], level[keep]
            # 3. NMS within each level, then the best post_nms_top_n
            # (in float32: under autocast the boxes and scores may be half precision)
            keep = batched_nms(boxes.float(), scores.float(), level,
                               self.nms_thresh)[:self.post_nms_top_n()]
            final_boxes.append(boxes[keep])
            final_scores.append(scores[keep])
        return final_boxes, final_scores

    def assign_targets_to_anchors(self, anchors: list[torch.Tensor],
                                  targets: list[dict[str, torch.Tensor]]
                                  ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per image: anchor labels ``(K,)`` (1 object, 0 background, -1 ignored) and the matched
        ground-truth box of every anchor ``(K, 4)``."""
        labels, matched_boxes = [], []
        for anchors_per_image, target in zip(anchors, targets, strict=True):
            gt_boxes = target["boxes"]
            if gt_boxes.numel() == 0:  # an image without objects: every anchor is background
                matched_boxes.append(torch.zeros_like(anchors_per_image, dtype=torch.float32))
                labels.append(torch.zeros(len(anchors_per_image), dtype=torch.float32,
                                          device=gt_boxes.device))
                continue
            matches = self.proposal_matcher(box_iou(gt_boxes, anchors_per_image))  # (K,)
            matched_boxes.append(gt_boxes[matches.clamp(min=0)])
            label = (matches >= 0).to(torch.float32)
            label[matches == Matcher.BELOW_LOW_THRESHOLD] = 0.0
            label[matches == Matcher.BETWEEN_THRESHOLDS] = -1.0
            labels.append(label)
        return labels, matched_boxes

    def compute_loss(self, objectness: torch.Tensor, deltas: torch.Tensor,
                     labels: list[torch.Tensor],
                     regression_targets: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``objectness (N*K, 1)``, ``deltas (N*K, 4)`` -> (objectness loss, box loss)."""
        positive_masks, negative_masks = self.fg_bg_sampler(labels)
        positives = torch.where(torch.cat(positive_masks))[0]
        negatives = torch.where(torch.cat(negative_masks))[0]
        sampled = torch.cat([positives, negatives])
        labels, regression_targets = torch.cat(labels), torch.cat(regression_targets)
        box_loss = F.smooth_l1_loss(deltas[positives], regression_targets[positives], beta=1 / 9,
                                    reduction="sum") / sampled.numel()
        objectness_loss = F.binary_cross_entropy_with_logits(objectness.flatten()[sampled],
                                                             labels[sampled])
        return objectness_loss, box_loss

    def forward(self, images: ImageList, features: dict[str, torch.Tensor],
                targets: list[dict[str, torch.Tensor]] | None = None
                ) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        maps = list(features.values())
        # 1. the head on every level, and every level's anchors
        objectness, deltas = self.head(maps)
        anchors = self.anchor_generator(images, maps)  # per image (K, 4)
        num_images = len(anchors)
        # A * H_l * W_l
        anchors_per_level = [o.shape[1] * o.shape[2] * o.shape[3] for o in objectness]
        # 2. one row per anchor, levels concatenated: (N*K, 1) and (N*K, 4)
        objectness = torch.cat([_flatten_per_anchor(o, 1) for o in objectness],
                               dim=1).flatten(0, -2)
        deltas = torch.cat([_flatten_per_anchor(d, 4) for d in deltas], dim=1).reshape(-1, 4)
        # 3. decode the anchors into boxes and select the proposals
        # (N, K, 4)
        proposals = decode_boxes(deltas.detach(), torch.cat(anchors)).view(num_images, -1, 4)
        boxes, _ = self.filter_proposals(proposals, objectness.view(num_images, -1),
                                         images.image_sizes,
                                         anchors_per_level)
        losses: dict[str, torch.Tensor] = {}
        if self.training:
            if targets is None:
                raise ValueError("the RPN needs targets in training mode")
            labels, matched_boxes = self.assign_targets_to_anchors(anchors, targets)
            regression_targets = [encode_boxes(m, a)
                                  for m, a in zip(matched_boxes, anchors, strict=True)]
            loss_objectness, loss_box = self.compute_loss(objectness, deltas, labels,
                                                          regression_targets)
            losses = {"loss_objectness": loss_objectness, "loss_rpn_box_reg": loss_box}
        return boxes, losses
