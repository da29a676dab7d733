r"""The YOLO output volume: one grid, every cell predicting boxes and a class (Redmon et al.
2016, 2017).

YOLO reads detection as a single regression. The image is divided into an ``S x S`` grid; each
cell predicts ``B`` boxes, each with 5 numbers (where, how big, how sure) and, once per cell, a
distribution over ``C`` classes. The network's output is therefore a volume
``(N, S, S, B * 5 + C)``; the course's example (S = 19, B = 5 anchors, C = 20 VOC classes, a
608x608 image at stride 32) is ``19 x 19 x 45``.

**Layout** (fixed): in the vector of cell ``(row, col)``, channels ``5b .. 5b + 4`` are box ``b``'s
raw ``(t_x, t_y, t_w, t_h, t_o)`` and channels ``5B .. 5B + C - 1`` are the class logits.

**Decoding**, as fractions of the image (YOLOv2's parametrisation with anchors; YOLO v1's without):

.. math:: c_x = \frac{col + \sigma(t_x)}{S}, \quad c_y = \frac{row + \sigma(t_y)}{S}, \qquad
          w = a_w e^{t_w},\ h = a_h e^{t_h} \ \text{(anchors)} \quad\text{or}\quad
          w = \sigma(t_w),\ h = \sigma(t_h) \ \text{(v1)},

confidence :math:`\sigma(t_o)` (is there an object, and how well does this box fit it), class
probabilities :math:`p = \operatorname{softmax}(\text{logits})`; the class-specific score of box
``b`` for class ``c`` is :math:`\sigma(t_o)\, p_c`. The sigmoid keeps each centre inside its cell,
which is what makes the cell *responsible* for the objects whose centre falls in it.

**Targets and loss** (YOLO v1's sum-squared error, per image, summed over the grid): the cell that
contains an object's centre is responsible for it, and within the cell the one predictor whose
anchor shape fits the object best (with anchors) or whose current box overlaps it most (v1)::

    lambda_coord * sum_resp [(x - x^)^2 + (y - y^)^2]                      centre, within the cell
  + lambda_coord * sum_resp [(sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]    size (v1)
  + sum_resp (C - C^)^2  +  lambda_noobj * sum_not_resp C^2                  confidence
  + sum_cells_with_object sum_c (p_c - p^_c)^2                               class

with ``lambda_coord = 5`` and ``lambda_noobj = 0.5`` (most predictors see no object; without the
small weight their "no object" would drown the rest). The square roots make an error of a few
pixels count more on a small box than on a large one. The confidence target ``C`` is the IoU of
the predicted and the true box (the paper's definition) or 1.

**With anchors** (YOLOv2) the size term compares the raw :math:`t_w, t_h` with
:math:`\log(w / a_w), \log(h / a_h)` instead: the logarithm already makes it scale-free, so no
square roots. (YOLOv2 also predicts classes per box and replaces the class term by a cross-entropy;
the layout here keeps v1's one distribution per cell. :func:`yolo_output_channels` counts the
channels of both layouts: ``5 * 5 + 20 = 45`` here, ``5 * (5 + 20) = 125`` in YOLOv2.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...data.statistics import IMAGENET_MEAN, IMAGENET_STD
from ...nn.resnet import resnet_by_name
from ...ops import batched_nms, box_iou
from ..registry import register_model
from .base import TopDownModel

__all__ = [
    "YOLOV2_VOC_ANCHORS",
    "yolo_output_channels",
    "decode_yolo_grid",
    "YoloGridHead",
    "YoloGrid",
    "yolo_grid",
]

# YOLOv2's five VOC anchors (yolo-voc.cfg), widths and heights in cells of a 13x13 grid, here as
# fractions of the image.
YOLOV2_VOC_ANCHORS = tuple((w / 13, h / 13) for w, h in (
    (1.3221, 1.73145), (3.19275, 4.00944), (5.05587, 8.09892), (9.47112, 4.84053),
    (11.2364, 10.0071)))


def yolo_output_channels(num_anchors: int, num_classes: int, *,
                         shared_classes: bool = False) -> int:
    """Channels per grid cell of a YOLO output volume: the depth of the 1x1 head's output.

    Each of the ``num_anchors`` boxes of a cell predicts 5 numbers ``(t_x, t_y, t_w, t_h, t_o)``.
    The class scores are either

    * per box (``shared_classes=False``, the default): ``B * (5 + C)``. This is YOLOv2's layout
      (Redmon and Farhadi, "YOLO9000: Better, Faster, Stronger", CVPR 2017: "for VOC we predict 5
      boxes with 5 coordinates each and 20 classes per box so 125 filters") and YOLOv3's
      (``3 * (4 + 1 + 80) = 255`` per scale on COCO);
    * one distribution per cell (``shared_classes=True``): ``B * 5 + C``. This is YOLO v1's layout
      (Redmon et al., "You Only Look Once", CVPR 2016: ``S x S x (B * 5 + C)``, 7 x 7 x 30 for
      ``B = 2``, ``C = 20``) and the one :class:`YoloGridHead` uses; with YOLOv2's 5 anchors and the
      20 VOC classes it gives the course's 45 channels.

    Args:
        num_anchors: boxes per cell ``B`` (anchors in YOLOv2), a positive int.
        num_classes: number of classes ``C`` (YOLO has no background class), a positive int.
        shared_classes: keyword-only; ``True`` for one class distribution per cell (v1).

    Returns:
        The number of output channels, an int.
    """
    for name, value in (("num_anchors", num_anchors), ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(shared_classes, bool):
        raise TypeError(f"shared_classes must be a bool, got {shared_classes!r}")
    if shared_classes:
        return num_anchors * 5 + num_classes
    return num_anchors * (5 + num_classes)


# -- checks ----------------------------------------------------------------------------------------
def _image_hw(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if len(image_size) != 2 or any(not isinstance(s, int) or s <= 0 for s in image_size):
        raise ValueError("image_size must be a positive int or (height, width), got "
                         f"{image_size!r}")
    return int(image_size[0]), int(image_size[1])


def _anchor_tensor(anchors, num_boxes: int | None, like: torch.Tensor) -> torch.Tensor | None:
    if anchors is None:
        return None
    anchors = torch.as_tensor(anchors, dtype=like.dtype, device=like.device)
    if anchors.ndim != 2 or anchors.shape[1] != 2 or (anchors <= 0).any():
        raise ValueError("anchors must be a (B, 2) tensor of positive (width, height) fractions, "
                         f"got {anchors.tolist()}")
    if num_boxes is not None and len(anchors) != num_boxes:
        raise ValueError(f"got {len(anchors)} anchors for num_boxes={num_boxes}")
    return anchors


def _split_channels(output: torch.Tensor, num_boxes: int | None, anchors) -> tuple[int, int]:
    """``(B, C)`` of a ``(N, S, S, B * 5 + C)`` output."""
    if (not isinstance(output, torch.Tensor) or output.ndim != 4
        or output.shape[1] != output.shape[2]):
        got = (tuple(output.shape) if isinstance(output, torch.Tensor)
               else type(output).__name__)
        raise ValueError(f"output must be an (N, S, S, B * 5 + C) tensor, got {got}")
    if not output.is_floating_point():
        raise TypeError(f"output must be a float tensor, got {output.dtype}")
    b = len(anchors) if anchors is not None else num_boxes
    if b is None:
        raise ValueError("without anchors, pass num_boxes: B cannot be read from B * 5 + C "
                         "channels")
    c = output.shape[-1] - 5 * b
    if c < 1:
        raise ValueError(f"output has {output.shape[-1]} channels: too few for {b} boxes (5 each) "
                         "and a class")
    return b, c


# -- decoding --------------------------------------------------------------------------------------
def decode_yolo_grid(
        output: torch.Tensor, *, image_size: int | Sequence[int], anchors=None,
        num_boxes: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boxes, confidences and class probabilities of every predictor of the grid.

    Args:
        output: ``(N, S, S, B * 5 + C)`` raw network output (layout in the module docstring).
        image_size: the image's ``(height, width)`` in pixels (or one int for a square image).
        anchors: ``(B, 2)`` anchor widths and heights as fractions of the image (YOLOv2), or
            ``None`` for YOLO v1's ``w = sigmoid(t_w)``; then ``num_boxes`` gives ``B``.

    Returns:
        ``boxes (N, S * S * B, 4)`` ``xyxy`` pixels, ``confidence (N, S * S * B)`` and
        ``class_probs (N, S * S * B, C)`` (each box gets its cell's distribution), ordered
        row-major over ``(row, col, b)``.
    """
    height, width = _image_hw(image_size)
    anchors = _anchor_tensor(anchors, num_boxes, output)
    b, c = _split_channels(output, num_boxes, anchors)
    n, s = output.shape[:2]
    raw = output[..., : 5 * b].reshape(n, s, s, b, 5)  # (N, S, S, B, 5)
    # 1. centres: the cell's corner plus a sigmoid offset inside it, as fractions of the image
    grid = torch.arange(s, dtype=output.dtype, device=output.device)
    cx = (grid.view(1, 1, s, 1) + torch.sigmoid(raw[..., 0])) / s  # (N, S, S, B), col along dim 2
    cy = (grid.view(1, s, 1, 1) + torch.sigmoid(raw[..., 1])) / s  # row along dim 1
    # 2. sizes: anchor x exp (YOLOv2) or a sigmoid (v1)
    if anchors is not None:
        w, h = anchors[:, 0] * torch.exp(raw[..., 2]), anchors[:, 1] * torch.exp(raw[..., 3])
    else:
        w, h = torch.sigmoid(raw[..., 2]), torch.sigmoid(raw[..., 3])
    # 3. corners in pixels
    boxes = torch.stack([(cx - w / 2) * width, (cy - h / 2) * height,
                         (cx + w / 2) * width, (cy + h / 2) * height], dim=-1)  # (N, S, S, B, 4)
    # 4. confidence per box, class distribution per cell (shared by its B boxes)
    confidence = torch.sigmoid(raw[..., 4])  # (N, S, S, B)
    class_probs = output[..., 5 * b:].softmax(dim=-1)  # (N, S, S, C)
    class_probs = class_probs[:, :, :, None, :].expand(n, s, s, b, c)
    return boxes.reshape(n, -1, 4), confidence.reshape(n, -1), class_probs.reshape(n, -1, c)


def _paired_iou(x, y, w, h, goal, s):
    """IoU of each predicted box with its target box (both as cell offsets and fractions)."""
    # predicted and target boxes in grid units relative to the same cell corner
    p = torch.stack([x - w * s / 2, y - h * s / 2, x + w * s / 2, y + h * s / 2], -1)
    g = torch.stack([goal[..., 0] - goal[..., 2] * s / 2, goal[..., 1] - goal[..., 3] * s / 2,
                     goal[..., 0] + goal[..., 2] * s / 2, goal[..., 1] + goal[..., 3] * s / 2], -1)
    wh = (torch.minimum(p[..., 2:], g[..., 2:])
          - torch.maximum(p[..., :2], g[..., :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = ((p[..., 2] - p[..., 0]) * (p[..., 3] - p[..., 1])
             + (g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1]) - inter)
    return inter / union.clamp(min=1e-12)


# -- modules ---------------------------------------------------------------------------------------
class YoloGridHead(nn.Module):
    """Feature map -> the YOLO output volume.

    A 3x3 convolution with batch norm and leaky ReLU (YOLOv2's), then a 1x1 convolution to
    ``B * 5 + C`` channels, moved last.

    Args (keyword-only): in_channels, grid_size ``S``, num_boxes ``B``, num_classes ``C``,
    hidden_channels (default ``in_channels``).

    ``forward(x)``: ``(N, in_channels, S, S)`` -> ``(N, S, S, B * 5 + C)``; the feature map must
    already be ``S x S`` (e.g. a 608x608 image at stride 32 for ``S = 19``).
    """

    def __init__(self, *, in_channels: int, grid_size: int, num_boxes: int, num_classes: int,
                 hidden_channels: int | None = None) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("grid_size", grid_size),
                            ("num_boxes", num_boxes),
                            ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        hidden = hidden_channels or in_channels
        self.grid_size, self.num_boxes, self.num_classes = grid_size, num_boxes, num_classes
        self.conv = nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(hidden),
                                  nn.LeakyReLU(0.1, inplace=True))
        self.out = nn.Conv2d(hidden,
                             yolo_output_channels(num_boxes, num_classes, shared_classes=True), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[-2:]) != (self.grid_size, self.grid_size):
            raise ValueError(f"YoloGridHead(grid_size={self.grid_size}) needs an (N, C, "
                             f"{self.grid_size}, {self.grid_size}) feature map, got "
                             f"{tuple(x.shape)}; at stride 32 that is a "
                             f"{32 * self.grid_size}x{32 * self.grid_size} image")
        x = self.out(self.conv(x))  # (N, B * 5 + C, S, S)
        return x.permute(0, 2, 3, 1)  # (N, S, S, B * 5 + C)


class YoloGrid(TopDownModel):
    """A ResNet (stride 32) and :class:`YoloGridHead`: ``(N, 3, 32 S, 32 S)`` in ``[0, 1]`` ->
    ``(N, S, S, B * 5 + C)`` raw output (decode with :func:`decode_yolo_grid`
    and ``model.anchors``). A :class:`~segedu.models.top_down.base.TopDownModel`:
    :meth:`targets` encodes ground-truth boxes into the output's layout, :meth:`loss` is YOLO's
    sum-squared error and :meth:`postprocess` gives the detections (decoding, score threshold,
    per-class NMS).

    Args (keyword-only): num_classes ``C``, grid_size ``S``, num_boxes ``B``, anchors (``(B, 2)``
    fractions, or ``None`` for v1), backbone, backbone_width.
    """

    def __init__(self, *, num_classes: int = 20, grid_size: int = 19, num_boxes: int = 5,
                 anchors: Sequence[Sequence[float]] | None = YOLOV2_VOC_ANCHORS,
                 backbone: str = "resnet18",
                 backbone_width: int = 16) -> None:
        super().__init__()
        self.backbone = resnet_by_name(backbone, include_top=False, width=backbone_width)
        if hasattr(self.backbone, "fc"):
            del self.backbone.fc, self.backbone.avgpool
        self.head = YoloGridHead(in_channels=self.backbone.stage_channels[-1], grid_size=grid_size,
                                 num_boxes=num_boxes, num_classes=num_classes)
        if anchors is not None:
            anchors = _anchor_tensor(anchors, num_boxes, torch.zeros(()))
        self.register_buffer("anchors", anchors, persistent=False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError("images must be an (N, 3, H, W) tensor")
        x = (images - self.mean) / self.std  # ImageNet normalisation
        features = self.backbone.forward_stages(x)[-1]  # (N, C5, H/32, W/32)
        return self.head(features)  # (N, S, S, B * 5 + C)

    def _image_size(self, image_size) -> tuple[int, int]:
        """``image_size`` or, when ``None``, the ``32 S x 32 S`` image that the network takes."""
        if image_size is None:
            return (32 * self.head.grid_size,) * 2
        return _image_hw(image_size)

    # -- the family's methods (segedu.models.top_down.base) ------------------------------------
    def targets(self, targets: list[dict[str, torch.Tensor]], *,
                image_size: int | Sequence[int] | None = None,
                predicted_boxes: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """A batch's training targets in the output's layout, and which predictors are
        responsible for an object (module docstring).

        Args:
            targets: one dict per image with ``boxes (M, 4)`` ``xyxy`` pixels and
                ``labels (M,)`` in ``0 .. C - 1`` (YOLO has no background class; other keys are
                ignored).
            image_size: keyword-only, the images' ``(height, width)`` pixels or one int;
                ``None`` for the ``32 S x 32 S`` images the network takes.
            predicted_boxes: keyword-only; without anchors (v1) and with ``B > 1``, the current
                ``(N, S * S * B, 4)`` decoded pixel boxes (:func:`decode_yolo_grid`): the
                cell's predictor that overlaps the box most is responsible.

        Returns:
            ``{"target": (N, S, S, B * 5 + C), "responsible": (N, S, S, B) bool}``. For a
            responsible predictor ``b``, channels ``5b .. 5b + 4`` hold ``(x, y, w, h, 1)``
            with ``x, y`` the centre's offset inside its cell (``[0, 1)``) and ``w, h``
            fractions of the image; the class channels of a cell with an object hold its
            one-hot class. With anchors, the predictor whose anchor shape has the best IoU
            with the box (both centred on the same point) is responsible. Two objects for the
            same predictor: the later one wins (the grid's limit: one object per predictor).
        """
        if not isinstance(targets, (list, tuple)) or not targets:
            raise TypeError("targets must be a non-empty list of dicts with boxes and labels")
        if predicted_boxes is not None and len(predicted_boxes) != len(targets):
            raise ValueError(f"predicted_boxes has {len(predicted_boxes)} images, targets "
                             f"{len(targets)}")
        encoded = [self._encode_one(t, self._image_size(image_size),
                                    None if predicted_boxes is None else predicted_boxes[i], i)
                   for i, t in enumerate(targets)]
        return {"target": torch.stack([e[0] for e in encoded]),
                "responsible": torch.stack([e[1] for e in encoded])}

    def _encode_one(self, target: dict[str, torch.Tensor], image_size: tuple[int, int],
                    predicted_boxes: torch.Tensor | None,
                    index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One image's ``(S, S, B * 5 + C)`` target and ``(S, S, B)`` responsible predictors."""
        height, width = image_size
        s, b, c = self.head.grid_size, self.head.num_boxes, self.head.num_classes
        if not isinstance(target, dict) or {"boxes", "labels"} - set(target):
            raise ValueError(f"targets[{index}] must be a dict with boxes and labels")
        boxes, labels = target["boxes"], target["labels"]
        if boxes.ndim != 2 or boxes.shape[1] != 4 or labels.shape != (len(boxes),):
            raise ValueError(f"targets[{index}]: need boxes (M, 4) and labels (M,), got "
                             f"{tuple(boxes.shape)} and {tuple(labels.shape)}")
        if len(labels) and (labels.min() < 0 or labels.max() >= c):
            raise ValueError(f"targets[{index}]['labels'] must be in 0 .. {c - 1}, got "
                             f"{labels.tolist()}")
        if len(boxes) and ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any():
            raise ValueError(f"targets[{index}]: every box needs a positive width and height, "
                             f"got {boxes.tolist()}")
        anchors = None if self.anchors is None else self.anchors.to(boxes.device, torch.float32)
        if anchors is None and b > 1 and predicted_boxes is None:
            raise ValueError("without anchors and with num_boxes > 1, pass predicted_boxes: v1 "
                             "makes the predictor with the best IoU responsible")
        target = boxes.new_zeros((s, s, 5 * b + c), dtype=torch.float32)
        responsible = torch.zeros((s, s, b), dtype=torch.bool, device=boxes.device)
        for box, label in zip(boxes.float(), labels.tolist(), strict=True):
            # 1. centre and size as fractions of the image; the cell that holds the centre
            cx, cy = (box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height
            w, h = (box[2] - box[0]) / width, (box[3] - box[1]) / height
            col, row = min(int(cx * s), s - 1), min(int(cy * s), s - 1)
            # 2. the responsible predictor of that cell
            if anchors is not None:  # best shape: IoU of boxes centred on the same point
                inter = torch.minimum(anchors[:, 0], w) * torch.minimum(anchors[:, 1], h)
                best = int((inter / (anchors[:, 0] * anchors[:, 1] + w * h - inter)).argmax())
            elif b == 1:
                best = 0
            else:  # best current prediction of the cell
                cell = predicted_boxes.reshape(s, s, b, 4)[row, col]  # (B, 4)
                best = int(box_iou(box[None], cell.float())[0].argmax())
            # 3. write the target
            target[row, col, 5 * best: 5 * best + 5] = torch.stack(
                [cx * s - col, cy * s - row, w, h, torch.ones_like(w)])
            responsible[row, col, best] = True
            target[row, col, 5 * b:] = F.one_hot(torch.tensor(label, device=boxes.device),
                                                 c).float()
        return target, responsible

    def loss(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor], *,
             lambda_coord: float = 5.0, lambda_noobj: float = 0.5,
             confidence_target: str = "iou") -> dict[str, torch.Tensor]:
        """YOLO's sum-squared loss (module docstring), summed over the grid, averaged over the
        images, in three named terms whose sum is the paper's loss.

        Args:
            outputs: ``(N, S, S, B * 5 + C)`` raw (``forward``'s).
            targets: :meth:`targets`' dict: ``target`` of ``outputs``' shape and
                ``responsible (N, S, S, B)``.
            lambda_coord, lambda_noobj: keyword-only, the paper's weights 5 and 0.5.
            confidence_target: keyword-only, ``"iou"`` (the paper: the IoU of predicted and
                true box, no gradient through it) or ``"one"``.

        Returns:
            ``{"loss_box": lambda_coord * (centre + size), "loss_confidence": responsible and
            (lambda_noobj times) not responsible, "loss_classifier": the cells with an object}``,
            scalars.
        """
        target, responsible = targets.get("target"), targets.get("responsible")
        b = (responsible.shape[-1]
             if isinstance(responsible, torch.Tensor) and responsible.ndim == 4 else None)
        if (b is None or not isinstance(target, torch.Tensor)
                or responsible.shape[:3] != outputs.shape[:3] or target.shape != outputs.shape):
            raise ValueError("need outputs and target of one shape (N, S, S, B * 5 + C) and "
                             f"responsible (N, S, S, B), got {tuple(outputs.shape)}, "
                             f"{getattr(target, 'shape', None)}, "
                             f"{getattr(responsible, 'shape', None)}")
        if confidence_target not in ("iou", "one"):
            raise ValueError("confidence_target must be 'iou' or 'one', got "
                             f"{confidence_target!r}")
        anchors = _anchor_tensor(self.anchors, b, outputs)
        _split_channels(outputs, b, anchors)
        n, s = outputs.shape[:2]
        raw = outputs[..., : 5 * b].reshape(n, s, s, b, 5)
        goal = target[..., : 5 * b].reshape(n, s, s, b, 5)
        resp = responsible.to(outputs.dtype)  # (N, S, S, B)

        # 1. centre offsets within the cell
        x, y = torch.sigmoid(raw[..., 0]), torch.sigmoid(raw[..., 1])
        centre = (x - goal[..., 0]) ** 2 + (y - goal[..., 1]) ** 2
        # 2. sizes: sqrt of w, h (v1) or raw t_w, t_h against log(w / a_w) (with anchors)
        if anchors is None:
            w, h = torch.sigmoid(raw[..., 2]), torch.sigmoid(raw[..., 3])
            size = (w.sqrt() - goal[..., 2].sqrt()) ** 2 + (h.sqrt() - goal[..., 3].sqrt()) ** 2
        else:
            w, h = anchors[:, 0] * torch.exp(raw[..., 2]), anchors[:, 1] * torch.exp(raw[..., 3])
            # no log(0)
            safe_w = torch.where(responsible, goal[..., 2], anchors[:, 0].expand_as(goal[..., 2]))
            safe_h = torch.where(responsible, goal[..., 3], anchors[:, 1].expand_as(goal[..., 3]))
            size = ((raw[..., 2] - torch.log(safe_w / anchors[:, 0])) ** 2
                    + (raw[..., 3] - torch.log(safe_h / anchors[:, 1])) ** 2)
        # 3. confidence: IoU (or 1) for the responsible predictors, 0 for the others
        confidence = torch.sigmoid(raw[..., 4])
        if confidence_target == "iou":
            with torch.no_grad():
                goal_conf = _paired_iou(x, y, w, h, goal, s) * resp
        else:
            goal_conf = resp
        # 4. classes of the cells that hold an object
        has_object = responsible.any(dim=-1).to(outputs.dtype)  # (N, S, S)
        class_error = ((outputs[..., 5 * b:].softmax(dim=-1) - target[..., 5 * b:]) ** 2
                       ).sum(dim=-1)
        return {
            "loss_box": lambda_coord * (resp * (centre + size)).sum() / n,
            "loss_confidence": ((resp * (confidence - goal_conf) ** 2).sum()
                                + lambda_noobj * ((1 - resp) * confidence ** 2).sum()) / n,
            "loss_classifier": (has_object * class_error).sum() / n,
        }

    @torch.no_grad()
    def postprocess(self, outputs: torch.Tensor, *,
                    image_size: int | Sequence[int] | None = None,
                    score_threshold: float = 0.25,
                    iou_threshold: float = 0.5) -> list[dict[str, torch.Tensor]]:
        """Detections of a batch of raw outputs ``(N, S, S, B * 5 + C)``: one dict per image.

        :func:`decode_yolo_grid` with the model's anchors (``image_size``: the images'
        ``(height, width)`` pixels, ``None`` for ``32 S x 32 S``), then each box keeps its best
        class: ``score = confidence * max_c p_c``, ``label = argmax_c p_c`` (``0 .. C - 1``;
        YOLO has no background class). Boxes scoring ``>= score_threshold`` go through
        per-class NMS at ``iou_threshold``. Returns ``boxes (n, 4)``, ``scores (n,)``,
        ``labels (n,)`` int64, best first.
        """
        boxes, confidence, class_probs = decode_yolo_grid(
            outputs, image_size=self._image_size(image_size), anchors=self.anchors,
            num_boxes=self.head.num_boxes)
        best_prob, labels = class_probs.max(dim=-1)  # (N, R)
        scores = confidence * best_prob  # (N, R) class-specific confidence of the best class
        results = []
        for i in range(len(boxes)):
            keep = scores[i] >= score_threshold
            b, s, lab = boxes[i][keep], scores[i][keep], labels[i][keep]
            kept = batched_nms(b, s, lab, iou_threshold)
            results.append({"boxes": b[kept], "scores": s[kept], "labels": lab[kept]})
        return results


@register_model("yolo_grid")
def yolo_grid(**kwargs) -> YoloGrid:
    """A slim YOLO grid detector (keyword arguments of :class:`YoloGrid`): ResNet-18 of width 16,
    S = 19, B = 5 (YOLOv2's VOC anchors), C = 20; 608x608 images give ``(N, 19, 19, 45)``.
    855,613 parameters."""
    return YoloGrid(**kwargs)
