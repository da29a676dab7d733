"""Panoptic FPN (Kirillov, Girshick, He and Dollár, CVPR 2019): Mask R-CNN plus a semantic branch.

One feature pyramid feeds two heads: Mask R-CNN's instance branch (RPN, box and mask heads) for
the countable *things*, and a light semantic branch (:mod:`.semantic_fpn_head`) for the *stuff*
and an "other" class covering all thing pixels. Training adds the two losses,

    L = lambda_i (L_cls + L_box + L_mask) + lambda_s L_s,

with ``lambda_i = 1`` (the RPN's losses included) and ``lambda_s = 0.5`` (detectron2's default for
COCO); inference merges the two outputs with the heuristics of :mod:`.combine`.

The model subclasses segedu's :class:`~segedu.models.top_down.detection.mask_rcnn.MaskRCNN`, so the
instance branch's parameter names are Mask R-CNN's (a Mask R-CNN checkpoint initialises it) and
the semantic branch adds ``semantic_head.*``.

Input, as Mask R-CNN: a list of images ``(3, H_i, W_i)`` in [0, 1]; in training one target per
image with ``boxes``, ``labels``, ``masks`` and ``semantic`` ``(H_i, W_i)`` int64 in the semantic
branch's classes (0 "other", 1.. stuff, ``ignore_index`` ignored). Output in evaluation: Mask
R-CNN's detections plus ``sem_seg`` ``(K, H_i, W_i)`` logits and ``panoptic`` ``(H_i, W_i, 2)``
``(category_id, instance_id)`` (the format of :func:`segedu.metrics.panoptic_quality`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ....nn.fpn import BackboneWithFPN, LastLevelMaxPool
from ....nn.resnet import resnet_by_name
from ....ops import masks_to_boxes
from ...registry import register_model
from ...top_down.base import check_image_list
from ...top_down.detection.faster_rcnn import FPN_LEVELS
from ...top_down.detection.mask_rcnn import MaskRCNN
from ...top_down.detection.transform import resize_target
from ..base import UniversalModel
from .combine import PanopticMerge
from .semantic_fpn_head import SemanticFPNHead

__all__ = ["PanopticFPN", "panoptic_fpn"]

# P2..P5, the levels the head reads
FPN_STRIDES = dict(zip(FPN_LEVELS, (4, 8, 16, 32), strict=True))
# segedu's synthetic scenes: scene classes 0..2 are stuff (sky, grass, water), 3..5 things
SCENE_THING_CATEGORIES = (-1, 3, 4, 5)  # detection label -> scene class (0 is background)
SCENE_STUFF_CATEGORIES = (-1, 0, 1, 2)  # semantic-branch label -> scene class (0 is "other")


class PanopticFPN(PanopticMerge, MaskRCNN, UniversalModel):
    """Mask R-CNN with Panoptic FPN's semantic branch and merge.

    Args (keyword-only), besides :class:`MaskRCNN`'s (``backbone``, ``num_classes``, ...):
        num_semantic_classes: stuff classes + 1 ("other").
        thing_categories, stuff_categories: the panoptic category of each detection label and of
            each semantic label (index 0 of both is unused).
        semantic_conv_dims, semantic_num_groups: the semantic towers' width and GroupNorm groups.
        semantic_loss_weight: ``lambda_s`` (0.5); ``instance_loss_weight``: ``lambda_i`` (1).
        ignore_index: semantic target value that the loss skips (and the padding's).
        combine_score_thresh, combine_overlap_thresh, combine_stuff_area_thresh: the merge's.
    """

    def __init__(self, *, backbone: nn.Module, num_classes: int, num_semantic_classes: int,
                 thing_categories: Sequence[int], stuff_categories: Sequence[int],
                 semantic_conv_dims: int = 128, semantic_num_groups: int = 32,
                 semantic_loss_weight: float = 0.5,
                 instance_loss_weight: float = 1.0, ignore_index: int = 255,
                 combine_score_thresh: float = 0.5,
                 combine_overlap_thresh: float = 0.5, combine_stuff_area_thresh: int = 4096,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, num_classes=num_classes, **kwargs)
        if len(thing_categories) != num_classes:
            raise ValueError("thing_categories needs one entry per detection label "
                             f"({num_classes}), got {len(thing_categories)}")
        if len(stuff_categories) != num_semantic_classes:
            raise ValueError("stuff_categories needs one entry per semantic label "
                             f"({num_semantic_classes}), got {len(stuff_categories)}")
        self.semantic_head = SemanticFPNHead(in_channels=backbone.out_channels,
                                             num_classes=num_semantic_classes,
                                             feature_strides=FPN_STRIDES,
                                             conv_dims=semantic_conv_dims,
                                             num_groups=semantic_num_groups)
        self.thing_categories = tuple(thing_categories)
        self.stuff_categories = tuple(stuff_categories)
        self.semantic_loss_weight = semantic_loss_weight
        self.instance_loss_weight = instance_loss_weight
        self.ignore_index = ignore_index
        self.combine = {"score_thresh": combine_score_thresh,
                        "overlap_thresh": combine_overlap_thresh,
                        "stuff_area_thresh": combine_stuff_area_thresh}

    def _semantic_batch(self, targets: list[dict[str, torch.Tensor]],
                        image_sizes: list[tuple[int, int]],
                        batch_shape: tuple[int, int]) -> torch.Tensor:
        """The targets' ``semantic`` maps, resized (nearest) as their images were and padded with
        ``ignore_index`` into one ``(B, H, W)`` batch like the images."""
        out = torch.full((len(targets), *batch_shape), self.ignore_index, dtype=torch.int64,
                         device=targets[0]["semantic"].device)
        for i, (target, (h, w)) in enumerate(zip(targets, image_sizes, strict=True)):
            semantic = target["semantic"]
            if semantic.shape[-2:] != (h, w):
                semantic = F.interpolate(semantic[None, None].float(), size=(h, w),
                                         mode="nearest")[0, 0]
            out[i, :h, :w] = semantic.long()
        return out

    def network_outputs(self, images: list[torch.Tensor]) -> dict:
        """The shared trunk of training and evaluation for a list of images ``(3, H_i, W_i)``:
        ``{"image_list"}`` (normalised, resized and padded: an :class:`ImageList` with the
        resized ``image_sizes``), ``"original_sizes"``, ``"features"`` (the pyramid) and
        ``"semantic_logits"`` ``(B, K, H, W)`` at the padded batch's size (the input of
        :meth:`loss`)."""
        check_image_list(images)
        original_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        # 1. normalise, resize, pad into one batch (training draws each image's scale)
        image_list, _ = self.transform(images, None)
        # 2. one feature pyramid for both branches
        features = self.backbone(image_list.tensors)
        # 3. the semantic branch: logits at the padded batch's size
        semantic_logits = self.semantic_head.upsample(self.semantic_head(features))
        return {"image_list": image_list, "original_sizes": original_sizes, "features": features,
                "semantic_logits": semantic_logits}

    def _resized_targets(self, targets: list[dict[str, torch.Tensor]],
                         outputs: dict) -> list[dict[str, torch.Tensor]]:
        """The targets' boxes and masks resized as their images were (as
        :meth:`GeneralizedRCNNTransform.resize`: boxes scaled, masks nearest)."""
        return [resize_target(target, original, size)
                for target, original, size in zip(targets, outputs["original_sizes"],
                                                  outputs["image_list"].image_sizes, strict=True)]

    def loss(self, outputs: dict, targets: list[dict[str, torch.Tensor]]
             ) -> dict[str, torch.Tensor]:
        """``L = lambda_i (RPN + box + mask losses) + lambda_s L_s`` as a dict of the weighted
        terms (their sum is the loss), from :meth:`network_outputs` of a batch in training mode
        and one :meth:`targets` dict per image (``boxes``, ``labels``, ``masks``, ``semantic``
        at the image's size)."""
        if not isinstance(targets, (list, tuple)) \
                or len(targets) != len(outputs["original_sizes"]):
            raise ValueError(f"need one target dict per image: {len(outputs['original_sizes'])} "
                             f"images, got {type(targets).__name__} of "
                             f"{len(targets) if isinstance(targets, (list, tuple)) else '?'}")
        for i, (target, (h, w)) in enumerate(zip(targets, outputs["original_sizes"],
                                                 strict=True)):
            if "semantic" not in target or target["semantic"].shape != (h, w):
                raise ValueError(f"targets[{i}] needs 'semantic', an ({h}, {w}) label map "
                                 "(0 other, 1.. stuff)")
        image_list, features = outputs["image_list"], outputs["features"]
        semantic_logits = outputs["semantic_logits"]
        resized = self._resized_targets(targets, outputs)
        # 4. the instance branch: proposals, then boxes and masks, matched to the targets
        proposals, proposal_losses = self.rpn(image_list, features, resized)
        _, detector_losses = self.roi_heads(features, proposals, image_list.image_sizes, resized)
        # 5. L = lambda_i (RPN + box + mask losses) + lambda_s L_s
        semantic_target = self._semantic_batch(resized, image_list.image_sizes,
                                               semantic_logits.shape[-2:])
        loss_semantic = F.cross_entropy(semantic_logits, semantic_target,
                                        ignore_index=self.ignore_index)
        losses = {k: self.instance_loss_weight * v
                  for k, v in {**detector_losses, **proposal_losses}.items()}
        losses["loss_semantic"] = self.semantic_loss_weight * loss_semantic
        return losses

    def forward(self, images: list[torch.Tensor],
                targets: list[dict[str, torch.Tensor]] | None = None):
        """Training: the dict of :meth:`loss`; evaluation: one dict per image, Mask R-CNN's
        detections plus ``sem_seg`` ``(K, H_i, W_i)`` logits and ``panoptic`` ``(H_i, W_i, 2)``
        (the merge of :mod:`.combine`)."""
        check_image_list(images)
        if self.training:
            targets = self._check_targets(images, targets)
            for i, (image, target) in enumerate(zip(images, targets, strict=True)):
                if "semantic" not in target or target["semantic"].shape != image.shape[-2:]:
                    raise ValueError(f"targets[{i}] needs 'semantic', an ({image.shape[-2]}, "
                                     f"{image.shape[-1]}) label map (0 other, 1.. stuff)")
            return self.loss(self.network_outputs(images), targets)
        outputs = self.network_outputs(images)
        image_list, original_sizes = outputs["image_list"], outputs["original_sizes"]
        semantic_logits = outputs["semantic_logits"]
        # 4. the instance branch: proposals, then boxes and masks
        proposals, _ = self.rpn(image_list, outputs["features"], None)
        detections, _ = self.roi_heads(outputs["features"], proposals, image_list.image_sizes,
                                       None)
        # 5. both outputs back to the input images' sizes, then merged
        detections = self.transform.postprocess(detections, image_list.image_sizes, original_sizes)
        for i, (result, (h, w), original) in enumerate(zip(detections, image_list.image_sizes,
                                                           original_sizes, strict=True)):
            logits = semantic_logits[i:i + 1, :, :h, :w]  # drop the padding
            if (h, w) != original:
                logits = F.interpolate(logits, size=original, mode="bilinear", align_corners=False)
            result["sem_seg"] = logits[0]
            result["panoptic"] = self._merge(result)
        return detections

    def _merge(self, result: dict[str, torch.Tensor], **thresholds) -> torch.Tensor:
        """The panoptic map of one image's evaluation output (:meth:`combine_panoptic`, the
        model's categories; ``thresholds`` override the constructor's)."""
        return self.combine_panoptic(
            result["sem_seg"].argmax(dim=0), result["masks"][:, 0] > 0.5, result["scores"],
            result["labels"], thing_categories=self.thing_categories,
            stuff_categories=self.stuff_categories, **{**self.combine, **thresholds})

    def targets(self, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The training target of one image from its panoptic ground truth ``(H, W, 2)`` int64
        ``(category_id, instance_id)``: the things (categories of ``thing_categories``, in
        instance order) as Mask R-CNN's ``boxes`` ``(M, 4)`` float xyxy pixel edges, ``labels``
        ``(M,)`` int64 detection labels and ``masks`` ``(M, H, W)`` uint8, and ``semantic``
        ``(H, W)`` int64 for the semantic branch: the index of the pixel's category in
        ``stuff_categories``, 0 ("other") on things, ``ignore_index`` on void."""
        category, instance, pairs, masks = self.panoptic_segments(target, self._thing_pixels)
        things = torch.tensor(self.thing_categories[1:], device=category.device)
        semantic = torch.full_like(category, self.ignore_index)
        semantic[torch.isin(category, things)] = 0
        for k, stuff in enumerate(self.stuff_categories[1:], start=1):
            semantic[category == stuff] = k
        labels = torch.tensor([self.thing_categories.index(int(c)) for c in pairs[:, 1]],
                              dtype=torch.int64, device=target.device)
        boxes = masks_to_boxes(masks, pixel_edges=True)
        return {"boxes": boxes, "labels": labels, "masks": masks.to(torch.uint8),
                "semantic": semantic}

    def _thing_pixels(self, category: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        """``(H, W)`` bool: the pixels of a thing category that carry an instance id."""
        things = torch.tensor(self.thing_categories[1:], device=category.device)
        return torch.isin(category, things) & (instance > 0)

    def postprocess(self, outputs: list[dict[str, torch.Tensor]], *, task: str,
                    mask_threshold: float = 0.5, **thresholds) -> list:
        """The universal family's readout (:mod:`segedu.models.universal.base`) of ``forward``'s
        evaluation output (one dict per image), as lists (the images may differ in size):

        - ``"panoptic"``: the ``(H, W, 2)`` maps; ``thresholds`` (``score_thresh``,
          ``overlap_thresh``, ``stuff_area_thresh``) given, the merge is redone with them;
        - ``"semantic"``: ``(H, W)`` int64 category ids, the panoptic map's category channel
          (the semantic branch alone knows no thing classes; void pixels are ``-1``);
        - ``"instance"``: the detections with ``labels`` as categories
          (``thing_categories[label]``), ``masks`` ``(N, H, W)`` bool (probability
          ``> mask_threshold``), ``scores`` and ``boxes``.
        """
        self.check_task(task)
        if not isinstance(outputs, (list, tuple)) or not all(
                isinstance(o, dict) and {"panoptic", "masks", "labels"} <= set(o)
                for o in outputs):
            raise ValueError("outputs must be Panoptic FPN's evaluation output: one dict per "
                             "image with 'masks', 'labels', 'sem_seg' and 'panoptic'")
        if task == "instance":
            categories = torch.tensor(self.thing_categories)
            return [{"masks": o["masks"][:, 0] > mask_threshold, "scores": o["scores"],
                     "labels": categories.to(o["labels"].device)[o["labels"]],
                     "boxes": o["boxes"]} for o in outputs]
        maps = [self._merge(o, **thresholds) if thresholds else o["panoptic"] for o in outputs]
        return maps if task == "panoptic" else [m[..., 0] for m in maps]


@register_model("panoptic_fpn")
def panoptic_fpn(*, backbone: str = "resnet18", backbone_width: int = 16, fpn_channels: int = 64,
                 representation_size: int = 256, mask_channels: int = 64,
                 semantic_conv_dims: int = 32,
                 semantic_num_groups: int = 8, combine_stuff_area_thresh: int = 64,
                 anchor_sizes: tuple[tuple[float, ...], ...] = ((8,), (16,), (32,), (64,), (128,)),
                 min_size: int = 128, max_size: int = 128, **kwargs) -> PanopticFPN:
    """A slim Panoptic FPN for segedu's 128 x 128 synthetic scenes: the zoo's slim Mask R-CNN
    (``maskrcnn_resnet_fpn``, whose weights it can start from) plus a 32-wide semantic branch for
    sky, grass, water and "other". The stuff area limit is 64 pixels (detectron2's 4096 is for
    800-pixel COCO images: a 128 px scene has 1/39 of their area). 2,043,707 parameters, 101,956 of
    them in the semantic branch."""
    body = resnet_by_name(backbone, include_top=False, width=backbone_width)
    pyramid = BackboneWithFPN(body=body, returned_stages=(1, 2, 3, 4), out_channels=fpn_channels,
                              extra_blocks=LastLevelMaxPool())
    return PanopticFPN(backbone=pyramid, num_classes=len(SCENE_THING_CATEGORIES),
                       num_semantic_classes=len(SCENE_STUFF_CATEGORIES),
                       thing_categories=SCENE_THING_CATEGORIES,
                       stuff_categories=SCENE_STUFF_CATEGORIES,
                       semantic_conv_dims=semantic_conv_dims,
                       semantic_num_groups=semantic_num_groups,
                       combine_stuff_area_thresh=combine_stuff_area_thresh,
                       mask_channels=mask_channels, representation_size=representation_size,
                       anchor_sizes=anchor_sizes, min_size=min_size, max_size=max_size, **kwargs)

