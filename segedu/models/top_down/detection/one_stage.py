"""The one-stage detector's skeleton (RetinaNet, SSD): transform, backbone, a dense head over
anchors, then either the loss or the detections. No proposals, no second stage.

A two-stage detector first proposes a thousand regions and then classifies each; a one-stage
detector classifies *every anchor* directly: at each position of each feature map, for each of
its ``A`` anchors, a head predicts ``K`` class scores and 4 box deltas. With ``R`` anchors over
all levels the whole network is one pass ``images -> (N, R, K), (N, R, 4)``.

``model(images, targets=None)`` is torchvision's detection API: a list of images ``(3, H_i, W_i)``
in [0, 1]; in training one target dict per image (``boxes (G, 4)`` float ``xyxy`` pixels,
``labels (G,)`` int64; ``G = 0`` is allowed) and the dict of losses back; in evaluation one dict
of detections per image (``boxes``, ``scores``, ``labels``) at the input image's size.

The family's methods (:class:`~segedu.models.top_down.base.TopDownModel`) are its steps:

1. ``self.transform`` normalises, resizes and batches (:mod:`.transform`);
2. :meth:`OneStageDetector.head_outputs`: the backbone's feature maps, the head's
   ``cls_logits (N, R, K)`` and ``bbox_regression (N, R, 4)`` and the anchors ``(R, 4)``;
3. training: :meth:`~OneStageDetector.match` assigns each anchor a ground-truth box (or
   background), then the subclass's ``loss``; evaluation: ``postprocess`` keeps the best
   scores, decodes their boxes and removes duplicates with NMS, per image (the subclass's
   ``detect``), and scales the boxes back to the input size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ....ops import box_iou
from ..base import TopDownModel, check_box_targets, check_image_list
from .checkpoint_batch_norm import MatchBatchNormOnLoad
from .transform import GeneralizedRCNNTransform, ImageList

__all__ = ["OneStageDetector", "flatten_anchor_outputs"]


def flatten_anchor_outputs(x: torch.Tensor, depth: int) -> torch.Tensor:
    """One level's ``(N, A * depth, h, w)`` -> ``(N, h * w * A, depth)``."""
    n, _, h, w = x.shape
    x = x.view(n, -1, depth, h, w)  # (N, A, depth, h, w)
    return x.permute(0, 3, 4, 1, 2).reshape(n, -1, depth)  # (N, h, w, A, depth) -> rows


