"""Automatic mask generation: "segment everything" with SAM (Kirillov et al., ICCV 2023, section 4
"Segment Anything Data Engine", fully automatic stage, and appendix B).

For an image (and, with ``crop_n_layers > 0``, for zoomed-in crops of it):

1. prompt SAM with a regular grid of single foreground points (``points_per_side``^2), in
   batches of ``points_per_batch``, three masks per point (multimask output);
2. keep masks whose predicted IoU exceeds ``pred_iou_thresh``;
3. keep masks whose stability score (IoU of the mask thresholded at ``+-stability_score_offset``
   around 0) is at least ``stability_score_thresh``;
4. threshold at 0, compute boxes; in a crop, drop masks touching a crop edge that is not an
   image edge;
5. non-maximum suppression on the boxes (``box_nms_thresh``, scores = predicted IoU) within the
   crop;
6. across crops, NMS again (``crop_nms_thresh``) preferring masks from smaller crops;
7. optionally (``min_mask_region_area > 0``) fill small holes and remove small islands, then NMS
   once more preferring masks that did not need it.

:class:`SamAutomaticMaskGenerator` takes segment-anything's arguments and returns the same
records (``segmentation``, ``area``, ``bbox`` ``xywh``, ``predicted_iou``, ``point_coords``,
``stability_score``, ``crop_box``), in the same order (tested against it with random weights,
with and without crops). NMS is :func:`segedu.ops.batched_nms` (torchvision's kernel); small
regions are found with SciPy instead of OpenCV (:mod:`.amg`). Records are kept as a dict of
tensors (and a list of RLEs) filtered together, where segment-anything has a ``MaskData`` class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ....ops import batched_nms, box_area
from .amg import (
    area_from_rle,
    batched_mask_to_box,
    box_xyxy_to_xywh,
    build_all_layer_point_grids,
    calculate_stability_score,
    coco_encode_rle,
    generate_crop_boxes,
    is_box_near_crop_edge,
    mask_to_rle,
    remove_small_regions,
    rle_to_mask,
    uncrop_boxes_xyxy,
    uncrop_masks,
    uncrop_points,
)
from .predictor import SamPredictor
from .sam import Sam

__all__ = ["SamAutomaticMaskGenerator"]

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")
Records = dict[
    str, Any
]  # "masks"/"rles", "iou_preds", "points", "stability_score", "boxes", "crop_boxes"


def _select(data: Records, keep: torch.Tensor) -> Records:
    """Keep the entries ``keep`` (bool mask or indices) of every field."""
    out: Records = {}
    for key, value in data.items():
        if isinstance(value, list):
            idx = keep.nonzero()[:, 0] if keep.dtype == torch.bool else keep
            out[key] = [value[i] for i in idx.tolist()]
        else:
            out[key] = value[keep]
    return out


def _concat(parts: list[Records]) -> Records:
    """Concatenate records field by field."""
    if not parts:
        return {}
    out: Records = {}
    for key in parts[0]:
        values = [p[key] for p in parts]
        out[key] = sum(values, []) if isinstance(values[0], list) else torch.cat(values)
    return out


class SamAutomaticMaskGenerator:
    """Generate masks for a whole image (module docstring).

    Args (as segment-anything's, keyword-only after ``model``):
        model: a :class:`~.sam.Sam`.
        points_per_side: grid side ``n`` (``n^2`` points); ``None`` to give ``point_grids``.
        points_per_batch: points run through the decoder at once.
        pred_iou_thresh: keep masks with predicted IoU above this (0 disables).
        stability_score_thresh: keep masks with stability at least this (0 disables).
        stability_score_offset: the logit offset of the stability score.
        box_nms_thresh: box IoU threshold of the NMS within a crop.
        crop_n_layers: crop layers (layer ``i`` has ``2^i x 2^i`` crops); 0 = whole image only.
        crop_nms_thresh: box IoU threshold of the NMS across crops.
        crop_overlap_ratio: overlap of the first layer's crops, as a fraction of the short side.
        crop_n_points_downscale_factor: points per side divided by this in each deeper layer.
        point_grids: explicit ``(n_points, 2)`` grids in ``[0, 1]``, one per layer.
        min_mask_region_area: fill holes / remove islands smaller than this (0 disables).
        output_mode: ``"binary_mask"`` (bool ``(H, W)`` arrays), ``"uncompressed_rle"`` or
            ``"coco_rle"`` (pycocotools).
    """

    def __init__(
        self,
        model: Sam,
        *,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
    ) -> None:
        if (points_per_side is None) == (point_grids is None):
            raise ValueError("give exactly one of points_per_side and point_grids")
        if points_per_side is not None:
            self.point_grids = build_all_layer_point_grids(
                points_per_side, crop_n_layers, crop_n_points_downscale_factor
            )
        else:
            if len(point_grids) < crop_n_layers + 1:
                raise ValueError(
                    f"point_grids needs one grid per crop layer ({crop_n_layers + 1}), got "
                    f"{len(point_grids)}"
                )
            self.point_grids = [np.asarray(g, dtype=float) for g in point_grids]
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}")
        if points_per_batch < 1:
            raise ValueError(f"points_per_batch must be positive, got {points_per_batch}")
        self.predictor = SamPredictor(model)
        self.points_per_batch = points_per_batch
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = crop_n_layers
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.crop_n_points_downscale_factor = crop_n_points_downscale_factor
        self.min_mask_region_area = min_mask_region_area
        self.output_mode = output_mode

    @torch.no_grad()
    def generate(self, image: np.ndarray) -> list[dict[str, Any]]:
        """Masks for ``image``, a ``uint8 (H, W, 3)`` RGB array: a list of records (module
        docstring; ``bbox`` and ``crop_box`` are ``[x, y, w, h]`` with inclusive-pixel boxes)."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise TypeError(
                "image must be a uint8 NumPy array (H, W, 3), got "
                f"{getattr(image, 'dtype', type(image).__name__)}"
            )
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
        data = self._generate_masks(image)
        # optional clean-up of small holes and islands
        if self.min_mask_region_area > 0:
            data = self._postprocess_small_regions(
                data, self.min_mask_region_area, max(self.box_nms_thresh, self.crop_nms_thresh)
            )
        # encode the masks
        if self.output_mode == "coco_rle":
            segmentations = [coco_encode_rle(rle) for rle in data["rles"]]
        elif self.output_mode == "binary_mask":
            segmentations = [rle_to_mask(rle) for rle in data["rles"]]
        else:
            segmentations = data["rles"]
        # one record per mask
        return [
            {
                "segmentation": segmentations[i],
                "area": area_from_rle(data["rles"][i]),
                "bbox": box_xyxy_to_xywh(data["boxes"][i]).tolist(),
                "predicted_iou": data["iou_preds"][i].item(),
                "point_coords": [data["points"][i].tolist()],
                "stability_score": data["stability_score"][i].item(),
                "crop_box": box_xyxy_to_xywh(data["crop_boxes"][i]).tolist(),
            }
            for i in range(len(segmentations))
        ]

    def _generate_masks(self, image: np.ndarray) -> Records:
        """Masks of every crop, deduplicated across crops."""
        orig_size = image.shape[:2]
        crop_boxes, layer_idxs = generate_crop_boxes(
            orig_size, self.crop_n_layers, self.crop_overlap_ratio
        )
        data = _concat(
            [
                self._process_crop(image, box, layer, orig_size)
                for box, layer in zip(crop_boxes, layer_idxs, strict=True)
            ]
        )
        # across crops: NMS preferring masks from smaller crops (score = 1 / crop area)
        if len(crop_boxes) > 1 and len(data["rles"]):
            keep = batched_nms(
                data["boxes"].float(),
                1 / box_area(data["crop_boxes"].float()),
                torch.zeros(len(data["boxes"]), dtype=torch.long),
                self.crop_nms_thresh,
            )
            data = _select(data, keep)
        return data

    def _process_crop(
        self,
        image: np.ndarray,
        crop_box: list[int],
        crop_layer_idx: int,
        orig_size: tuple[int, ...],
    ) -> Records:
        """Masks of one crop, in the image's frame."""
        # embed the crop
        x0, y0, x1, y1 = crop_box
        cropped = image[y0:y1, x0:x1, :]
        cropped_size = cropped.shape[:2]
        self.predictor.set_image(cropped)
        # the layer's point grid, in the crop's pixels (x, y)
        points = self.point_grids[crop_layer_idx] * np.array(cropped_size)[None, ::-1]
        # prompt in batches
        batches = [
            self._process_batch(
                points[i : i + self.points_per_batch], cropped_size, crop_box, orig_size
            )
            for i in range(0, len(points), self.points_per_batch)
        ]
        self.predictor.reset_image()
        data = _concat(batches)
        # NMS within the crop, scored by the predicted IoU
        keep = batched_nms(
            data["boxes"].float(),
            data["iou_preds"],
            torch.zeros(len(data["boxes"]), dtype=torch.long),
            self.box_nms_thresh,
        )
        data = _select(data, keep)
        # back to the image's frame
        data["boxes"] = uncrop_boxes_xyxy(data["boxes"], crop_box)
        data["points"] = uncrop_points(data["points"], crop_box)
        n = len(data["rles"])
        data["crop_boxes"] = torch.tensor(crop_box, dtype=torch.long).expand(n, 4).clone()
        return data

    def _process_batch(
        self,
        points: np.ndarray,
        im_size: tuple[int, ...],
        crop_box: list[int],
        orig_size: tuple[int, ...],
    ) -> Records:
        """Masks for a batch of points ``(P, 2)`` (crop pixels): filtered, as RLEs in the
        image's frame."""
        orig_h, orig_w = orig_size
        # one foreground point per prompt, in the resized frame, three masks each (logits)
        in_points = torch.as_tensor(
            self.predictor.transform.apply_coords(points, im_size), device=self.predictor.device
        )
        in_labels = torch.ones(in_points.shape[0], dtype=torch.int, device=in_points.device)
        masks, iou_preds, _ = self.predictor.predict_torch(
            in_points[:, None, :], in_labels[:, None], multimask_output=True, return_logits=True
        )
        data: Records = {
            "masks": masks.flatten(0, 1),
            "iou_preds": iou_preds.flatten(0, 1),
            "points": torch.as_tensor(points.repeat(masks.shape[1], axis=0)),
        }
        # filter by predicted IoU
        if self.pred_iou_thresh > 0.0:
            data = _select(data, data["iou_preds"] > self.pred_iou_thresh)
        # filter by stability
        threshold = self.predictor.model.mask_threshold
        data["stability_score"] = calculate_stability_score(
            data["masks"], threshold, self.stability_score_offset
        )
        if self.stability_score_thresh > 0.0:
            data = _select(data, data["stability_score"] >= self.stability_score_thresh)
        # binary masks and their boxes
        data["masks"] = data["masks"] > threshold
        data["boxes"] = batched_mask_to_box(data["masks"])
        # drop masks cut by a crop edge (one that is not an image edge)
        data = _select(
            data, ~is_box_near_crop_edge(data["boxes"], crop_box, [0, 0, orig_w, orig_h])
        )
        # to the image's frame, compressed
        data["rles"] = mask_to_rle(uncrop_masks(data.pop("masks"), crop_box, orig_h, orig_w))
        return data

    @staticmethod
    def _postprocess_small_regions(data: Records, min_area: int, nms_thresh: float) -> Records:
        """Fill small holes and remove small islands, then NMS preferring unchanged masks."""
        if len(data["rles"]) == 0:
            return data
        new_masks, scores = [], []
        for rle in data["rles"]:
            mask, changed_holes = remove_small_regions(rle_to_mask(rle), min_area, mode="holes")
            mask, changed_islands = remove_small_regions(mask, min_area, mode="islands")
            new_masks.append(torch.as_tensor(mask))
            scores.append(float(not (changed_holes or changed_islands)))  # 1 = unchanged
        masks = torch.stack(new_masks)
        boxes = batched_mask_to_box(masks)
        keep = batched_nms(
            boxes.float(),
            torch.tensor(scores),
            torch.zeros(len(boxes), dtype=torch.long),
            nms_thresh,
        )
        # changed masks that survive get their new RLE and box
        data = dict(data, rles=list(data["rles"]), boxes=data["boxes"].clone())
        for i in keep.tolist():
            if scores[i] == 0.0:
                data["rles"][i] = mask_to_rle(masks[i][None])[0]
                data["boxes"][i] = boxes[i]
        return _select(data, keep)
