"""The two-stage detector's skeleton (Faster R-CNN, Mask R-CNN): transform, backbone, RPN,
RoI heads.

``model(images, targets=None)`` takes a list of images ``(3, H_i, W_i)`` in [0, 1] (sizes may
differ) and, in training, one target dict per image: ``boxes (G, 4)`` float ``xyxy`` in pixels,
``labels (G,)`` int64 (0 is background, so object classes start at 1) and, for Mask R-CNN,
``masks (G, H_i, W_i)`` (0/1, uint8 or bool). Training returns the dict of losses; evaluation a
list of dicts (``boxes``, ``labels``, ``scores``, ``masks``) at each input image's size. This is
torchvision's ``GeneralizedRCNN`` API, kept exactly.

The family's methods (:class:`~segedu.models.top_down.base.TopDownModel`) are its steps:
``forward`` is ``self.transform`` (normalise, resize, batch), the backbone, then
:meth:`~GeneralizedRCNN.loss` in training (the RPN and the RoI heads with the targets) or the RPN,
the RoI heads and :meth:`~GeneralizedRCNN.postprocess` in evaluation.

**Loading weights.** A checkpoint trained with frozen batch norm (one without
``num_batches_tracked`` in the backbone: torchvision's COCO checkpoints) makes the backbone's batch
norms :class:`~segedu.nn.frozen_batch_norm.FrozenBatchNorm2d` with ``eps = 0`` and freezes the stem
and ``layer1`` (torchvision's ``trainable_backbone_layers=3``), exactly as torchvision builds a
model for those weights; a checkpoint with trainable batch norm loads into trainable batch norm.
"""

from __future__ import annotations

import torch
from torch import nn

from ..base import TopDownModel, check_box_targets, check_image_list
from .checkpoint_batch_norm import MatchBatchNormOnLoad
from .rpn import RegionProposalNetwork
from .transform import GeneralizedRCNNTransform, ImageList

__all__ = ["GeneralizedRCNN"]


