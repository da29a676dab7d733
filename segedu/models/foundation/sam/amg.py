"""Helpers of SAM's automatic mask generation ("segment everything", Kirillov et al., ICCV 2023,
section 4 and appendix B): point grids, image crops, the stability score, boxes around masks and
run-length encoding.

- :func:`build_point_grid`: ``n x n`` prompts at the centres of an ``n x n`` tiling of ``[0, 1]^2``;
- :func:`generate_crop_boxes`: the whole image, then ``2^i x 2^i`` overlapping crops in layer ``i``
  (zoomed-in passes that find small objects);
- :func:`calculate_stability_score`: IoU between the masks thresholded at ``t + offset`` and at
  ``t - offset`` (the first lies inside the second): a mask whose border sits where the logits
  change sharply is stable;
- :func:`batched_mask_to_box`: inclusive ``xyxy`` pixel boxes (right = last column that is set),
  ``[0, 0, 0, 0]`` for an empty mask, as segment-anything (unlike
  ``torchvision.ops.masks_to_boxes``, whose boxes have the same inclusive corners but are float and
  undefined for an empty mask);
- :func:`mask_to_rle` / :func:`rle_to_mask`: uncompressed COCO run-length encoding (column-major
  runs, starting with a run of zeros), and :func:`coco_encode_rle` to pycocotools' compressed form;
- :func:`remove_small_regions`: fill small holes / drop small islands (with
  ``scipy.ndimage.label`` and 8-connectivity, where segment-anything uses OpenCV's
  ``connectedComponentsWithStats``; same result, tested).

The functions return what segment-anything's ``utils/amg.py`` functions of the same names
return (tested); they are written independently, vectorised where that stays readable.
"""

from __future__ import annotations

import math
from itertools import product
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

__all__ = [
    "build_point_grid",
    "build_all_layer_point_grids",
    "generate_crop_boxes",
    "calculate_stability_score",
    "batched_mask_to_box",
    "is_box_near_crop_edge",
    "uncrop_boxes_xyxy",
    "uncrop_points",
    "uncrop_masks",
    "box_xyxy_to_xywh",
    "mask_to_rle",
    "rle_to_mask",
    "area_from_rle",
    "coco_encode_rle",
    "remove_small_regions",
]


def build_point_grid(n_per_side: int) -> np.ndarray:
    """``(n^2, 2)`` points ``(x, y)`` in ``[0, 1]``: cell centres of an ``n x n`` grid, row
    by row."""
    offset = 1 / (2 * n_per_side)
    side = np.linspace(offset, 1 - offset, n_per_side)
    xs, ys = np.meshgrid(side, side)  # xs varies along a row
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def build_all_layer_point_grids(
    n_per_side: int, n_layers: int, scale_per_layer: int
) -> list[np.ndarray]:
    """One grid per crop layer ``0 .. n_layers``; layer ``i`` has ``int(n / scale^i)`` points
    per side."""
    return [build_point_grid(int(n_per_side / (scale_per_layer**i))) for i in range(n_layers + 1)]


def generate_crop_boxes(
    im_size: tuple[int, ...], n_layers: int, overlap_ratio: float
) -> tuple[list[list[int]], list[int]]:
    """Crop boxes ``[x0, y0, x1, y1]`` and their layer: the whole image (layer 0), then for layer
    ``i = 1 .. n_layers`` a ``2^i x 2^i`` grid of crops overlapping by
    ``overlap_ratio * short_side * 2 / 2^i`` pixels (ordered column of crops by column)."""
    im_h, im_w = im_size
    short_side = min(im_h, im_w)
    crop_boxes, layer_idxs = [[0, 0, im_w, im_h]], [0]
    for i_layer in range(1, n_layers + 1):
        n_crops = 2**i_layer
        overlap = int(overlap_ratio * short_side * (2 / n_crops))
        # crop sides such that n_crops crops with the overlap cover the image
        crop_w = int(math.ceil((overlap * (n_crops - 1) + im_w) / n_crops))
        crop_h = int(math.ceil((overlap * (n_crops - 1) + im_h) / n_crops))
        x0s = [int((crop_w - overlap) * k) for k in range(n_crops)]
        y0s = [int((crop_h - overlap) * k) for k in range(n_crops)]
        for x0, y0 in product(x0s, y0s):
            crop_boxes.append([x0, y0, min(x0 + crop_w, im_w), min(y0 + crop_h, im_h)])
            layer_idxs.append(i_layer)
    return crop_boxes, layer_idxs


