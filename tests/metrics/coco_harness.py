"""pycocotools' COCOeval on torchvision-style lists of dicts (the reference for the mAP tests)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

STAT_KEYS = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large",
             "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large"]


def _annotation(image_id, ann_id, label, *, box=None, mask=None, score=None, iscrowd=0):
    ann = {"id": ann_id, "image_id": image_id, "category_id": int(label), "iscrowd": int(iscrowd)}
    if mask is not None:
        rle = mask_utils.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))
        ann["segmentation"] = rle
        ann["area"] = float(mask.sum())  # segm: the mask's pixel count
        ann["bbox"] = mask_utils.toBbox(rle).tolist()
    else:
        x1, y1, x2, y2 = (float(v) for v in box)
        ann["bbox"] = [x1, y1, x2 - x1, y2 - y1]
        ann["area"] = (x2 - x1) * (y2 - y1)  # bbox: the box area
        ann["segmentation"] = [[x1, y1, x1, y2, x2, y2, x2, y1]]
    if score is not None:
        ann["score"] = float(score)
    return ann


def coco_evaluate(preds, targets, iou_type="bbox"):
    """Run COCOeval; return (stats dict under torchmetrics' names, the COCOeval object)."""
    images, gts, dts = [], [], []
    labels = set()
    for image_id, (p, t) in enumerate(zip(preds, targets, strict=True)):
        size = t["masks"].shape[-2:] if iou_type == "segm" else (1000, 1000)
        images.append({"id": image_id, "height": int(size[0]), "width": int(size[1])})
        crowd = t.get("iscrowd", torch.zeros(len(t["labels"]), dtype=torch.int64))
        for j in range(len(t["labels"])):
            geometry = {"mask": t["masks"][j]} if iou_type == "segm" else {"box": t["boxes"][j]}
            gts.append(_annotation(image_id, len(gts) + 1, t["labels"][j], iscrowd=int(crowd[j]),
                                   **geometry))
        for j in range(len(p["labels"])):
            geometry = {"mask": p["masks"][j]} if iou_type == "segm" else {"box": p["boxes"][j]}
            dts.append(_annotation(image_id, len(dts) + 1, p["labels"][j], score=p["scores"][j],
                                   **geometry))
        labels |= {int(v) for v in t["labels"]} | {int(v) for v in p["labels"]}
    categories = [{"id": c} for c in sorted(labels)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "annotations": gts, "categories": categories}
        coco_gt.createIndex()
        coco_dt = COCO()
        coco_dt.dataset = {"images": images, "annotations": dts, "categories": categories}
        coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, iouType=iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return dict(zip(STAT_KEYS, (float(s) for s in evaluator.stats), strict=True)), evaluator