class GeneralizedRCNN(MatchBatchNormOnLoad, TopDownModel):
    """Transform, backbone (with FPN), region proposal network and RoI heads, in that order."""

    def __init__(self, *, transform: GeneralizedRCNNTransform, backbone: nn.Module,
                 rpn: RegionProposalNetwork,
                 roi_heads: nn.Module) -> None:
        super().__init__()
        self.transform = transform
        self.backbone = backbone
        self.rpn = rpn
        self.roi_heads = roi_heads

    # ---- input checks: every mistake gets a message that names it
    def _check_targets(self, images, targets) -> list[dict[str, torch.Tensor]]:
        """:meth:`targets` and the checks that need the images; returns :meth:`targets`'."""
        if targets is None:
            raise ValueError("targets are needed in training mode (one dict with boxes and labels "
                             "per image); call model.eval() for predictions")
        if not isinstance(targets, (list, tuple)) or len(targets) != len(images):
            got = (len(targets) if isinstance(targets, (list, tuple))
                   else type(targets).__name__)
            raise ValueError(f"need one target dict per image: {len(images)} images, got {got}")
        # the R-CNN's own check, also for subclasses of another family (Panoptic FPN's targets
        # are the universal family's)
        checked = GeneralizedRCNN.targets(self, targets)
        if self.roi_heads.has_mask:
            for i, (image, target) in enumerate(zip(images, checked, strict=True)):
                masks, count = target["masks"], len(target["boxes"])
                if masks.shape != (count, *image.shape[-2:]):
                    raise ValueError(f"targets[{i}]['masks'] must have shape ({count}, "
                                     f"{image.shape[-2]}, {image.shape[-1]}), got "
                                     f"{tuple(masks.shape)}")
        return checked

    # ---- the family's methods (segedu.models.top_down.base)
    def targets(self, targets: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        """The ground truth as the RPN and the RoI heads need it: torchvision's dicts, one per
        image, with ``boxes (G, 4)`` float ``xyxy`` pixels, ``labels (G,)`` int64 (1 .. K, 0 is
        the background) and, for Mask R-CNN, ``masks (G, H_i, W_i)``, checked and returned as
        new dicts (the tensors shared). There is nothing to encode ahead: the anchors and the
        proposals are matched to the boxes inside the forward, since the proposals depend on the
        network (:mod:`.matcher`, :mod:`.sampler`); ``self.transform`` resizes them with the
        images before :meth:`loss`.
        """
        needed = ("boxes", "labels", "masks") if self.roi_heads.has_mask else ("boxes", "labels")
        check_box_targets(targets, needed=needed)
        for i, target in enumerate(targets):
            boxes = target["boxes"]
            if "masks" in needed and (not isinstance(target["masks"], torch.Tensor)
                                      or target["masks"].ndim != 3
                                      or len(target["masks"]) != len(boxes)):
                raise ValueError(f"targets[{i}]['masks'] must be a ({len(boxes)}, H, W) tensor, "
                                 f"got {tuple(getattr(target['masks'], 'shape', ()))}")
        return [dict(target) for target in targets]

    def loss(self, outputs: dict, targets: list[dict[str, torch.Tensor]]
             ) -> dict[str, torch.Tensor]:
        """The training losses: the RPN's (``loss_objectness``, ``loss_rpn_box_reg``) and the RoI
        heads' (``loss_classifier``, ``loss_box_reg`` and, for Mask R-CNN, ``loss_mask``),
        torchvision's. Runs the RPN and the RoI heads in training mode (they sample anchors and
        proposals against the boxes).

        Args:
            outputs: ``{"images": ImageList, "features": {"0": P2, ..., "pool": P6}}``, the
                transformed batch and its feature pyramid.
            targets: :meth:`targets`' dicts after ``self.transform`` resized them with the
                images (``forward`` does both).
        """
        images, features = outputs["images"], outputs["features"]
        if not isinstance(images, ImageList):
            raise TypeError("outputs['images'] must be the transform's ImageList, got "
                            f"{type(images).__name__}")
        proposals, proposal_losses = self.rpn(images, features, targets)
        _, detector_losses = self.roi_heads(features, proposals, images.image_sizes, targets)
        return {**detector_losses, **proposal_losses}

    def postprocess(self, outputs: dict) -> list[dict[str, torch.Tensor]]:
        """Detections back at the input images' sizes: ``outputs`` is ``{"detections": the RoI
        heads' dicts at the batch's scale, "image_sizes": their resized (h, w),
        "original_sizes": the input images' (H, W)}``; the boxes are scaled back and Mask R-CNN's
        ``(n, 1, 28, 28)`` masks pasted into ``(n, 1, H, W)`` probabilities (the transform's
        ``postprocess``; the thresholds are the RoI heads')."""
        return self.transform.postprocess(outputs["detections"], outputs["image_sizes"],
                                          outputs["original_sizes"])

    def forward(self, images: list[torch.Tensor],
                targets: list[dict[str, torch.Tensor]] | None = None):
        check_image_list(images)
        if self.training:
            targets = self._check_targets(images, targets)
        else:
            targets = None  # evaluation ignores targets, as torchvision
        original_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        # 1. normalise, resize, pad into one batch
        image_list, targets = self.transform(images, targets)
        # 2. the feature pyramid {"0": P2, ..., "3": P5, "pool": P6}
        features = self.backbone(image_list.tensors)
        # 3. training: proposals and the second stage against the targets
        if self.training:
            return self.loss({"images": image_list, "features": features}, targets)
        # 3. evaluation: proposals, the second stage, back to the input images' sizes
        proposals, _ = self.rpn(image_list, features)
        detections, _ = self.roi_heads(features, proposals, image_list.image_sizes)
        return self.postprocess({"detections": detections, "image_sizes": image_list.image_sizes,
                                 "original_sizes": original_sizes})

