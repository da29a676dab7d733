"""Panoptic quality of COCO panoptic files: a JSON of ``segments_info`` and one PNG per image.

The same rules as :func:`segedu.metrics.panoptic_quality.panoptic_quality` (panopticapi's
``pq_compute.py``), plus COCO's **crowd** regions: a ground-truth segment with ``iscrowd = 1`` is
never matched and is no FN, and an unmatched prediction of its category is ignored when its pixels
on void *plus* on that crowd region are more than half its area. The PNGs store each pixel's
segment id as ``R + 256 G + 256^2 B`` (:func:`rgb_to_id`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .panoptic_quality import image_stats, quality_from_counts

__all__ = ["panoptic_quality_coco", "rgb_to_id"]


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """Segment ids ``(H, W)`` int64 of a COCO panoptic PNG ``(H, W, 3)``: R + 256 G + 256^2 B."""
    rgb = np.asarray(rgb).astype(np.int64)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"a panoptic PNG must be (H, W, 3) RGB, got shape {rgb.shape}")
    return rgb[..., 0] + 256 * rgb[..., 1] + 256**2 * rgb[..., 2]


def _load_json(value: str | Path | Mapping[str, Any], name: str) -> tuple[dict, Path | None]:
    if isinstance(value, Mapping):
        return dict(value), None
    if not isinstance(value, str | Path):
        raise TypeError(f"{name} must be a path to a JSON file or its loaded dict, got {value!r}")
    path = Path(value)
    return json.loads(path.read_text()), path


def _number_segments(
    ids: np.ndarray, segments_info: list[dict], index_of: dict[int, int], where: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Segment of each pixel (0 void, 1..S, in ``segments_info`` order), category index and
    crowd flag of each segment ``(S + 1,)``; ``ValueError`` when PNG and JSON disagree."""
    segment_ids = [int(s["id"]) for s in segments_info]
    present, compact = np.unique(ids, return_inverse=True)
    # each id of the PNG must be void (0) or a segment of the JSON, and each segment present
    position = {seg_id: k + 1 for k, seg_id in enumerate(segment_ids)}
    position[0] = 0
    missing_json = sorted(set(present.tolist()) - set(position))
    if missing_json:
        raise ValueError(f"{where}: segment ids {missing_json} are in the PNG, not in the JSON")
    missing_png = sorted(set(segment_ids) - set(present.tolist()))
    if missing_png or len(set(segment_ids)) != len(segment_ids):
        raise ValueError(
            f"{where}: segment ids {missing_png or segment_ids} are not in the PNG once each"
        )
    categories = [-1]
    for s in segments_info:
        if s["category_id"] not in index_of:
            raise ValueError(
                f"{where}: segment {s['id']} has unknown category_id {s['category_id']}"
            )
        categories.append(index_of[s["category_id"]])
    crowd = [False] + [bool(s.get("iscrowd", 0)) for s in segments_info]
    lookup = np.array([position[int(v)] for v in present], dtype=np.int64)
    pixel_segment = torch.from_numpy(lookup[compact.reshape(-1)])
    return pixel_segment, torch.tensor(categories), torch.tensor(crowd)


def panoptic_quality_coco(
    gt_json: str | Path | Mapping[str, Any],
    pred_json: str | Path | Mapping[str, Any],
    gt_folder: str | Path | None = None,
    pred_folder: str | Path | None = None,
) -> dict[str, Any]:
    """PQ of COCO panoptic predictions (JSON + PNG), with crowd regions, as panopticapi's
    ``pq_compute``.

    Args:
        gt_json, pred_json: paths of the COCO panoptic JSON files (or their loaded dicts):
            ``categories`` (``id``, ``isthing``; taken from ``gt_json``) and ``annotations``, one
            per image with ``image_id``, ``file_name`` and ``segments_info`` (``id``,
            ``category_id``, ``iscrowd``).
        gt_folder, pred_folder: folders of the PNGs (segment id ``R + 256 G + 256^2 B``, 0 void);
            default: the JSON path without ``.json``, as panopticapi.

    Returns:
        The dict of :func:`panoptic_quality`, ``per_class`` keyed by COCO category id.

    Every ground-truth image needs a prediction. Segment areas are counted in the PNGs
    (panopticapi takes the ground truth's from the JSON: the same for a consistent file). A
    category with two crowd segments in one image ignores predictions on either (panopticapi
    keeps only the last one listed; COCO has at most one per category and image).
    """
    gt, gt_path = _load_json(gt_json, "gt_json")
    pred, pred_path = _load_json(pred_json, "pred_json")
    folders = []
    for folder, path, name in ((gt_folder, gt_path, "gt"), (pred_folder, pred_path, "pred")):
        if folder is None:
            if path is None:
                raise ValueError(f"{name}_folder is needed when {name}_json is a loaded dict")
            folder = path.with_suffix("")
        if not Path(folder).is_dir():
            raise ValueError(f"{name}_folder {str(folder)!r} is not a folder")
        folders.append(Path(folder))

    categories = sorted(int(c["id"]) for c in gt["categories"])
    things = {int(c["id"]) for c in gt["categories"] if c.get("isthing", 0) == 1}
    index_of = {c: i for i, c in enumerate(categories)}
    pred_by_image = {a["image_id"]: a for a in pred["annotations"]}
    k = len(categories)
    iou_sum = torch.zeros(k, dtype=torch.float64)
    tp, fp, fn = (torch.zeros(k, dtype=torch.int64) for _ in range(3))
    for gt_ann in gt["annotations"]:
        image_id = gt_ann["image_id"]
        if image_id not in pred_by_image:
            raise ValueError(f"no prediction for the image with id {image_id}")
        pred_ann = pred_by_image[image_id]
        # 1. the PNGs: segment id of every pixel
        gt_png = rgb_to_id(np.asarray(Image.open(folders[0] / gt_ann["file_name"]).convert("RGB")))
        pred_png = rgb_to_id(
            np.asarray(Image.open(folders[1] / pred_ann["file_name"]).convert("RGB"))
        )
        if gt_png.shape != pred_png.shape:
            raise ValueError(f"image {image_id}: PNGs of shape {gt_png.shape} and {pred_png.shape}")
        # 2. segments numbered 1..S, with their category index and crowd flag
        gt_ids, gt_category, gt_crowd = _number_segments(
            gt_png, gt_ann["segments_info"], index_of, f"ground truth of image {image_id}"
        )
        pred_ids, pred_category, _ = _number_segments(
            pred_png, pred_ann["segments_info"], index_of, f"prediction of image {image_id}"
        )
        # 3. the counts of this image (predictions are never crowd)
        stats = image_stats(gt_ids, pred_ids, gt_category, pred_category, gt_crowd, k)
        iou_sum += stats[0]
        tp += stats[1]
        fp += stats[2]
        fn += stats[3]
    return quality_from_counts(iou_sum, tp, fp, fn, categories, things)