class OneStageDetector(MatchBatchNormOnLoad, TopDownModel):
    """Transform, backbone, dense head and anchors; subclasses give ``loss`` and ``detect``.

    Args (keyword-only):
        transform: the input transform.
        backbone: images ``(N, 3, H, W)`` -> an ordered dict of feature maps, finest first.
        head: a list of feature maps -> ``{"cls_logits": (N, R, K), "bbox_regression": (N, R, 4)}``.
        anchor_generator: ``(ImageList, feature maps)`` -> one ``(R, 4)`` tensor of ``xyxy``
            anchors per image, in the head's order; ``num_anchors_per_location()`` gives
            ``A_l`` per level.
        matcher: an IoU matrix ``(G, R)`` -> each anchor's ground-truth index ``(R,)``, ``-1``
            for background, ``-2`` for ignored.
        score_thresh, nms_thresh, detections_per_img, topk_candidates: the defaults of
            :meth:`postprocess`.
    """

    def __init__(self, *, transform: GeneralizedRCNNTransform, backbone: nn.Module,
                 head: nn.Module, anchor_generator: nn.Module,
                 matcher: Callable[[torch.Tensor], torch.Tensor], score_thresh: float,
                 nms_thresh: float, detections_per_img: int, topk_candidates: int) -> None:
        super().__init__()
        self.transform = transform
        self.backbone = backbone
        self.head = head
        self.anchor_generator = anchor_generator
        self.matcher = matcher
        self.options = {"score_thresh": score_thresh, "nms_thresh": nms_thresh,
                        "detections_per_img": detections_per_img,
                        "topk_candidates": topk_candidates}

    # ---- the network: images to per-anchor scores and deltas
    def head_outputs(self, image_list: ImageList) -> dict:
        """The raw outputs of a transformed batch: ``cls_logits (N, R, K)``,
        ``bbox_regression (N, R, 4)``, ``anchors`` (one ``(R, 4)`` per image),
        ``anchors_per_level`` (``[h_l * w_l * A_l]``, summing to ``R``) and ``image_sizes``."""
        features = list(self.backbone(image_list.tensors).values())  # [(N, C_l, h_l, w_l)]
        outputs = dict(self.head(features))  # (N, R, K) and (N, R, 4)
        outputs["anchors"] = self.anchor_generator(image_list, features)  # [(R, 4)] per image
        # h_l * w_l positions times A_l anchors per position, level by level
        outputs["anchors_per_level"] = [
            f.shape[-2] * f.shape[-1] * a
            for f, a in zip(features, self.anchor_generator.num_anchors_per_location(),
                            strict=True)]
        outputs["image_sizes"] = image_list.image_sizes
        return outputs

    # ---- the family's methods (segedu.models.top_down.base)
    def targets(self, targets: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        """The ground truth checked (:func:`~segedu.models.top_down.base.check_box_targets`) and
        returned as new dicts (the tensors shared): ``boxes (G, 4)`` float ``xyxy`` pixels,
        ``labels (G,)`` int64. Nothing is encoded ahead: :meth:`match` pairs them with the
        anchors of the transformed batch inside :meth:`loss`."""
        check_box_targets(targets)
        return [dict(target) for target in targets]

    def match(self, anchors: list[torch.Tensor],
              targets: list[dict[str, torch.Tensor]]) -> list[torch.Tensor]:
        """Each anchor's ground-truth index per image, int64 ``(R,)``: ``>= 0`` matched,
        ``-1`` background, ``-2`` ignored; an image without objects is all background."""
        matched = []
        for anchors_per_image, target in zip(anchors, targets, strict=True):
            if target["boxes"].numel() == 0:
                matched.append(torch.full((len(anchors_per_image),), -1, dtype=torch.int64,
                                          device=anchors_per_image.device))
                continue
            matched.append(self.matcher(box_iou(target["boxes"], anchors_per_image)))  # (G, R)
        return matched

    def detect(self, cls_logits: torch.Tensor, bbox_regression: torch.Tensor,
               anchors: torch.Tensor, image_size: tuple[int, int], *,
               anchors_per_level: list[int], score_thresh: float, nms_thresh: float,
               detections_per_img: int, topk_candidates: int) -> dict[str, torch.Tensor]:
        """One image's detections at the batch's scale (the subclass's decoding)."""
        raise NotImplementedError(f"{type(self).__name__} must implement detect")

    def postprocess(self, outputs: dict, **options) -> list[dict[str, torch.Tensor]]:
        """The detections of :meth:`head_outputs`' ``outputs`` (with ``original_sizes``, the input
        images' ``(H, W)``, added): one dict per image, ``boxes (n, 4)`` float ``xyxy`` pixels of
        the input image, ``scores (n,)``, ``labels (n,)`` int64, best first. ``options``
        (``score_thresh``, ``nms_thresh``, ``detections_per_img``, ``topk_candidates``) override
        the model's defaults for this call."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"unknown postprocess options {unknown}; known: "
                             f"{sorted(self.options)}")
        options = {**self.options, **options}
        detections = [
            self.detect(logits, deltas, anchors, size,
                        anchors_per_level=outputs["anchors_per_level"], **options)
            for logits, deltas, anchors, size in zip(
                outputs["cls_logits"], outputs["bbox_regression"], outputs["anchors"],
                outputs["image_sizes"], strict=True)]
        return self.transform.postprocess(detections, outputs["image_sizes"],
                                          outputs["original_sizes"])

    def forward(self, images: list[torch.Tensor],
                targets: list[dict[str, torch.Tensor]] | None = None):
        check_image_list(images)
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in training mode (one dict with boxes and "
                                 "labels per image); call model.eval() for predictions")
            targets = self.targets(targets)
            if len(targets) != len(images):
                raise ValueError(f"need one target dict per image: {len(images)} images, got "
                                 f"{len(targets)}")
        else:
            targets = None  # evaluation ignores targets, as torchvision
        original_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        # 1. normalise, resize, batch (the targets' boxes follow their images)
        image_list, targets = self.transform(images, targets)
        # 2. features, per-anchor scores and deltas, anchors
        outputs = self.head_outputs(image_list)
        # 3. training: the losses against the matched ground truth
        if self.training:
            return self.loss(outputs, targets)
        # 3. evaluation: best scores, decoded boxes, NMS, back to the input sizes
        return self.postprocess({**outputs, "original_sizes": original_sizes})

