"""YOLACT (Bolya, Zhou, Xiao & Lee, "YOLACT: Real-time Instance Segmentation", ICCV 2019).

A one-stage instance segmenter in two parallel branches that meet only at the end::

    image -> ResNet -> FPN (P3 .. P7) -+-> protonet(P3) -> prototypes (N, k, H/4, W/4)
                                       +-> prediction head (every level, every anchor):
                                             class logits (C), box deltas (4), coefficients (k)
    detections (decode, score threshold, NMS) -> masks = crop(sigmoid(prototypes x coefficients))

Anchors: one size per level (P3 smallest), three aspect ratios (1, 1/2, 2) at each position,
centred on the cells (YOLACT's convention: the centre of cell ``(i, j)`` of an ``h x w`` map is
``((j + 0.5) W / w, (i + 0.5) H / h)``).

The interface is torchvision's detection API: ``model(images, targets)`` with ``images`` a list of
``(3, H, W)`` float tensors in ``[0, 1]`` (normalised inside with the ImageNet mean and std). In
training mode with ``targets`` (dicts with ``boxes (M, 4)`` ``xyxy`` pixels, ``labels (M,)`` in
``1 .. num_classes - 1``, ``masks (M, H, W)``) it returns the losses of :mod:`.loss`; in eval mode,
one dict per image with ``boxes (n, 4)``, ``labels (n,)``, ``scores (n,)`` and
``masks (n, 1, H, W)`` (probabilities; threshold them at 0.5). Images of different sizes are
zero-padded at the bottom and right to the largest one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ....data.statistics import IMAGENET_MEAN, IMAGENET_STD
from ....losses import binary_cross_entropy_with_logits, cross_entropy, smooth_l1_loss
from ....nn.fpn import BackboneWithFPN, LastLevelP6P7
from ....nn.resnet import resnet_by_name
from ....ops import (
    batched_nms,
    clip_boxes_to_image,
    decode_boxes,
    encode_boxes,
    generate_anchors,
    grid_anchors,
)
from ...registry import register_model
from ..base import TopDownModel, check_image_list
from .assemble import assemble_masks, box_crop_masks, crop_masks, mask_logits
from .fast_nms import fast_nms
from .loss import BOX_CODER_WEIGHTS, LOSS_OPTIONS, downsample_masks
from .matching import match_anchors, ohem_negatives
from .prediction_head import PredictionHead
from .protonet import ProtoNet

__all__ = ["Yolact", "yolact", "yolact_resnet50"]


class Yolact(TopDownModel):
    """YOLACT (see the module docstring), a
    :class:`~segedu.models.top_down.base.TopDownModel`: ``forward`` is :meth:`head_outputs`,
    then :meth:`loss` of :meth:`targets` in training or :meth:`postprocess` in evaluation.

    Args (keyword-only):
        num_classes: classes *including* the background (81 for COCO).
        backbone: ``"resnet18"``, ``"resnet34"`` or ``"resnet50"`` (``"resnet101"`` in the paper's
            best model is not in segedu).
        backbone_width: the ResNet's first-stage width (64 is the published network).
        fpn_channels: the FPN's width (256 in the paper); also the head's and protonet's width.
        num_prototypes: ``k`` (32 in the paper).
        prototype_stride: 4 (the paper) or 2, 1 for finer masks of small objects.
        anchor_sizes: one size (pixels, the square root of the area) per level P3 .. P7.
        aspect_ratios: height / width of the anchors at each position.
        semantic_head: train the auxiliary semantic segmentation branch (not used at inference).
        score_thresh: drop (box, class) pairs scoring below this before NMS.
        nms_thresh: IoU above which a lower-scoring box of the same class is suppressed.
        nms: ``"standard"`` (per-class :func:`segedu.ops.batched_nms`) or ``"fast"`` (the paper's
            :func:`.fast_nms.fast_nms`, which may suppress a few more boxes).
        pre_nms_top_k: at most this many (box, class) pairs, the best, go into NMS.
        detections_per_img: at most this many detections per image.
        loss_weights: overrides of :meth:`loss`'s options (``.loss.LOSS_OPTIONS``), e.g.
            ``{"mask_weight": 6.125}``.
    """

    def __init__(self, *, num_classes: int, backbone: str = "resnet18", backbone_width: int = 32,
                 fpn_channels: int = 64, num_prototypes: int = 16, prototype_stride: int = 2,
                 anchor_sizes: Sequence[float] = (12, 24, 48, 96, 192),
                 aspect_ratios: Sequence[float] = (1.0, 0.5, 2.0), semantic_head: bool = True,
                 score_thresh: float = 0.05, nms_thresh: float = 0.5, nms: str = "standard",
                 pre_nms_top_k: int = 1000,
                 detections_per_img: int = 100,
                 loss_weights: dict[str, float] | None = None) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError("num_classes counts the background and must be an int >= 2, got "
                             f"{num_classes!r}")
        if len(anchor_sizes) != 5:
            raise ValueError("anchor_sizes needs one size per level P3 .. P7 (5), got "
                             f"{anchor_sizes!r}")
        if nms not in ("standard", "fast"):
            raise ValueError(f"nms must be 'standard' or 'fast', got {nms!r}")
        self.num_classes, self.nms = num_classes, nms
        self.anchor_sizes = tuple(float(s) for s in anchor_sizes)
        self.aspect_ratios = tuple(float(r) for r in aspect_ratios)
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.pre_nms_top_k, self.detections_per_img = pre_nms_top_k, detections_per_img
        self.loss_weights = dict(loss_weights or {})
        unknown = set(self.loss_weights) - set(LOSS_OPTIONS)
        if unknown:
            raise ValueError(f"unknown loss_weights {sorted(unknown)}; the loss's options are "
                             f"{sorted(LOSS_OPTIONS)}")
        # ResNet C3, C4, C5 -> FPN P3, P4, P5, then P6, P7 by strided convolutions
        body = resnet_by_name(backbone, include_top=False, width=backbone_width)
        self.backbone = BackboneWithFPN(body=body, returned_stages=(2, 3, 4),
                                        out_channels=fpn_channels,
                                        extra_blocks=LastLevelP6P7(in_channels=fpn_channels,
                                                                   out_channels=fpn_channels))
        self.protonet = ProtoNet(in_channels=fpn_channels, hidden_channels=fpn_channels,
                                 num_prototypes=num_prototypes, prototype_stride=prototype_stride)
        self.head = PredictionHead(in_channels=fpn_channels, num_anchors=len(self.aspect_ratios),
                                   num_classes=num_classes, num_prototypes=num_prototypes)
        self.semantic = nn.Conv2d(fpn_channels, num_classes - 1, 1) if semantic_head else None
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    # -- input --------------------------------------------------------------------------------
    def _check_targets(self, images, targets) -> None:
        if not isinstance(targets, (list, tuple)) or len(targets) != len(images):
            raise ValueError(f"targets must be a list of one dict per image ({len(images)})")
        for i, (image, t) in enumerate(zip(images, targets, strict=True)):
            missing = {"boxes", "labels", "masks"} - set(t)
            if missing:
                raise ValueError(f"targets[{i}] lacks {sorted(missing)}")
            boxes, labels, masks = t["boxes"], t["labels"], t["masks"]
            if boxes.ndim != 2 or boxes.shape[1] != 4 or not boxes.is_floating_point():
                raise ValueError(f"targets[{i}]['boxes'] must be float (M, 4) xyxy, got "
                                 f"{tuple(boxes.shape)} {boxes.dtype}")
            if labels.shape != (len(boxes),) or labels.is_floating_point():
                raise ValueError(f"targets[{i}]['labels'] must be integer (M,) = ({len(boxes)},), "
                                 f"got {tuple(labels.shape)} {labels.dtype}")
            if len(labels) and (labels.min() < 1 or labels.max() >= self.num_classes):
                raise ValueError(f"targets[{i}]['labels'] must be in 1 .. {self.num_classes - 1} "
                                 f"(0 is the background), got {labels.tolist()}")
            if masks.shape != (len(boxes), *image.shape[-2:]):
                raise ValueError(f"targets[{i}]['masks'] must be (M, H, W) = ({len(boxes)}, "
                                 f"{image.shape[-2]}, {image.shape[-1]}), got {tuple(masks.shape)}")
            if len(boxes) and ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any():
                raise ValueError(f"targets[{i}]['boxes'] has a box of zero or negative size: "
                                 f"{boxes.tolist()}")

    def _batch(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """Normalise and stack (zero-padding to the largest size): ``(N, 3, H, W)``."""
        height = max(im.shape[-2] for im in images)
        width = max(im.shape[-1] for im in images)
        batch = images[0].new_zeros((len(images), 3, height, width))
        for i, image in enumerate(images):
            batch[i, :, : image.shape[-2], : image.shape[-1]] = (image - self.mean[0]) / self.std[0]
        return batch

    # -- anchors ------------------------------------------------------------------------------
    def anchors(self, image_size: tuple[int, int], feature_sizes: Sequence[tuple[int, int]],
                device: torch.device | str = "cpu") -> torch.Tensor:
        """``(R, 4)`` ``xyxy`` anchors in image pixels, level by level, position-major,
        ratio last."""
        image_h, image_w = image_size
        per_level = []
        for size, (h, w) in zip(self.anchor_sizes, feature_sizes, strict=True):
            stride = (image_h / h, image_w / w)  # image pixels per cell
            # (A, 4)
            cell = generate_anchors(sizes=(size,), aspect_ratios=self.aspect_ratios, device=device)
            # centred on the cell
            cell = cell + torch.tensor([stride[1], stride[0]] * 2, device=device) / 2
            per_level.append(grid_anchors((h, w), stride, cell))  # (h * w * A, 4)
        return torch.cat(per_level)

    # -- forward ------------------------------------------------------------------------------
    def forward(self, images: list[torch.Tensor],
                targets: list[dict[str, torch.Tensor]] | None = None):
        check_image_list(images)
        if self.training:
            if targets is None:
                raise ValueError("in training mode YOLACT needs targets (call model.eval() for "
                                 "detections)")
            self._check_targets(images, targets)
        outputs = self.head_outputs(images)
        if self.training:  # the losses, with the masks padded as the images
            return self.loss(outputs, self.targets(targets))
        return self.postprocess(outputs)  # the detections of each image

    def head_outputs(self, images: list[torch.Tensor]) -> dict:
        """The network's raw outputs for a list of ``(3, H_i, W_i)`` images in ``[0, 1]``.

        Returns a dict: ``class_logits (N, R, C)``, ``box_deltas (N, R, 4)``,
        ``coefficients (N, R, k)`` for the ``R`` anchors, ``prototypes (N, k, H/s, W/s)``,
        ``anchors (R, 4)`` ``xyxy`` pixels, ``semantic`` (``(N, C - 1, H/8, W/8)`` in training
        with the semantic head, else ``None``), ``image_sizes`` (each image's ``(H_i, W_i)``)
        and ``batch_size``, the padded ``(H, W)`` of the batch.
        """
        check_image_list(images)
        # 1. normalised batch, features, prototypes and per-anchor predictions
        x = self._batch(images)  # (N, 3, H, W)
        # P3 .. P7, (N, F, H/8, W/8) .. (N, F, H/128, W/128)
        levels = list(self.backbone(x).values())
        prototypes = self.protonet(levels[0])  # (N, k, H/s, W/s)
        # (N, R, C), (N, R, 4), (N, R, k)
        class_logits, box_deltas, coefficients = self.head(levels)
        # (R, 4)
        anchors = self.anchors(tuple(x.shape[-2:]), [lvl.shape[-2:] for lvl in levels], x.device)
        # (N, C - 1, H/8, W/8), training only
        semantic = (self.semantic(levels[0]) if self.training and self.semantic is not None
                    else None)
        return {"class_logits": class_logits, "box_deltas": box_deltas,
                "coefficients": coefficients, "prototypes": prototypes, "anchors": anchors,
                "semantic": semantic,
                "image_sizes": [tuple(image.shape[-2:]) for image in images],
                "batch_size": tuple(x.shape[-2:])}

    # -- the family's methods (segedu.models.top_down.base) ------------------------------------
    def targets(self, targets: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        """The batch's ground truth as :meth:`loss` needs it: one dict per image with
        ``boxes (M, 4)`` ``xyxy`` pixels, ``labels (M,)`` in ``1 .. C - 1`` and
        ``masks (M, H, W)``, the masks zero-padded at the bottom and right to the largest
        image's size (as ``forward`` pads the images: each image's masks have its size).
        """
        if not isinstance(targets, (list, tuple)) or not targets:
            raise ValueError("targets must be a non-empty list of one dict per image")
        for i, t in enumerate(targets):
            missing = {"boxes", "labels", "masks"} - set(t)
            if missing:
                raise ValueError(f"targets[{i}] lacks {sorted(missing)}")
        height = max(t["masks"].shape[-2] for t in targets)
        width = max(t["masks"].shape[-1] for t in targets)
        padded = []
        for t in targets:
            masks = t["masks"]
            masks = F.pad(masks, (0, width - masks.shape[-1], 0, height - masks.shape[-2]))
            padded.append({"boxes": t["boxes"], "labels": t["labels"], "masks": masks})
        return padded

    def loss(self, outputs: dict[str, torch.Tensor],
             targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """The YOLACT loss of a batch (:mod:`.loss`; its options are ``LOSS_OPTIONS``, overridden
        by the constructor's ``loss_weights``).

        Args:
            outputs: :meth:`head_outputs`' dict: ``class_logits (N, R, C)``,
                ``box_deltas (N, R, 4)``, ``coefficients (N, R, k)`` (the head's outputs for the
                ``R`` anchors), ``prototypes (N, k, h, w)`` (stride ``H / h`` for images of
                height ``H``), ``anchors (R, 4)`` ``xyxy`` in image pixels and ``semantic``,
                ``(N, C - 1, hs, ws)`` or ``None`` (no semantic term).
            targets: :meth:`targets`' list: ``boxes (M, 4)`` ``xyxy`` pixels, ``labels (M,)``
                in ``1 .. C - 1`` and ``masks (M, H, W)`` (the size of the batch's images).

        Returns:
            ``{"loss_classifier", "loss_box_reg", "loss_mask"}`` (and ``"loss_semantic"``),
            scalars.
        """
        missing = {"class_logits", "box_deltas", "coefficients", "prototypes",
                   "anchors"} - set(outputs)
        if missing:
            raise ValueError(f"outputs lacks {sorted(missing)} (see Yolact.head_outputs)")
        class_logits, box_deltas = outputs["class_logits"], outputs["box_deltas"]
        coefficients, prototypes = outputs["coefficients"], outputs["prototypes"]
        anchors, semantic_logits = outputs["anchors"], outputs.get("semantic")
        options = {**LOSS_OPTIONS, **self.loss_weights}
        positive_threshold = options["positive_threshold"]
        negative_threshold = options["negative_threshold"]
        negatives_per_positive = options["negatives_per_positive"]
        max_masks_per_image = options["max_masks_per_image"]
        class_weight, box_weight = options["class_weight"], options["box_weight"]
        mask_weight, semantic_weight = options["mask_weight"], options["semantic_weight"]
        n, num_anchors, num_classes = class_logits.shape
        if len(targets) != n:
            raise ValueError(f"got {len(targets)} targets for a batch of {n} images")
        if anchors.shape != (num_anchors, 4):
            raise ValueError(f"anchors must be ({num_anchors}, 4), got {tuple(anchors.shape)}")
        proto_h, proto_w = prototypes.shape[-2:]
        image_h, image_w = targets[0]["masks"].shape[-2:] if n else (proto_h, proto_w)
        # image pixels per prototype pixel
        stride_y, stride_x = image_h / proto_h, image_w / proto_w
        to_proto = torch.tensor([1 / stride_x, 1 / stride_y, 1 / stride_x, 1 / stride_y],
                                device=anchors.device)

        loss_class = class_logits.sum() * 0  # zero, but in the graph
        loss_box = box_deltas.sum() * 0
        loss_mask = (coefficients.sum() + prototypes.sum()) * 0
        num_positives = 0
        for i, target in enumerate(targets):
            gt_boxes, gt_labels = target["boxes"].to(anchors.dtype), target["labels"]
            # 1. which anchor learns which box
            matches = match_anchors(anchors, gt_boxes, positive_threshold=positive_threshold,
                                    negative_threshold=negative_threshold)  # (R,)
            positive = matches >= 0
            pos_idx = positive.nonzero().squeeze(1)  # (P,)
            matched = matches[pos_idx]  # (P,) index of each positive's box
            num_positives += len(pos_idx)

            # 2. class loss: positives and the hardest negatives
            logits = class_logits[i]  # (R, C)
            # (R,) CE if labelled background
            background_loss = torch.logsumexp(logits, dim=1) - logits[:, 0]
            negative = ohem_negatives(background_loss, matches,
                                      negatives_per_positive=negatives_per_positive)
            chosen = positive | negative
            # background
            class_target = torch.zeros(num_anchors, dtype=torch.int64, device=logits.device)
            class_target[pos_idx] = gt_labels[matched]
            loss_class = loss_class + cross_entropy(logits[chosen], class_target[chosen],
                                                    reduction="sum")
            if len(pos_idx) == 0:
                continue

            # 3. box loss: encoded deltas of the positives
            # (P, 4)
            box_target = encode_boxes(gt_boxes[matched], anchors[pos_idx], BOX_CODER_WEIGHTS)
            loss_box = loss_box + smooth_l1_loss(box_deltas[i, pos_idx], box_target,
                                                 reduction="sum")

            # 4. mask loss: assemble each positive's mask, compare inside its ground-truth box
            if len(pos_idx) > max_masks_per_image:
                keep = torch.randperm(len(pos_idx), device=pos_idx.device)[:max_masks_per_image]
                pos_idx, matched = pos_idx[keep], matched[keep]
            gt_masks = downsample_masks(target["masks"], (proto_h, proto_w))[matched]  # (P, h, w)
            logits_m = mask_logits(prototypes[i], coefficients[i, pos_idx])  # (P, h, w)
            boxes_p = gt_boxes[matched] * to_proto  # (P, 4) in prototype pixels
            inside = box_crop_masks(boxes_p, proto_h, proto_w).to(logits_m.dtype)  # (P, h, w)
            # (P, h, w)
            bce = binary_cross_entropy_with_logits(logits_m, gt_masks, reduction="none")
            # (P,)
            box_area = ((boxes_p[:, 2] - boxes_p[:, 0])
                        * (boxes_p[:, 3] - boxes_p[:, 1])).clamp(min=1)
            loss_mask = loss_mask + ((bce * inside).sum(dim=(1, 2)) / box_area).sum()

        # 5. normalise by the number of positives, weight the terms
        num_positives = max(num_positives, 1)
        losses = {
            "loss_classifier": class_weight * loss_class / num_positives,
            "loss_box_reg": box_weight * loss_box / num_positives,
            "loss_mask": mask_weight * loss_mask / num_positives,
        }
        # 6. the semantic term: per foreground class, is this pixel of that class?
        if semantic_logits is not None:
            seg_h, seg_w = semantic_logits.shape[-2:]
            seg_target = torch.zeros_like(semantic_logits)  # (N, C - 1, hs, ws)
            for i, target in enumerate(targets):
                masks = downsample_masks(target["masks"], (seg_h, seg_w))  # (M, hs, ws)
                for mask, label in zip(masks, target["labels"].tolist(), strict=True):
                    seg_target[i, label - 1] = torch.maximum(seg_target[i, label - 1], mask)
            bce = binary_cross_entropy_with_logits(semantic_logits, seg_target, reduction="sum")
            losses["loss_semantic"] = semantic_weight * bce / (seg_h * seg_w) / max(n, 1)
        return losses

    @torch.no_grad()
    def postprocess(self, outputs: dict) -> list[dict[str, torch.Tensor]]:
        """The detections of a batch, from :meth:`head_outputs`' dict: one dict per image with
        ``boxes (n, 4)`` ``xyxy`` pixels, ``labels (n,)`` in ``1 .. C - 1``, ``scores (n,)`` and
        ``masks (n, 1, H_i, W_i)`` probabilities, best first. The thresholds are the model's
        (``score_thresh``, ``nms_thresh``, ``nms``, ``pre_nms_top_k``, ``detections_per_img``).
        """
        return [self._detect(outputs["class_logits"][i], outputs["box_deltas"][i],
                             outputs["coefficients"][i], outputs["prototypes"][i],
                             outputs["anchors"], image_size=size,
                             batch_size=outputs["batch_size"])
                for i, size in enumerate(outputs["image_sizes"])]

    def _detect(self, class_logits: torch.Tensor, box_deltas: torch.Tensor,
                coefficients: torch.Tensor, prototypes: torch.Tensor, anchors: torch.Tensor, *,
                image_size: tuple[int, int],
                batch_size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """One image's detections from its ``(R, C)``, ``(R, 4)``, ``(R, k)`` predictions and its
        ``(k, h, w)`` prototypes; ``batch_size`` is the padded ``(H, W)`` the prototypes cover."""
        num_fg = self.num_classes - 1
        # 1. boxes and per-class scores of every anchor
        # (R, 4)
        boxes = clip_boxes_to_image(decode_boxes(box_deltas, anchors, BOX_CODER_WEIGHTS),
                                    image_size)
        scores = class_logits.softmax(dim=1)[:, 1:]  # (R, C - 1), background dropped
        # 2. every (anchor, class) pair above the threshold, the best pre_nms_top_k of them
        scores = scores.reshape(-1)  # (R * (C - 1),), anchor-major
        candidates = (scores > self.score_thresh).nonzero().squeeze(1)
        top_k = min(self.pre_nms_top_k, len(candidates))
        candidates = candidates[scores[candidates].topk(top_k).indices]
        anchor_idx, labels = candidates // num_fg, candidates % num_fg + 1
        boxes, scores = boxes[anchor_idx], scores[candidates]
        # 3. per-class NMS, the best detections_per_img
        suppress = batched_nms if self.nms == "standard" else fast_nms
        keep = suppress(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
        boxes, scores, labels, anchor_idx = (boxes[keep], scores[keep], labels[keep],
                                             anchor_idx[keep])
        # 4. masks: assemble, upsample to the (padded) batch size, cut to this image, crop to
        #    the box
        masks = assemble_masks(prototypes, coefficients[anchor_idx])  # (n, h, w)
        height, width = image_size
        if len(masks):
            masks = F.interpolate(masks[:, None], size=batch_size, mode="bilinear",
                                  align_corners=False)[:, 0]
        else:
            masks = masks.new_zeros((0, *batch_size))
        masks = crop_masks(masks[:, :height, :width], boxes)  # (n, H, W)
        return {"boxes": boxes, "labels": labels, "scores": scores, "masks": masks[:, None]}


@register_model("yolact")
def yolact(*, num_classes: int = 4, **kwargs) -> Yolact:
    """A slim YOLACT for the 128x128 synthetic scenes (keyword arguments of :class:`Yolact`).

    Defaults: ResNet-18 of width 32, FPN of 64 channels, k = 16 prototypes at stride 2, anchors of
    12 .. 192 pixels, 4 classes (background, circle, rectangle, triangle): 3,276,731 parameters.
    """
    return Yolact(num_classes=num_classes, **kwargs)


@register_model("yolact_resnet50")
def yolact_resnet50(*, num_classes: int = 81, **kwargs) -> Yolact:
    """The paper's YOLACT-550 configuration on ResNet-50 (no official weights in segedu).

    For 550x550 images: ResNet-50, 256-channel FPN, k = 32 prototypes at stride 4 (138x138),
    anchors of 24, 48, 96, 192, 384 pixels, COCO's 80 classes + background, no semantic head at
    inference (it is trained): 31,164,943 parameters.
    """
    defaults = dict(backbone="resnet50", backbone_width=64, fpn_channels=256, num_prototypes=32,
                    prototype_stride=4, anchor_sizes=(24, 48, 96, 192, 384), score_thresh=0.05,
                    nms_thresh=0.5, pre_nms_top_k=200 * (num_classes - 1), detections_per_img=100)
    return Yolact(num_classes=num_classes, **{**defaults, **kwargs})