def calculate_stability_score(
    masks: torch.Tensor, mask_threshold: float, threshold_offset: float
) -> torch.Tensor:
    """Stability of mask logits ``(..., H, W)`` -> ``(...)``:
    ``|logits > t + o| / |logits > t - o|`` (NaN when the looser mask is empty)."""
    inner = (masks > mask_threshold + threshold_offset).flatten(-2).sum(-1)
    outer = (masks > mask_threshold - threshold_offset).flatten(-2).sum(-1)
    return inner / outer


def batched_mask_to_box(masks: torch.Tensor) -> torch.Tensor:
    """Inclusive ``xyxy`` boxes (int64) around bool masks ``(..., H, W)`` -> ``(..., 4)``;
    ``[0, 0, 0, 0]`` for an empty mask."""
    if masks.numel() == 0:
        return torch.zeros(*masks.shape[:-2], 4, dtype=torch.long, device=masks.device)
    h, w = masks.shape[-2:]
    rows = masks.any(dim=-1)  # (..., H): the rows that the mask touches
    cols = masks.any(dim=-2)  # (..., W): the columns
    y = torch.arange(h, device=masks.device)
    x = torch.arange(w, device=masks.device)
    # first and last touched row and column
    top = torch.where(rows, y, h).amin(dim=-1)
    bottom = torch.where(rows, y, -1).amax(dim=-1)
    left = torch.where(cols, x, w).amin(dim=-1)
    right = torch.where(cols, x, -1).amax(dim=-1)
    boxes = torch.stack([left, top, right, bottom], dim=-1)
    # an empty mask gets [0, 0, 0, 0]
    empty = ~rows.any(dim=-1)
    return torch.where(empty[..., None], 0, boxes)


def uncrop_boxes_xyxy(boxes: torch.Tensor, crop_box: list[int]) -> torch.Tensor:
    """Boxes ``(..., 4)`` in a crop's frame -> the image's frame (add the crop's corner)."""
    x0, y0 = crop_box[:2]
    return boxes + torch.tensor([x0, y0, x0, y0], device=boxes.device)


def uncrop_points(points: torch.Tensor, crop_box: list[int]) -> torch.Tensor:
    """Points ``(..., 2)`` in a crop's frame -> the image's frame."""
    return points + torch.tensor(crop_box[:2], device=points.device)


def uncrop_masks(
    masks: torch.Tensor, crop_box: list[int], orig_h: int, orig_w: int
) -> torch.Tensor:
    """Masks ``(N, h, w)`` of a crop -> ``(N, orig_h, orig_w)``, zero outside the crop."""
    x0, y0, x1, y1 = crop_box
    if (x0, y0, x1, y1) == (0, 0, orig_w, orig_h):
        return masks
    return F.pad(masks, (x0, orig_w - x1, y0, orig_h - y1), value=0)


def is_box_near_crop_edge(
    boxes: torch.Tensor, crop_box: list[int], orig_box: list[int], atol: float = 20.0
) -> torch.Tensor:
    """``(N,)`` bool: a box (crop frame) lies within ``atol`` pixels of an edge of the crop that is
    not an edge of the image (the object probably continues outside the crop)."""
    crop = torch.as_tensor(crop_box, dtype=torch.float, device=boxes.device)
    orig = torch.as_tensor(orig_box, dtype=torch.float, device=boxes.device)
    boxes = uncrop_boxes_xyxy(boxes, crop_box).float()
    near_crop_edge = torch.isclose(boxes, crop[None], atol=atol, rtol=0)
    near_image_edge = torch.isclose(boxes, orig[None], atol=atol, rtol=0)
    return (near_crop_edge & ~near_image_edge).any(dim=1)


