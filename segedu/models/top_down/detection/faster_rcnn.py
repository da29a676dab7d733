"""Faster R-CNN (Ren et al., NeurIPS 2015) with a ResNet-50 FPN backbone (Lin et al., CVPR 2017).

Two stages share one feature pyramid: the **region proposal network** turns anchors into about a
thousand class-agnostic proposals, and the **Fast R-CNN head** pools each proposal's features
(RoIAlign, 7 x 7, from the FPN level that suits its size), classifies it and refines its box per
class. See :mod:`.rpn`, :mod:`.roi_heads` and :mod:`.generalized_rcnn` for the steps and the API.

``fasterrcnn_resnet50_fpn`` equals torchvision's model of that name, parameter names included:
``weights="official"`` loads torchvision's COCO checkpoint (91 classes, box AP 37.0). Parameters:
41,755,286 with frozen batch norm (as with the COCO weights; torchvision's documented number) and
41,808,406 with trainable batch norm (random initialisation: the backbone's 53,120 batch-norm
scales and shifts are parameters then).

``box_roi_pool="pool"`` replaces RoIAlign by Fast R-CNN's quantised RoIPool, to show what the
quantisation costs; torchvision has no such option.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

from ....data.statistics import IMAGENET_MEAN, IMAGENET_STD
from ....nn.fpn import BackboneWithFPN, LastLevelMaxPool
from ....nn.resnet import resnet50
from ....ops import AnchorGenerator
from ...registry import register_model
from .box_head import FastRCNNPredictor, TwoMLPHead
from .generalized_rcnn import GeneralizedRCNN
from .multiscale_roi_align import MultiScaleRoIAlign
from .roi_heads import RoIHeads
from .rpn import RegionProposalNetwork, RPNHead
from .transform import GeneralizedRCNNTransform

__all__ = ["FasterRCNN", "fasterrcnn_resnet50_fpn", "resnet50_fpn_backbone", "FASTERRCNN_URL"]

# torchvision's address of its COCO checkpoint, read from its weight enum (the file name
# carries the first digits of the SHA-256 that torch.hub checks)
FASTERRCNN_URL = FasterRCNN_ResNet50_FPN_Weights.COCO_V1.url
FPN_LEVELS = ["0", "1", "2", "3"]  # P2..P5 feed the RoI pooling; P6 ("pool") only the RPN


class FasterRCNN(GeneralizedRCNN):
    """Faster R-CNN on any backbone with an FPN (``backbone.out_channels`` wide, maps ``"0".."3"``).

    Args (keyword-only; defaults are torchvision's):
        backbone: e.g. :class:`~segedu.nn.fpn.BackboneWithFPN`.
        num_classes: object classes plus background.
        min_size, max_size, image_mean, image_std: the input transform (:mod:`.transform`).
        anchor_sizes, aspect_ratios: one tuple of sizes per pyramid level; the ratios of every
        level. rpn_*: the RPN's (:class:`.rpn.RegionProposalNetwork`).
        box_roi_pool: ``"align"`` (RoIAlign, sampling ratio 2) or ``"pool"`` (RoIPool).
        representation_size: width of fc6 / fc7 (1024).
        box_*: the second stage's matching, sampling and inference (:class:`.roi_heads.RoIHeads`).
    """

    def __init__(self, *, backbone: nn.Module, num_classes: int,
                 min_size: int | Sequence[int] = 800,
                 max_size: int = 1333, image_mean: Sequence[float] = IMAGENET_MEAN,
                 image_std: Sequence[float] = IMAGENET_STD,
                 anchor_sizes: Sequence[Sequence[float]] = ((32,), (64,), (128,), (256,), (512,)),
                 aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 rpn_pre_nms_top_n_train: int = 2000, rpn_pre_nms_top_n_test: int = 1000,
                 rpn_post_nms_top_n_train: int = 2000, rpn_post_nms_top_n_test: int = 1000,
                 rpn_nms_thresh: float = 0.7, rpn_fg_iou_thresh: float = 0.7,
                 rpn_bg_iou_thresh: float = 0.3,
                 rpn_batch_size_per_image: int = 256, rpn_positive_fraction: float = 0.5,
                 rpn_score_thresh: float = 0.0, box_roi_pool: str = "align",
                 representation_size: int = 1024,
                 box_score_thresh: float = 0.05, box_nms_thresh: float = 0.5,
                 box_detections_per_img: int = 100,
                 box_fg_iou_thresh: float = 0.5, box_bg_iou_thresh: float = 0.5,
                 box_batch_size_per_image: int = 512, box_positive_fraction: float = 0.25,
                 roi_heads_extra: dict | None = None) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError("num_classes counts the background too and must be >= 2, got "
                             f"{num_classes!r}")
        if box_roi_pool not in ("align", "pool"):
            raise ValueError(f"box_roi_pool must be 'align' or 'pool', got {box_roi_pool!r}")
        channels = backbone.out_channels
        # the RPN: one anchor set per level, the same head on every level
        anchor_generator = AnchorGenerator(sizes=anchor_sizes,
                                           aspect_ratios=(tuple(aspect_ratios),)
                                           * len(anchor_sizes))
        rpn = RegionProposalNetwork(
            anchor_generator=anchor_generator,
            head=RPNHead(in_channels=channels,
                         num_anchors=anchor_generator.num_anchors_per_location()[0]),
            fg_iou_thresh=rpn_fg_iou_thresh, bg_iou_thresh=rpn_bg_iou_thresh,
            batch_size_per_image=rpn_batch_size_per_image, positive_fraction=rpn_positive_fraction,
            pre_nms_top_n={"training": rpn_pre_nms_top_n_train, "testing": rpn_pre_nms_top_n_test},
            post_nms_top_n={"training": rpn_post_nms_top_n_train,
                            "testing": rpn_post_nms_top_n_test},
            nms_thresh=rpn_nms_thresh, score_thresh=rpn_score_thresh)
        # the second stage: 7 x 7 pooling, 2-MLP head, class scores and per-class deltas
        roi_heads = RoIHeads(
            box_roi_pool=MultiScaleRoIAlign(featmap_names=FPN_LEVELS, output_size=7,
                                            sampling_ratio=2,
                                            kind=box_roi_pool),
            box_head=TwoMLPHead(in_channels=channels * 7 * 7,
                                representation_size=representation_size),
            box_predictor=FastRCNNPredictor(in_channels=representation_size,
                                            num_classes=num_classes),
            fg_iou_thresh=box_fg_iou_thresh, bg_iou_thresh=box_bg_iou_thresh,
            batch_size_per_image=box_batch_size_per_image, positive_fraction=box_positive_fraction,
            score_thresh=box_score_thresh, nms_thresh=box_nms_thresh,
            detections_per_img=box_detections_per_img,
            **(roi_heads_extra or {}))
        transform = GeneralizedRCNNTransform(min_size=min_size, max_size=max_size,
                                             image_mean=image_mean,
                                             image_std=image_std)
        super().__init__(transform=transform, backbone=backbone, rpn=rpn, roi_heads=roi_heads)


def resnet50_fpn_backbone() -> BackboneWithFPN:
    """ResNet-50 (trainable batch norm, no classifier) with a 256-wide FPN and the
    ``"pool"`` level."""
    return BackboneWithFPN(body=resnet50(include_top=False), returned_stages=(1, 2, 3, 4),
                           out_channels=256,
                           extra_blocks=LastLevelMaxPool())


@register_model("fasterrcnn_resnet50_fpn", official=lambda: FASTERRCNN_URL)
def fasterrcnn_resnet50_fpn(*, num_classes: int = 91, **kwargs) -> FasterRCNN:
    """torchvision's ``fasterrcnn_resnet50_fpn``; ``kwargs`` are :class:`FasterRCNN`'s
    (``min_size``, ``max_size``, ``box_score_thresh``, ``rpn_*``, ``box_roi_pool``, ...)."""
    return FasterRCNN(backbone=resnet50_fpn_backbone(), num_classes=num_classes, **kwargs)
