"""The top-down family's contract: find the objects' boxes first, then (for the instance
segmenters) a mask inside each box.

Every model of :mod:`segedu.models.top_down` (the YOLO grid, YOLACT, Faster R-CNN and Mask R-CNN,
RetinaNet, SSD and SOLOv2) is a :class:`TopDownModel`. Its ``forward`` is the model's own
(torchvision's detection API for YOLACT, the R-CNNs, RetinaNet, SSD and SOLOv2:
``model(images, targets)`` gives the losses in training and the detections in evaluation; the
raw ``(N, S, S, B * 5 + C)`` volume for the YOLO grid), and it has three instance methods with
one signature for the whole family:

- ``targets(targets)``: a batch's ground truth, one dict per image with ``boxes (M, 4)`` float
  ``xyxy`` pixels, ``labels (M,)`` int64 and, for the instance segmenters, ``masks (M, H, W)``
  0/1, checked and encoded into what :meth:`loss` needs (the model's own format: YOLO's
  ``(N, S, S, B * 5 + C)`` target volume, YOLACT's masks padded to the batch, the R-CNNs' checked
  dicts, since they match proposals to boxes inside the forward). Models that need more than the
  dicts take keyword-only options (YOLO's ``image_size``);
- ``loss(outputs, targets)``: the dict of named scalar losses (``"loss_*"``, summed for
  training) of the network's training outputs against :meth:`targets`' result;
- ``postprocess(outputs, **options)``: the detections of a batch of network outputs, one dict
  per image as torchvision's detection models return: ``boxes (n, 4)`` float ``xyxy`` pixels,
  ``scores (n,)``, ``labels (n,)`` int64 and, for the instance segmenters, ``masks (n, 1, H, W)``
  probabilities, best first; options are the model's keyword-only thresholds.

What ``outputs`` is depends on the model and is documented on its methods: YOLO's raw volume,
YOLACT's dict of head outputs (:meth:`Yolact.head_outputs
<segedu.models.top_down.yolact.model.Yolact.head_outputs>`), the R-CNNs' transformed batch and
feature pyramid (for the loss) or their detections at the batch's scale (for ``postprocess``).

References: Redmon et al. 2016, 2017 (YOLO, YOLOv2), Ren et al. 2015 (Faster R-CNN),
He et al. 2017 (Mask R-CNN), Bolya et al. 2019 (YOLACT).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TopDownModel", "check_image_list", "check_box_targets"]


def check_image_list(images) -> None:
    """Check the images of torchvision's detection API (YOLACT and the R-CNNs take them): a
    non-empty list of float ``(3, H_i, W_i)`` tensors in ``[0, 1]``, sizes free.

    Raises ``TypeError`` for one batched tensor, another container, a non-tensor or a non-float
    image, ``ValueError`` for a wrong shape or an empty image; each message names the image.
    """
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


def check_box_targets(targets, *, needed: tuple[str, ...] = ("boxes", "labels")) -> None:
    """Check the ground truth of torchvision's detection API: a list of one dict per image with
    (at least) the keys ``needed``, ``boxes (G, 4)`` float ``xyxy`` pixels with ``x2 > x1`` and
    ``y2 > y1`` and ``labels (G,)`` int64; ``G = 0`` (an image without objects) is allowed.

    Raises ``ValueError`` (``TypeError`` for integer boxes) naming the image and the entry.
    """
    if not isinstance(targets, (list, tuple)):
        raise ValueError("targets must be a list of one dict per image, got "
                         f"{type(targets).__name__}")
    for i, target in enumerate(targets):
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


class TopDownModel(nn.Module):
    """Base class of the top-down family (see the module docstring for the contract).

    Subclasses implement ``forward``, ``targets``, ``loss`` and ``postprocess``.
    """

    def targets(self, targets: list[dict[str, torch.Tensor]]):
        """A batch's ground-truth dicts, checked and encoded into what :meth:`loss` needs."""
        raise NotImplementedError(f"{type(self).__name__} must implement targets")

    def loss(self, outputs, targets) -> dict[str, torch.Tensor]:
        """Named scalar losses of the network's ``outputs`` against :meth:`targets`' result."""
        raise NotImplementedError(f"{type(self).__name__} must implement loss")

    def postprocess(self, outputs, **options) -> list[dict[str, torch.Tensor]]:
        """One detection dict (``boxes``, ``scores``, ``labels`` [, ``masks``]) per image."""
        raise NotImplementedError(f"{type(self).__name__} must implement postprocess")
