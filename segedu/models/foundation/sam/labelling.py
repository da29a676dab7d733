"""A labelling pipeline: a detector's boxes, SAM's masks, a COCO annotation file.

Drawing masks by hand is the slow part of building a segmentation dataset; drawing a box is fast,
and SAM turns a box into a mask. So a detector (trained on boxes, or open-vocabulary) proposes the
boxes, SAM segments inside each, and the result is written in COCO's format, where any labelling
tool (CVAT, Label Studio) can load it for a person to correct. This is the pipeline of the SAM
paper's data engine in its "assisted-manual" spirit, and of tools such as Grounded-SAM:

1. **Detect**: ``detector([image])`` (torchvision's detection API: ``boxes`` ``xyxy``,
   ``labels``, ``scores``); keep the boxes scoring at least ``score_thresh``.
2. **Embed once**: ``predictor.set_image(image)`` runs SAM's heavy image encoder one time.
3. **Prompt per box**: ``predictor.predict(box=box, multimask_output=False)`` gives one mask
   and SAM's predicted IoU for it (a box is not ambiguous, so one mask, as the paper advises).
4. **Write COCO**: one annotation per mask (compressed RLE, its area and its tight box), with the
   detector's label as the category and both scores kept (``score``, ``predicted_iou``) so a person
   can review the doubtful ones first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ....data.coco_export import mask_to_rle
from .predictor import predictor_image

__all__ = ["label_images", "write_coco"]


def label_images(images: Sequence[torch.Tensor | np.ndarray], *, detector: Callable, predictor: Any,
                 categories: Mapping[int, str], score_thresh: float = 0.5,
                 file_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Annotate ``images`` with the detector's boxes and SAM's masks, as a COCO instances dict.

    Args:
        images: float ``(3, H, W)`` tensors in [0, 1] or uint8 ``(H, W, 3)`` arrays.
        detector: a torchvision-style detector in eval mode: ``detector([image (3, H, W)])`` ->
            ``[{"boxes" (N, 4) xyxy, "labels" (N,), "scores" (N,)}]``.
        predictor: a :class:`~segedu.models.foundation.sam.SamPredictor` (or anything with its
            ``set_image`` and ``predict``).
        categories: ``{detector label: category name}``; the category id is the label. A label
            outside it raises ``ValueError`` (a detector for other classes).
        score_thresh: the detections kept (``score >= score_thresh``).
        file_names: the ``file_name`` of each image (default ``000000.png``, ...).

    Returns:
        ``{"images", "annotations", "categories"}`` in COCO's format (image ids 1.., annotation ids
        1..; ``bbox`` ``[x, y, w, h]`` of the mask's pixels; an empty mask is skipped).
    """
    if file_names is not None and len(file_names) != len(images):
        raise ValueError(f"{len(file_names)} file names for {len(images)} images")
    coco: dict[str, Any] = {
        "images": [], "annotations": [],
        "categories": [{"id": int(k), "name": str(v)} for k, v in sorted(categories.items())],
    }
    for index, image in enumerate(images):
        pixels = predictor_image(image, name=f"images[{index}]")
        height, width = pixels.shape[:2]
        coco["images"].append({"id": index + 1, "width": width, "height": height,
                               "file_name": file_names[index] if file_names
                               else f"{index:06d}.png"})
        # 1. detect on the same 8-bit image that SAM gets, and keep the confident boxes
        tensor = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255
        with torch.no_grad():
            detections = detector([tensor])[0]
        keep = detections["scores"] >= score_thresh
        boxes, labels, scores = (detections[k][keep].cpu() for k in ("boxes", "labels", "scores"))
        unknown = sorted({int(label) for label in labels} - set(categories))
        if unknown:
            raise ValueError(f"image {index}: the detector gave labels {unknown}, which are not in "
                             f"categories {sorted(categories)}")
        if len(boxes) == 0:
            continue
        # 2. embed the image once
        predictor.set_image(pixels)
        for box, label, score in zip(boxes.numpy(), labels.tolist(), scores.tolist(), strict=True):
            # 3. one mask per box
            masks, iou_predictions, _ = predictor.predict(box=box, multimask_output=False)
            mask = np.asarray(masks[0], dtype=bool)
            if not mask.any():
                continue
            # 4. the annotation: RLE, area, the mask's own box, both scores
            rows, cols = np.nonzero(mask)
            x0, y0 = int(cols.min()), int(rows.min())
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": index + 1,
                "category_id": int(label),
                "segmentation": mask_to_rle(mask), "area": int(mask.sum()),
                "bbox": [x0, y0, int(cols.max()) + 1 - x0, int(rows.max()) + 1 - y0], "iscrowd": 0,
                "score": float(score), "predicted_iou": float(iou_predictions[0]),
            })
    return coco


def write_coco(coco: Mapping[str, Any], path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a COCO dict as JSON; an existing file is kept unless ``overwrite``
    (nothing is lost)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(coco))
    return path
