"""The two-stage detector's skeleton (Faster R-CNN, Mask R-CNN): transform, backbone, RPN,
RoI heads.

``model(images, targets=None)`` takes a list of images ``(3, H_i, W_i)`` in [0, 1] (sizes may
differ) and, in training, one target dict per image: ``boxes (G, 4)`` float ``xyxy`` in pixels,
``labels (G,)`` int64 (0 is background, so object classes start at 1) and, for Mask R-CNN,
``masks (G, H_i, W_i)`` (0/1, uint8 or bool). Training returns the dict of losses; evaluation a
list of dicts (``boxes``, ``labels``, ``scores``, ``masks``) at each input image's size. This is
torchvision's ``GeneralizedRCNN`` API.

**Loading weights.** A checkpoint trained with frozen batch norm (one without
``num_batches_tracked`` in the backbone: torchvision's COCO checkpoints) makes the backbone's batch
norms :class:`~segedu.nn.frozen_batch_norm.FrozenBatchNorm2d` with ``eps = 0`` and freezes the stem
and ``layer1`` (torchvision's ``trainable_backbone_layers=3``), exactly as torchvision builds a
model for those weights; a checkpoint with trainable batch norm loads into trainable batch norm.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ....nn.frozen_batch_norm import freeze_batch_norm
from .rpn import RegionProposalNetwork
from .transform import GeneralizedRCNNTransform

__all__ = ["GeneralizedRCNN"]


class GeneralizedRCNN(nn.Module):
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
    @staticmethod
    def _check_images(images) -> None:
        if isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a list of (3, H, W) tensors, got one tensor of shape "
                            f"{tuple(images.shape)}; pass list(batch) for a batch")
        if not isinstance(images, (list, tuple)) or len(images) == 0:
            raise TypeError("images must be a non-empty list of (3, H, W) tensors, got "
                            f"{type(images).__name__}")
        for i, image in enumerate(images):
            if not isinstance(image, torch.Tensor):
                raise TypeError(f"images[{i}] must be a tensor, got {type(image).__name__}")
            if image.ndim != 3 or image.shape[0] != 3:
                raise ValueError(f"images[{i}] must have shape (3, H, W), got {tuple(image.shape)}")
            if not image.is_floating_point():
                raise TypeError(f"images[{i}] must be a float tensor with values in [0, 1], got "
                                f"{image.dtype}")
            if min(image.shape[-2:]) < 1:
                raise ValueError(f"images[{i}] is empty: {tuple(image.shape)}")

    def _check_targets(self, images, targets) -> None:
        if targets is None:
            raise ValueError("targets are needed in training mode (one dict with boxes and labels "
                             "per image); call model.eval() for predictions")
        if not isinstance(targets, (list, tuple)) or len(targets) != len(images):
            got = (len(targets) if isinstance(targets, (list, tuple))
                   else type(targets).__name__)
            raise ValueError(f"need one target dict per image: {len(images)} images, got {got}")
        needed = ("boxes", "labels", "masks") if self.roi_heads.has_mask else ("boxes", "labels")
        for i, (image, target) in enumerate(zip(images, targets, strict=True)):
            missing = [k for k in needed if k not in target]
            if missing:
                raise ValueError(f"targets[{i}] lacks {missing}")
            boxes, labels = target["boxes"], target["labels"]
            if not isinstance(boxes, torch.Tensor) or boxes.ndim != 2 or boxes.shape[1] != 4:
                got = (tuple(boxes.shape) if isinstance(boxes, torch.Tensor)
                       else type(boxes).__name__)
                raise ValueError(f"targets[{i}]['boxes'] must be a (G, 4) tensor, got {got}")
            if not boxes.is_floating_point():
                raise TypeError(f"targets[{i}]['boxes'] must be floating point, got {boxes.dtype}")
            if (not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64
                or labels.shape != (len(boxes),)):
                raise ValueError(f"targets[{i}]['labels'] must be an int64 tensor of shape "
                                 f"({len(boxes)},), got "
                                 f"{getattr(labels, 'dtype', type(labels).__name__)} "
                                 f"{tuple(getattr(labels, 'shape', ()))}")
            degenerate = (boxes[:, 2:] <= boxes[:, :2]).any(dim=1)
            if degenerate.any():
                j = int(torch.where(degenerate)[0][0])
                raise ValueError(f"targets[{i}]['boxes'][{j}] = {boxes[j].tolist()} is degenerate: "
                                 "boxes need x2 > x1 and y2 > y1 (format xyxy)")
            if "masks" in needed:
                masks = target["masks"]
                if masks.shape != (len(boxes), *image.shape[-2:]):
                    raise ValueError(f"targets[{i}]['masks'] must have shape ({len(boxes)}, "
                                     f"{image.shape[-2]}, {image.shape[-1]}), got "
                                     f"{tuple(masks.shape)}")

    def forward(self, images: list[torch.Tensor],
                targets: list[dict[str, torch.Tensor]] | None = None):
        self._check_images(images)
        if self.training:
            self._check_targets(images, targets)
        else:
            targets = None  # evaluation ignores targets, as torchvision
        original_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        # 1. normalise, resize, pad into one batch
        image_list, targets = self.transform(images, targets)
        # 2. the feature pyramid {"0": P2, ..., "3": P5, "pool": P6}
        features = self.backbone(image_list.tensors)
        # 3. proposals, then the second stage
        proposals, proposal_losses = self.rpn(image_list, features, targets)
        detections, detector_losses = self.roi_heads(features, proposals, image_list.image_sizes,
                                                     targets)
        if self.training:
            return {**detector_losses, **proposal_losses}
        # 4. back to the input images' sizes
        return self.transform.postprocess(detections, image_list.image_sizes, original_sizes)

    # ---- loading: frozen batch norm for checkpoints trained with it (see the module docstring)
    def load_state_dict(self, state_dict: Mapping[str, torch.Tensor], strict: bool = True,
                        assign: bool = False):
        body = getattr(self.backbone, "body", None)
        if body is not None:
            frozen_checkpoint = any(
                isinstance(m, nn.BatchNorm2d) and f"backbone.body.{name}.running_mean" in state_dict
                and f"backbone.body.{name}.num_batches_tracked" not in state_dict
                for name, m in body.named_modules())
            if frozen_checkpoint:
                freeze_batch_norm(body, eps=0.0)
                for name, parameter in body.named_parameters():  # trainable_backbone_layers=3
                    if name.startswith(("conv1.", "layer1.")):
                        parameter.requires_grad_(False)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
