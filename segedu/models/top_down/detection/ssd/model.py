"""SSD300 (Liu, Anguelov, Erhan, Szegedy, Reed, Fu and Berg, "SSD: Single Shot MultiBox
Detector", ECCV 2016) with a VGG-16 backbone.

A one-stage detector (:mod:`..one_stage`) that predicts from **several feature maps** instead
of one: the fine ``conv4_3`` (38 x 38) for small objects down to a 1 x 1 map for the largest,
each with **default boxes** of its own scale and a few aspect ratios. Its parts:

- the backbone: VGG-16 with the L2-normalised ``conv4_3``, ``fc6``/``fc7`` as (dilated)
  convolutions and four extra blocks (:mod:`.vgg_backbone`);
- the default boxes: 4 or 6 per cell, 8,732 in all (:mod:`.default_boxes`);
- the heads: one 3x3 convolution per map for the classes and one for the boxes (:mod:`.head`);
- the loss: matching (:mod:`.matching`), cross-entropy with hard-negative mining and smooth L1
  (:mod:`.loss`);
- inference: softmax, per-class threshold and top-k, NMS (:mod:`.postprocess`).

Every image is stretched to 300 x 300 (its aspect ratio is not kept) and normalised as the
Caffe VGG was trained: pixel values 0 .. 255 minus the mean colour.

``ssd300_vgg16`` equals torchvision's model of that name, parameter names included:
``weights="official"`` loads torchvision's COCO checkpoint (91 classes, box AP 25.1).
Parameters: 35,641,826 (torchvision's documented number; VGG has no batch norm).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.detection import SSD300_VGG16_Weights

from ....registry import register_model
from ..one_stage import OneStageDetector
from ..transform import GeneralizedRCNNTransform
from .default_boxes import (
    SSD300_ASPECT_RATIOS,
    SSD300_SCALES,
    SSD300_STEPS,
    DefaultBoxGenerator,
)
from .head import SSDHead
from .loss import ssd_loss
from .matching import DefaultBoxMatcher
from .postprocess import ssd_detections
from .vgg_backbone import SSDVGGBackbone

__all__ = ["SSD", "ssd300_vgg16", "SSD300_URL", "SSD_MEAN", "SSD_STD"]

SSD300_URL = SSD300_VGG16_Weights.COCO_V1.url
# the Caffe VGG's input: 0..255 pixels minus the mean colour (std 1/255 undoes the 0..1 scaling)
SSD_MEAN = (0.48235, 0.45882, 0.40784)
SSD_STD = (1.0 / 255.0, 1.0 / 255.0, 1.0 / 255.0)


class SSD(OneStageDetector):
    """SSD on any backbone giving ``len(aspect_ratios)`` maps (``backbone.out_channels``: their
    channels).

    Args (keyword-only; defaults are torchvision's SSD300):
        backbone: e.g. :class:`.vgg_backbone.SSDVGGBackbone`.
        num_classes: ``K`` classes, background (label 0) included.
        size: every image is resized to ``size x size``.
        image_mean, image_std: the input normalisation.
        aspect_ratios, scales, steps: the default boxes
            (:class:`.default_boxes.DefaultBoxGenerator`).
        iou_thresh: the matching's IoU (:mod:`.matching`).
        positive_fraction: the share of positives among the boxes of the classification loss;
            0.25 keeps 3 negatives per positive.
        score_thresh, nms_thresh, detections_per_img, topk_candidates: inference.
    """

    def __init__(self, *, backbone: nn.Module, num_classes: int, size: int = 300,
                 image_mean: Sequence[float] = SSD_MEAN, image_std: Sequence[float] = SSD_STD,
                 aspect_ratios: Sequence[Sequence[float]] = SSD300_ASPECT_RATIOS,
                 scales: Sequence[float] | None = SSD300_SCALES,
                 steps: Sequence[int] | None = SSD300_STEPS, iou_thresh: float = 0.5,
                 positive_fraction: float = 0.25, score_thresh: float = 0.01,
                 nms_thresh: float = 0.45, detections_per_img: int = 200,
                 topk_candidates: int = 400) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError("num_classes counts the background too and must be >= 2, got "
                             f"{num_classes!r}")
        if not 0 < positive_fraction <= 1:
            raise ValueError(f"positive_fraction must be in (0, 1], got {positive_fraction}")
        if len(backbone.out_channels) != len(aspect_ratios):
            raise ValueError(f"the backbone gives {len(backbone.out_channels)} maps but "
                             f"aspect_ratios has {len(aspect_ratios)} entries")
        default_boxes = DefaultBoxGenerator(aspect_ratios=aspect_ratios, scales=scales,
                                            steps=steps)
        head = SSDHead(in_channels=list(backbone.out_channels),
                       num_anchors=default_boxes.num_anchors_per_location(),
                       num_classes=num_classes)
        super().__init__(
            transform=GeneralizedRCNNTransform(min_size=size, max_size=size,
                                               image_mean=image_mean, image_std=image_std,
                                               size_divisible=1, fixed_size=(size, size)),
            backbone=backbone, head=head, anchor_generator=default_boxes,
            matcher=DefaultBoxMatcher(iou_thresh=iou_thresh), score_thresh=score_thresh,
            nms_thresh=nms_thresh, detections_per_img=detections_per_img,
            topk_candidates=topk_candidates)
        self.neg_to_pos_ratio = (1.0 - positive_fraction) / positive_fraction

    def loss(self, outputs: dict, targets: list[dict[str, torch.Tensor]]
             ) -> dict[str, torch.Tensor]:
        """``{"bbox_regression": smooth L1, "classification": cross-entropy with hard-negative
        mining}`` (torchvision's names) of :meth:`head_outputs`' ``outputs`` against
        :meth:`targets`' dicts at the batch's scale; see :mod:`.loss`."""
        matched = self.match(outputs["anchors"], targets)
        return ssd_loss(outputs, targets, matched, neg_to_pos_ratio=self.neg_to_pos_ratio)

    def detect(self, cls_logits: torch.Tensor, bbox_regression: torch.Tensor,
               anchors: torch.Tensor, image_size: tuple[int, int], *,
               anchors_per_level: list[int], score_thresh: float, nms_thresh: float,
               detections_per_img: int, topk_candidates: int) -> dict[str, torch.Tensor]:
        """One image's detections at the batch's scale (:func:`.postprocess.ssd_detections`;
        the boxes of all levels are treated alike)."""
        return ssd_detections(cls_logits, bbox_regression, anchors, image_size,
                              score_thresh=score_thresh, nms_thresh=nms_thresh,
                              detections_per_img=detections_per_img,
                              topk_candidates=topk_candidates)


@register_model("ssd300_vgg16", official=lambda: SSD300_URL)
def ssd300_vgg16(*, num_classes: int = 91, backbone_width: int = 64, extra_blocks: int = 4,
                 **kwargs) -> SSD:
    """torchvision's ``ssd300_vgg16``; ``kwargs`` are :class:`SSD`'s (``size``,
    ``aspect_ratios``, ``scales``, ``steps``, ``score_thresh``, ``topk_candidates``, ...).
    ``backbone_width`` and ``extra_blocks`` (64 and 4: torchvision's) make the slim versions
    (:class:`.vgg_backbone.SSDVGGBackbone`): the zoo's for 128 x 128 scenes keeps two extra
    blocks, four maps of 16, 8, 4 and 2 cells, with the first four aspect-ratio sets, five
    scales and four steps (8, 16, 32, 64) of SSD300's."""
    return SSD(backbone=SSDVGGBackbone(width=backbone_width, extra_blocks=extra_blocks),
               num_classes=num_classes, **kwargs)
