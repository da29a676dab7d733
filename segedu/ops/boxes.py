r"""Axis-aligned boxes: formats, areas, IoU and generalised IoU.

A box is four numbers. segedu (like torchvision) works in ``xyxy``: the top-left corner
``(x1, y1)`` and the bottom-right corner ``(x2, y2)``, in pixels, with ``x`` to the right and
``y`` down. Two other formats are common:

* ``xywh``: top-left corner, width, height (COCO's ``bbox``);
* ``cxcywh``: centre, width, height (DETR, YOLO).

The overlap of two boxes :math:`A` and :math:`B` is measured by their
*intersection over union*

.. math:: \mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A \cup B|}
          = \frac{|A \cap B|}{|A| + |B| - |A \cap B|},

and the *generalised* IoU (Rezatofighi et al., 2019) subtracts the share of the smallest
enclosing box :math:`C` that neither box covers, so that it keeps decreasing as disjoint boxes
move apart (IoU is stuck at 0 there):

.. math:: \mathrm{GIoU}(A, B) = \mathrm{IoU}(A, B) - \frac{|C| - |A \cup B|}{|C|}
          \in (-1, 1].

Worked example: ``A = [0, 0, 2, 2]`` (2x2, area 4) and ``B = [1, 1, 3, 4]`` (2x3, area 6)
overlap in the unit square ``[1, 1, 2, 2]``, so IoU = 1 / (4 + 6 - 1) = 1/9.

Every function here returns what the function of the same name in ``torchvision.ops`` returns,
dtype included: integer boxes give integer areas (int8/int16/uint8 are first widened to int32,
so that products do not overflow) and float IoUs; float16/bfloat16 are widened to float32.
Boxes may carry leading batch dimensions ``(..., N, 4)``, as in torchvision.
"""

from __future__ import annotations

import torch

__all__ = [
    "BOX_FORMATS",
    "box_convert",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "clip_boxes_to_image",
    "remove_small_boxes",
]

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


def _check_boxes(name: str, boxes: torch.Tensor) -> None:
    """Raise a clear error unless ``boxes`` is a real-valued tensor of shape ``(..., 4)``."""
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(boxes).__name__}")
    if boxes.dtype == torch.bool or boxes.is_complex():
        raise TypeError(f"{name} must hold real numbers, got {boxes.dtype}")
    if boxes.ndim < 1 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (..., 4), got {tuple(boxes.shape)}")


def _widen(t: torch.Tensor) -> torch.Tensor:
    """Widen small dtypes before multiplying: float16/bfloat16 -> float32,
    int8/int16/uint8 -> int32."""
    if t.is_floating_point():
        return t if t.dtype in (torch.float32, torch.float64) else t.float()
    return t if t.dtype in (torch.int32, torch.int64) else t.int()


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    r"""Convert boxes ``(..., 4)`` between the formats ``"xyxy"``, ``"xywh"`` and ``"cxcywh"``.

    From :math:`(x_1, y_1, x_2, y_2)`: ``xywh`` is :math:`(x_1, y_1, x_2 - x_1, y_2 - y_1)` and
    ``cxcywh`` is :math:`(\tfrac{x_1 + x_2}{2}, \tfrac{y_1 + y_2}{2}, x_2 - x_1, y_2 - y_1)`.

    The conversion always goes through ``xyxy``. As in torchvision, a conversion that
    halves (to or from ``cxcywh``) turns integer boxes into float32 ones; the others keep the
    dtype; ``in_fmt == out_fmt`` returns a copy.

    >>> box_convert(torch.tensor([[0., 0., 2., 4.]]), "xyxy", "cxcywh")
    tensor([[1., 2., 2., 4.]])
    """
    _check_boxes("boxes", boxes)
    for name, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"{name} must be one of {BOX_FORMATS}, got {fmt!r}")
    if in_fmt == out_fmt:
        return boxes.clone()

    # 1. to xyxy
    if in_fmt == "xywh":
        x, y, w, h = boxes.unbind(-1)
        boxes = torch.stack([x, y, x + w, y + h], dim=-1)
    elif in_fmt == "cxcywh":
        cx, cy, w, h = boxes.unbind(-1)
        boxes = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)

    # 2. from xyxy
    x1, y1, x2, y2 = boxes.unbind(-1)
    if out_fmt == "xywh":
        return torch.stack([x1, y1, x2 - x1, y2 - y1], dim=-1)
    if out_fmt == "cxcywh":
        return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)
    return boxes


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas :math:`(x_2 - x_1)(y_2 - y_1)` of ``xyxy`` boxes ``(..., N, 4)`` -> ``(..., N)``.

    A degenerate box (``x2 <= x1``) has area 0 or a negative area: nothing is clamped,
    as in torchvision.
    """
    _check_boxes("boxes", boxes)
    boxes = _widen(boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _intersection_and_union(
    boxes1: torch.Tensor, boxes2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairwise ``(|A ∩ B|, |A ∪ B|)`` of boxes ``(..., N, 4)`` and ``(..., M, 4)``:
    two ``(..., N, M)`` tensors."""
    area1 = box_area(boxes1)  # (..., N)
    area2 = box_area(boxes2)  # (..., M)
    # the intersection is the box between the larger top-left and the smaller bottom-right corner
    top_left = torch.max(boxes1[..., :, None, :2], boxes2[..., None, :, :2])  # (..., N, M, 2)
    bottom_right = torch.min(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])  # (..., N, M, 2)
    wh = _widen(bottom_right - top_left).clamp(min=0)  # disjoint boxes: width or height 0
    inter = wh[..., 0] * wh[..., 1]
    union = area1[..., :, None] + area2[..., None, :] - inter  # inclusion-exclusion
    return inter, union


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    r"""Pairwise IoU of ``xyxy`` boxes ``(..., N, 4)`` and ``(..., M, 4)`` -> ``(..., N, M)``.

    .. math:: \mathrm{IoU}_{ij} = \frac{|A_i \cap B_j|}{|A_i| + |B_j| - |A_i \cap B_j|}

    Two zero-area boxes have 0 / 0 = NaN as their IoU, as in torchvision. Integer boxes give
    a float32 result.

    >>> box_iou(torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[1., 1., 3., 4.]]))  # 1 / 9
    tensor([[0.1111]])
    """
    _check_boxes("boxes1", boxes1)
    _check_boxes("boxes2", boxes2)
    inter, union = _intersection_and_union(boxes1, boxes2)
    return inter / union


def generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    r"""Pairwise generalised IoU of ``xyxy`` boxes ``(..., N, 4)`` and ``(..., M, 4)``:
    ``(..., N, M)``.

    .. math:: \mathrm{GIoU}_{ij} = \mathrm{IoU}_{ij} - \frac{|C_{ij}| - |A_i \cup B_j|}{|C_{ij}|}

    with :math:`C_{ij}` the smallest box enclosing :math:`A_i` and :math:`B_j`. It lies in
    ``(-1, 1]`` and equals 1 only for identical boxes. Degenerate pairs whose enclosing box has
    area 0 give NaN, as in torchvision.
    """
    _check_boxes("boxes1", boxes1)
    _check_boxes("boxes2", boxes2)
    inter, union = _intersection_and_union(boxes1, boxes2)
    iou = inter / union
    # the enclosing box spans the smaller top-left and the larger bottom-right corner
    top_left = torch.min(boxes1[..., :, None, :2], boxes2[..., None, :, :2])  # (..., N, M, 2)
    bottom_right = torch.max(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])
    wh = _widen(bottom_right - top_left).clamp(min=0)
    enclosing = wh[..., 0] * wh[..., 1]
    return iou - (enclosing - union) / enclosing


def clip_boxes_to_image(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Clamp ``xyxy`` boxes ``(..., 4)`` into an image of ``size = (height, width)``.

    ``x`` coordinates go to ``[0, width]`` and ``y`` coordinates to ``[0, height]``; the dtype is
    kept. A box wholly outside the image becomes a zero-width or zero-height box on its border.
    """
    _check_boxes("boxes", boxes)
    if len(size) != 2:
        raise ValueError(f"size must be (height, width), got {size!r}")
    height, width = size
    if height < 0 or width < 0:
        raise ValueError(f"size must be non-negative, got {size!r}")
    x = boxes[..., 0::2].clamp(min=0, max=width)  # (..., 2): x1, x2
    y = boxes[..., 1::2].clamp(min=0, max=height)  # (..., 2): y1, y2
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


def remove_small_boxes(boxes: torch.Tensor, min_size: float) -> torch.Tensor:
    """Indices (int64, increasing) of the ``xyxy`` boxes ``(N, 4)`` whose width and height are
    both ``>= min_size``; the others are dropped."""
    _check_boxes("boxes", boxes)
    width = boxes[..., 2] - boxes[..., 0]
    height = boxes[..., 3] - boxes[..., 1]
    keep = (width >= min_size) & (height >= min_size)
    return torch.where(keep)[0]
