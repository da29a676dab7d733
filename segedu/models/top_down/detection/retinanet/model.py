"""RetinaNet (Lin, Goyal, Girshick, He and Dollar, "Focal Loss for Dense Object Detection",
ICCV 2017) with a ResNet-50 FPN backbone.

A one-stage detector (:mod:`..one_stage`) as accurate as the two-stage ones of its time: the
paper's point is that the gap came from the **class imbalance** of dense detection, not from the
missing second stage. Its parts:

- the backbone: ResNet-50 and an FPN on ``C3 .. C5`` with two extra levels, ``P3 .. P7``
  (strides 8 to 128; ``P2`` is skipped, it would make too many anchors), 256 channels each
  (:class:`segedu.nn.fpn.BackboneWithFPN`, :class:`~segedu.nn.fpn.LastLevelP6P7`);
- **anchors**: on each level three sizes (``2^0, 2^(1/3), 2^(2/3)`` times 32 .. 512 pixels) and
  three aspect ratios (1:2, 1:1, 2:1): ``A = 9`` per position (:class:`segedu.ops.AnchorGenerator`);
- the **head**: a classification and a box subnet shared by the levels (:mod:`.head`);
- the **loss**: the focal loss on all anchors and an L1 box loss (:mod:`.loss`);
- **inference**: per-level threshold and top-k, decoding, batched NMS (:mod:`.postprocess`).

``retinanet_resnet50_fpn`` equals torchvision's model of that name, parameter names included:
``weights="official"`` loads torchvision's COCO checkpoint (91 classes, box AP 36.4). Parameters:
34,014,999 with frozen batch norm (as with the COCO weights; torchvision's documented number) and
34,068,119 with trainable batch norm (random initialisation: ResNet-50's 53,120 batch-norm scales
and shifts are parameters then).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torchvision.models.detection import RetinaNet_ResNet50_FPN_Weights

from .....data.statistics import IMAGENET_MEAN, IMAGENET_STD
from .....nn.fpn import BackboneWithFPN, LastLevelP6P7
from .....nn.resnet import resnet50
from .....ops import AnchorGenerator
from ....registry import register_model
from ..matcher import Matcher
from ..one_stage import OneStageDetector
from ..transform import GeneralizedRCNNTransform
from .head import RetinaNetHead
from .loss import BOX_LOSSES, retinanet_loss
from .postprocess import retinanet_detections

__all__ = ["RetinaNet", "retinanet_resnet50_fpn", "retinanet_anchor_sizes", "RETINANET_URL",
           "retinanet_head_keys"]

# torchvision's address of its COCO checkpoint, read from its weight enum
RETINANET_URL = RetinaNet_ResNet50_FPN_Weights.COCO_V1.url


def retinanet_anchor_sizes(base_sizes: Sequence[int] = (32, 64, 128, 256, 512)
                           ) -> tuple[tuple[int, ...], ...]:
    """Three anchor sizes per level, an octave split in thirds: ``(s, int(s 2^(1/3)),
    int(s 2^(2/3)))`` for each base size (the paper's; torchvision rounds down)."""
    return tuple((s, int(s * 2 ** (1.0 / 3)), int(s * 2 ** (2.0 / 3))) for s in base_sizes)


def retinanet_head_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with the head's towers in torchvision's current names: checkpoints written
    before torchvision 0.13 (the COCO one) number the towers' layers ``conv.0, conv.2, ...``
    (convolution, ReLU, ...), now ``conv.0.0, conv.1.0, ...``. Other keys pass unchanged."""
    renamed = {}
    for key, value in state_dict.items():
        for prefix in ("head.classification_head.conv.", "head.regression_head.conv."):
            rest = key[len(prefix):] if key.startswith(prefix) else ""
            index, _, name = rest.partition(".")
            if index.isdigit() and name in ("weight", "bias"):  # an old conv.{2i}.weight
                key = f"{prefix}{int(index) // 2}.0.{name}"
        renamed[key] = value
    return renamed


class RetinaNet(OneStageDetector):
    """RetinaNet on any backbone with an FPN (``backbone.out_channels`` wide, five levels).

    Args (keyword-only; defaults are torchvision's):
        backbone: e.g. :class:`~segedu.nn.fpn.BackboneWithFPN` with ``LastLevelP6P7``.
        num_classes: ``K`` sigmoid outputs per anchor (91 for COCO: label 0 is unused).
        min_size, max_size, image_mean, image_std: the input transform (:mod:`..transform`).
        anchor_sizes, aspect_ratios: one tuple of sizes per level; the ratios of every level.
        fg_iou_thresh, bg_iou_thresh: an anchor is foreground from IoU 0.5, background below
            0.4, ignored in between; each box also keeps its best anchors.
        score_thresh, nms_thresh, detections_per_img, topk_candidates: inference
            (:mod:`.postprocess`).
        prior_probability: the classification bias' initial foreground probability.
        box_loss: ``"l1"`` (torchvision's) or ``"smooth_l1"`` (the paper's).
    """

    def __init__(self, *, backbone: nn.Module, num_classes: int,
                 min_size: int | Sequence[int] = 800, max_size: int = 1333,
                 image_mean: Sequence[float] = IMAGENET_MEAN,
                 image_std: Sequence[float] = IMAGENET_STD,
                 anchor_sizes: Sequence[Sequence[float]] = retinanet_anchor_sizes(),
                 aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 fg_iou_thresh: float = 0.5, bg_iou_thresh: float = 0.4,
                 score_thresh: float = 0.05, nms_thresh: float = 0.5,
                 detections_per_img: int = 300, topk_candidates: int = 1000,
                 prior_probability: float = 0.01, box_loss: str = "l1") -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if box_loss not in BOX_LOSSES:
            raise ValueError(f"box_loss must be one of {BOX_LOSSES}, got {box_loss!r}")
        anchor_generator = AnchorGenerator(sizes=anchor_sizes,
                                           aspect_ratios=(tuple(aspect_ratios),)
                                           * len(anchor_sizes))
        head = RetinaNetHead(in_channels=backbone.out_channels,
                             num_anchors=anchor_generator.num_anchors_per_location()[0],
                             num_classes=num_classes, prior_probability=prior_probability)
        super().__init__(
            transform=GeneralizedRCNNTransform(min_size=min_size, max_size=max_size,
                                               image_mean=image_mean, image_std=image_std),
            backbone=backbone, head=head, anchor_generator=anchor_generator,
            matcher=Matcher(high_threshold=fg_iou_thresh, low_threshold=bg_iou_thresh,
                            allow_low_quality_matches=True),
            score_thresh=score_thresh, nms_thresh=nms_thresh,
            detections_per_img=detections_per_img, topk_candidates=topk_candidates)
        self.box_loss = box_loss

    def loss(self, outputs: dict, targets: list[dict[str, torch.Tensor]]
             ) -> dict[str, torch.Tensor]:
        """``{"classification": focal loss, "bbox_regression": L1}`` (torchvision's names) of
        :meth:`head_outputs`' ``outputs`` against :meth:`targets`' dicts at the batch's scale
        (``forward`` resizes them with the images); see :mod:`.loss`."""
        matched = self.match(outputs["anchors"], targets)
        return retinanet_loss(outputs, targets, matched, box_loss=self.box_loss)

    def detect(self, cls_logits: torch.Tensor, bbox_regression: torch.Tensor,
               anchors: torch.Tensor, image_size: tuple[int, int], *,
               anchors_per_level: list[int], score_thresh: float, nms_thresh: float,
               detections_per_img: int, topk_candidates: int) -> dict[str, torch.Tensor]:
        """One image's detections at the batch's scale
        (:func:`.postprocess.retinanet_detections`)."""
        return retinanet_detections(cls_logits, bbox_regression, anchors, image_size,
                                    anchors_per_level=anchors_per_level,
                                    score_thresh=score_thresh, nms_thresh=nms_thresh,
                                    detections_per_img=detections_per_img,
                                    topk_candidates=topk_candidates)

    def load_state_dict(self, state_dict: Mapping[str, torch.Tensor], strict: bool = True,
                        assign: bool = False):
        # torchvision's older checkpoints name the head's towers differently
        return super().load_state_dict(retinanet_head_keys(state_dict), strict=strict,
                                       assign=assign)


def resnet50_fpn_p3_p7_backbone(*, width: int = 64, fpn_channels: int = 256) -> BackboneWithFPN:
    """ResNet-50 (trainable batch norm, no classifier), an FPN on ``C3 .. C5`` and ``P6``,
    ``P7`` computed from ``P5`` (torchvision's choice; the paper's from ``C5``). ``width``: the
    ResNet's first-stage width (64 is the published network); ``fpn_channels``: the FPN's."""
    return BackboneWithFPN(body=resnet50(include_top=False, width=width),
                           returned_stages=(2, 3, 4), out_channels=fpn_channels,
                           extra_blocks=LastLevelP6P7(in_channels=fpn_channels,
                                                      out_channels=fpn_channels))


@register_model("retinanet_resnet50_fpn", official=lambda: RETINANET_URL)
def retinanet_resnet50_fpn(*, num_classes: int = 91, backbone_width: int = 64,
                           fpn_channels: int = 256, **kwargs) -> RetinaNet:
    """torchvision's ``retinanet_resnet50_fpn``; ``kwargs`` are :class:`RetinaNet`'s
    (``min_size``, ``max_size``, ``anchor_sizes``, ``score_thresh``, ``topk_candidates``,
    ``box_loss``, ...). ``backbone_width`` and ``fpn_channels`` (64 and 256: torchvision's) make
    the slim versions, e.g. the zoo's for 128 x 128 scenes (width 16, 64 channels, anchors of
    8 to 128 pixels: ``retinanet_anchor_sizes((8, 16, 32, 64, 128))``)."""
    return RetinaNet(backbone=resnet50_fpn_p3_p7_backbone(width=backbone_width,
                                                          fpn_channels=fpn_channels),
                     num_classes=num_classes, **kwargs)
