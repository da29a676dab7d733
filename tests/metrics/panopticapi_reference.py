"""A test-only port of panopticapi's PQ evaluation (``panopticapi/evaluation.py``, COCO).

panopticapi is not on PyPI, so the tests compare segedu with this port. It was written from
reading panopticapi's ``pq_compute_single_core`` and ``PQStat.pq_average`` and keeps their
structure and their quirks on purpose, so that it stands for the reference and not for segedu:

- segments are dicts keyed by segment id (``gt_segms``, ``pred_segms``) taken from the JSON;
- the overlaps come from hashing each pixel's pair into one integer
  ``gt_id * OFFSET + pred_id`` and counting them with ``np.unique`` (``gt_pred_map``);
- the ground-truth areas are those written in the JSON, the predicted ones are counted in the PNG;
- a crowd category remembers one crowd segment per image: the last one listed;
- plain Python floats, ``pq_average`` divides by the number of categories (0 raises).

Differences from the original: no multiprocessing and no printing; the per-image part takes the
decoded id arrays (``image_pq_stat``) so that the tests can feed it arrays as well as files.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

import numpy as np
from PIL import Image

OFFSET = 256 * 256 * 256
VOID = 0


class PQStatCat:
    """IoU sum and TP / FP / FN counts of one category."""

    def __init__(self):
        self.iou = 0.0
        self.tp = 0
        self.fp = 0
        self.fn = 0

    def __iadd__(self, other):
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self


class PQStat:
    def __init__(self):
        self.pq_per_cat = defaultdict(PQStatCat)

    def __getitem__(self, category_id):
        return self.pq_per_cat[category_id]

    def __iadd__(self, other):
        for category_id, stat in other.pq_per_cat.items():
            self.pq_per_cat[category_id] += stat
        return self

    def pq_average(self, categories, isthing):
        """Mean PQ / SQ / RQ over the categories with TP + FP + FN > 0 (of one kind or all)."""
        pq = sq = rq = 0.0
        n = 0
        per_class = {}
        for category_id, info in categories.items():
            if isthing is not None and (info["isthing"] == 1) != isthing:
                continue
            stat = self.pq_per_cat[category_id]
            if stat.tp + stat.fp + stat.fn == 0:
                per_class[category_id] = {"pq": 0.0, "sq": 0.0, "rq": 0.0}
                continue
            n += 1
            denominator = stat.tp + 0.5 * stat.fp + 0.5 * stat.fn
            pq_c = stat.iou / denominator
            sq_c = stat.iou / stat.tp if stat.tp != 0 else 0
            rq_c = stat.tp / denominator
            per_class[category_id] = {"pq": pq_c, "sq": sq_c, "rq": rq_c}
            pq += pq_c
            sq += sq_c
            rq += rq_c
        return {"pq": pq / n, "sq": sq / n, "rq": rq / n, "n": n}, per_class


def rgb2id(color):
    color = color.astype(np.int32)
    return color[..., 0] + 256 * color[..., 1] + 256 * 256 * color[..., 2]


def image_pq_stat(pan_gt, pan_pred, gt_ann, pred_ann, categories):
    """PQStat of one image from its ``(H, W)`` segment-id arrays and JSON annotations."""
    stat = PQStat()
    gt_segms = {el["id"]: dict(el) for el in gt_ann["segments_info"]}
    pred_segms = {el["id"]: dict(el) for el in pred_ann["segments_info"]}

    # predicted areas from the PNG, with panopticapi's sanity checks
    pred_labels_left = set(pred_segms)
    labels, counts = np.unique(pan_pred, return_counts=True)
    for label, count in zip(labels, counts, strict=True):
        if label not in pred_segms:
            if label == VOID:
                continue
            raise KeyError(f"segment {label} is in the PNG, not in the JSON")
        pred_segms[label]["area"] = count
        pred_labels_left.remove(label)
        if pred_segms[label]["category_id"] not in categories:
            raise KeyError(f"segment {label} has an unknown category_id")
    if pred_labels_left:
        raise KeyError(f"segments {sorted(pred_labels_left)} are in the JSON, not in the PNG")

    # overlaps of every (gt id, pred id) pair, hashed into one integer per pixel
    pan_gt_pred = pan_gt.astype(np.uint64) * OFFSET + pan_pred.astype(np.uint64)
    gt_pred_map = {}
    labels, counts = np.unique(pan_gt_pred, return_counts=True)
    for label, intersection in zip(labels, counts, strict=True):
        gt_pred_map[(int(label // OFFSET), int(label % OFFSET))] = intersection

    # matches: same category, not crowd, IoU > 0.5 with the prediction's void pixels left out
    gt_matched, pred_matched = set(), set()
    for (gt_label, pred_label), intersection in gt_pred_map.items():
        if gt_label not in gt_segms or pred_label not in pred_segms:
            continue
        if gt_segms[gt_label]["iscrowd"] == 1:
            continue
        if gt_segms[gt_label]["category_id"] != pred_segms[pred_label]["category_id"]:
            continue
        union = (
            pred_segms[pred_label]["area"]
            + gt_segms[gt_label]["area"]
            - intersection
            - gt_pred_map.get((VOID, pred_label), 0)
        )
        iou = intersection / union
        if iou > 0.5:
            stat[gt_segms[gt_label]["category_id"]].tp += 1
            stat[gt_segms[gt_label]["category_id"]].iou += iou
            gt_matched.add(gt_label)
            pred_matched.add(pred_label)

    # false negatives; crowd segments are remembered (the last one per category) and skipped
    crowd_labels_dict = {}
    for gt_label, gt_info in gt_segms.items():
        if gt_label in gt_matched:
            continue
        if gt_info["iscrowd"] == 1:
            crowd_labels_dict[gt_info["category_id"]] = gt_label
            continue
        stat[gt_info["category_id"]].fn += 1

    # false positives, unless more than half on void + the crowd region of the same category
    for pred_label, pred_info in pred_segms.items():
        if pred_label in pred_matched:
            continue
        intersection = gt_pred_map.get((VOID, pred_label), 0)
        if pred_info["category_id"] in crowd_labels_dict:
            crowd_label = crowd_labels_dict[pred_info["category_id"]]
            intersection += gt_pred_map.get((crowd_label, pred_label), 0)
        if intersection / pred_info["area"] > 0.5:
            continue
        stat[pred_info["category_id"]].fp += 1
    return stat


def pq_compute_single_core(annotation_set, gt_folder, pred_folder, categories):
    stat = PQStat()
    for gt_ann, pred_ann in annotation_set:
        pan_gt = rgb2id(
            np.array(Image.open(os.path.join(gt_folder, gt_ann["file_name"])), dtype=np.uint32)
        )
        pan_pred = rgb2id(
            np.array(Image.open(os.path.join(pred_folder, pred_ann["file_name"])), dtype=np.uint32)
        )
        stat += image_pq_stat(pan_gt, pan_pred, gt_ann, pred_ann, categories)
    return stat


def pq_compute(gt_json_file, pred_json_file, gt_folder=None, pred_folder=None):
    """``{"All", "Things", "Stuff": {pq, sq, rq, n}, "per_class": ...}`` as panopticapi returns."""
    with open(gt_json_file) as f:
        gt_json = json.load(f)
    with open(pred_json_file) as f:
        pred_json = json.load(f)
    gt_folder = gt_folder or gt_json_file.replace(".json", "")
    pred_folder = pred_folder or pred_json_file.replace(".json", "")
    categories = {el["id"]: el for el in gt_json["categories"]}
    pred_annotations = {el["image_id"]: el for el in pred_json["annotations"]}
    matched = []
    for gt_ann in gt_json["annotations"]:
        if gt_ann["image_id"] not in pred_annotations:
            raise Exception(f"no prediction for the image with id: {gt_ann['image_id']}")
        matched.append((gt_ann, pred_annotations[gt_ann["image_id"]]))
    stat = pq_compute_single_core(matched, gt_folder, pred_folder, categories)
    return results_of(stat, categories)


def results_of(stat, categories):
    results = {}
    for name, isthing in (("All", None), ("Things", True), ("Stuff", False)):
        results[name], per_class = stat.pq_average(categories, isthing=isthing)
        if name == "All":
            results["per_class"] = per_class
    return results