def box_xyxy_to_xywh(box_xyxy: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """``[x0, y0, x1, y1]`` -> ``[x0, y0, x1 - x0, y1 - y0]`` (a copy; the last axis)."""
    box = box_xyxy.clone() if isinstance(box_xyxy, torch.Tensor) else np.array(box_xyxy)
    box[..., 2] = box[..., 2] - box[..., 0]
    box[..., 3] = box[..., 3] - box[..., 1]
    return box


def mask_to_rle(masks: torch.Tensor) -> list[dict[str, Any]]:
    """Bool masks ``(N, H, W)`` -> uncompressed COCO RLEs ``{"size": [H, W], "counts": [...]}``:
    lengths of alternating runs of 0s and 1s in column-major order, starting with 0s (a count
    of 0 when the first pixel is set)."""
    n, h, w = masks.shape
    flat = masks.permute(0, 2, 1).flatten(1)  # column-major (Fortran) order
    # positions where the value changes from one pixel to the next
    changes = (flat[:, 1:] != flat[:, :-1]).nonzero()
    out = []
    for i in range(n):
        ends = changes[changes[:, 0] == i, 1] + 1  # a run ends after each change
        bounds = torch.cat([ends.new_zeros(1), ends, ends.new_full((1,), h * w)])
        counts = [] if not flat[i, 0] else [0]
        counts.extend((bounds[1:] - bounds[:-1]).tolist())
        out.append({"size": [h, w], "counts": counts})
    return out


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Uncompressed RLE -> bool mask ``(H, W)``."""
    h, w = rle["size"]
    values = np.arange(len(rle["counts"])) % 2 == 1  # runs alternate 0, 1, 0, ...
    flat = np.repeat(values, rle["counts"])
    return flat.reshape(w, h).T  # column-major -> (H, W)


def area_from_rle(rle: dict[str, Any]) -> int:
    """Number of set pixels: the sum of the runs of 1s."""
    return sum(rle["counts"][1::2])


def coco_encode_rle(uncompressed_rle: dict[str, Any]) -> dict[str, Any]:
    """Uncompressed RLE -> pycocotools' compressed RLE (``counts`` a str, JSON-friendly)."""
    from pycocotools import mask as mask_utils

    h, w = uncompressed_rle["size"]
    rle = mask_utils.frPyObjects(uncompressed_rle, h, w)
    rle["counts"] = rle["counts"].decode("utf-8")
    return rle


def remove_small_regions(
    mask: np.ndarray, area_thresh: float, mode: str
) -> tuple[np.ndarray, bool]:
    """Fill holes (``mode="holes"``) or drop islands (``mode="islands"``) of fewer than
    ``area_thresh`` pixels (8-connected) in a bool mask ``(H, W)``; returns the mask and whether it
    changed. If every island is small, the largest one is kept."""
    if mode not in ("holes", "islands"):
        raise ValueError(f"mode must be 'holes' or 'islands', got {mode!r}")
    holes = mode == "holes"
    # the regions to look at: background components (holes) or foreground components (islands)
    working = mask ^ holes
    regions, n = ndimage.label(working, structure=np.ones((3, 3), dtype=int))
    sizes = np.bincount(regions.ravel(), minlength=n + 1)[1:]  # pixels of regions 1..n
    small = [i + 1 for i, s in enumerate(sizes) if s < area_thresh]
    if not small:
        return mask, False
    if holes:
        # the mask (label 0 of the background's labelling) plus the small background components
        return np.isin(regions, [0] + small), True
    keep = [i for i in range(1, n + 1) if i not in small]
    if not keep:  # every island is small: keep the largest
        keep = [int(np.argmax(sizes)) + 1]
    return np.isin(regions, keep), True
