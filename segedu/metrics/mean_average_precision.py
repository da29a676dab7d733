r"""COCO-style mean average precision (mAP) and recall (mAR) for boxes and masks.

The COCO detection metric, written out step by step so that it can be read, and tested equal to
pycocotools' ``COCOeval`` on the same data:

1. **IoU per image and class**, between the detections (sorted by score, the best
   ``max(max_detections)`` kept) and the ground truths. A *crowd* ground truth (``iscrowd=1``,
   one region for a group of objects) uses the detection's own area as the union:
   :math:`\mathrm{IoU} = |D \cap G| / |D|`.
2. **Greedy matching** at each IoU threshold :math:`t` (0.50, 0.55, ..., 0.95): in score order,
   each detection takes the unmatched ground truth with the highest IoU :math:`\ge t`, preferring
   ordinary ground truths to ignored ones (crowds, and objects outside the area range); crowds
   may take any number of detections. A detection matched to an ignored ground truth, or
   unmatched and itself outside the area range, is *ignored*: neither right nor wrong.
3. **Precision-recall curve** per class: all detections of all images sorted by score, the
   cumulative true and false positives give recall :math:`TP / n_{gt}` and precision
   :math:`TP / (TP + FP)`; precision is made non-increasing (each point takes the best
   precision at any higher recall) and read at the 101 recall levels 0, 0.01, ..., 1 (the
   first point at recall >= r; 0 beyond the last recall reached).
4. **Averages**: AP is the mean of those 101 precisions; mAP the mean over the IoU thresholds
   and the classes that have ground truth (a class without is -1 and left out). AR is the
   best recall with at most ``m`` detections per image, averaged the same way. ``map_small``
   and friends restrict ground truths and unmatched detections to areas below 32², between 32²
   and 96², above 96² pixels (box area for ``"bbox"``, mask pixel count for ``"segm"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["mean_average_precision", "MeanAveragePrecision", "COCO_IOU_THRESHOLDS",
           "COCO_RECALL_THRESHOLDS"]

# exactly pycocotools' grids (np.linspace, so the thresholds are the same floating-point numbers)
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.0, int(np.round(1.0 / 0.01)) + 1, endpoint=True)
AREA_RANGES = {"all": (0.0, 1e5**2), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2),
               "large": (96.0**2, 1e5**2)}


# ------------------------------------------------------------------------------------------
# inputs


def _check_inputs(preds, targets, iou_type: str) -> None:
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f'iou_type must be "bbox" or "segm", got {iou_type!r}')
    if not isinstance(preds, Sequence) or not isinstance(targets, Sequence):
        raise TypeError("preds and targets must be lists of dicts, one per image")
    if len(preds) != len(targets):
        raise ValueError(f"preds has {len(preds)} images but targets has {len(targets)}")
    geometry = "boxes" if iou_type == "bbox" else "masks"
    for kind, items, keys in (("preds", preds, (geometry, "scores", "labels")),
                              ("targets", targets, (geometry, "labels"))):
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise TypeError(f"{kind}[{i}] must be a dict, got {type(item).__name__}")
            for key in keys:
                if key not in item:
                    raise ValueError(f"{kind}[{i}] has no {key!r} (needed for "
                                     f"iou_type={iou_type!r})")
            n = len(item["labels"])
            for key in keys + (("iscrowd",) if "iscrowd" in item else ()):
                if len(item[key]) != n:
                    raise ValueError(f"{kind}[{i}][{key!r}] has {len(item[key])} entries for {n} "
                                     "labels")
            if iou_type == "bbox" and torch.as_tensor(item["boxes"]).reshape(-1, 4).shape[0] != n:
                raise ValueError(f"{kind}[{i}]['boxes'] must be (N, 4) xyxy")
            if iou_type == "segm":
                masks = torch.as_tensor(item["masks"])
                if masks.ndim != 3 or masks.dtype != torch.bool:
                    raise ValueError(f"{kind}[{i}]['masks'] must be bool (N, H, W), got "
                                     f"{masks.dtype} {tuple(masks.shape)}")


def _image_arrays(item: dict, iou_type: str, *, is_pred: bool) -> dict:
    """One image's objects as numpy arrays: labels, areas, scores, crowd flags, geometry."""
    labels = torch.as_tensor(item["labels"]).reshape(-1).cpu().numpy().astype(np.int64)
    out = {"labels": labels}
    if iou_type == "bbox":
        boxes = torch.as_tensor(item["boxes"]).reshape(-1, 4).detach().cpu().double().numpy()
        # COCO works with (x, y, w, h): keep exactly its arithmetic
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        out["geometry"], out["area"] = xywh, xywh[:, 2] * xywh[:, 3]
    else:
        masks = torch.as_tensor(item["masks"]).detach().cpu()
        out["geometry"] = masks.reshape(masks.shape[0], masks.shape[1] * masks.shape[2])  # (N, H*W)
        out["area"] = out["geometry"].sum(dim=1).double().numpy()
    if is_pred:
        out["scores"] = torch.as_tensor(item["scores"]).reshape(-1).detach().cpu().double().numpy()
    else:
        crowd = item.get("iscrowd")
        out["iscrowd"] = (np.zeros(len(labels), dtype=bool) if crowd is None
                          else torch.as_tensor(crowd).reshape(-1).cpu().numpy().astype(bool))
    return out


# ------------------------------------------------------------------------------------------
# 1. IoU


def _box_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """``(D, G)`` IoU of (x, y, w, h) boxes, COCO's crowd rule, in COCO's operation order."""
    dx, dy, dw, dh = (dt[:, None, i] for i in range(4))
    gx, gy, gw, gh = (gt[None, :, i] for i in range(4))
    w = np.minimum(dx + dw, gx + gw) - np.maximum(dx, gx)
    h = np.minimum(dy + dh, gy + gh) - np.maximum(dy, gy)
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    dt_area, gt_area = dw * dh, gw * gh
    union = np.where(crowd[None, :], dt_area, dt_area + gt_area - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _mask_iou(dt: torch.Tensor, gt: torch.Tensor, crowd: np.ndarray) -> np.ndarray:
    """``(D, G)`` IoU of flattened bool masks ``(D, P)`` and ``(G, P)``, COCO's crowd rule."""
    inter = (dt.double() @ gt.double().T).numpy()  # pixel counts, exact in float64
    dt_area = dt.sum(dim=1).double().numpy()[:, None]
    gt_area = gt.sum(dim=1).double().numpy()[None, :]
    union = np.where(crowd[None, :], dt_area, dt_area + gt_area - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


# ------------------------------------------------------------------------------------------
# 2. matching, per image, class and area range


def _match(iou: np.ndarray, gt_ignore: np.ndarray, crowd: np.ndarray, dt_area: np.ndarray,
           area_range: tuple[float, float],
           thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy COCO matching of detections (rows, in score order) to ground truths (columns).

    Returns ``matched`` and ``ignored``, bool ``(T, D)``: each detection's status per threshold.
    """
    n_t, (n_d, n_g) = len(thresholds), iou.shape
    # ordinary ground truths first, ignored ones last (a stable sort, as COCO)
    order = np.argsort(gt_ignore, kind="mergesort")
    iou, gt_ignore, crowd = iou[:, order], gt_ignore[order], crowd[order]
    matched = np.zeros((n_t, n_d), dtype=bool)
    ignored = np.zeros((n_t, n_d), dtype=bool)
    for t, threshold in enumerate(thresholds):
        taken = np.zeros(n_g, dtype=bool)
        for d in range(n_d):
            best, best_iou = -1, min(threshold, 1 - 1e-10)
            for g in range(n_g):
                if taken[g] and not crowd[g]:
                    continue  # already matched (a crowd can take many detections)
                if best > -1 and not gt_ignore[best] and gt_ignore[g]:
                    break  # an ordinary match beats any ignored one (they come last)
                if iou[d, g] < best_iou:
                    continue
                best, best_iou = g, iou[d, g]
            if best == -1:
                continue
            matched[t, d] = True
            ignored[t, d] = gt_ignore[best]
            taken[best] = True
    # unmatched detections outside the area range are ignored too
    outside = (dt_area < area_range[0]) | (dt_area > area_range[1])
    ignored |= ~matched & outside[None, :]
    return matched, ignored


# ------------------------------------------------------------------------------------------
# 3.-4. precision-recall and the summary


def _evaluate(preds, targets, iou_type, thresholds, recall_levels, max_detections):
    """COCOeval's ``evaluate`` + ``accumulate``: precision ``(T, R, K, A, M)``, recall
    ``(T, K, A, M)``."""
    images = [(_image_arrays(p, iou_type, is_pred=True), _image_arrays(t, iou_type, is_pred=False))
              for p, t in zip(preds, targets, strict=True)]
    classes = sorted(set().union(*(set(p["labels"]) | set(t["labels"]) for p, t in images))
                     if images else set())
    n_t, n_r, n_k, n_a, n_m = (len(thresholds), len(recall_levels), len(classes), len(AREA_RANGES),
                               len(max_detections))
    precision = -np.ones((n_t, n_r, n_k, n_a, n_m))
    recall = -np.ones((n_t, n_k, n_a, n_m))
    scores_at = -np.ones((n_t, n_r, n_k, n_a, n_m))
    most = max(max_detections)
    for k, label in enumerate(classes):
        # per image: the class's detections (best `most` by score) and ground truths, and their IoU
        per_image = []
        for dt, gt in images:
            d_idx = np.nonzero(dt["labels"] == label)[0]
            g_idx = np.nonzero(gt["labels"] == label)[0]
            if len(d_idx) == 0 and len(g_idx) == 0:
                continue
            d_idx = d_idx[np.argsort(-dt["scores"][d_idx], kind="mergesort")][:most]
            crowd = gt["iscrowd"][g_idx]
            if iou_type == "bbox":
                iou = _box_iou(dt["geometry"][d_idx], gt["geometry"][g_idx], crowd)
            else:
                iou = _mask_iou(dt["geometry"][d_idx], gt["geometry"][g_idx], crowd)
            per_image.append((dt["scores"][d_idx], dt["area"][d_idx], gt["area"][g_idx], crowd,
                              iou))
        for a, area_range in enumerate(AREA_RANGES.values()):
            # match once per image with the most detections; fewer detections are a prefix
            results = []
            for scores, dt_area, gt_area, crowd, iou in per_image:
                gt_ignore = crowd | (gt_area < area_range[0]) | (gt_area > area_range[1])
                matched, ignored = _match(iou, gt_ignore, crowd, dt_area, area_range, thresholds)
                results.append((scores, matched, ignored, int((~gt_ignore).sum())))
            n_gt = sum(r[3] for r in results)
            if n_gt == 0:
                continue  # no ground truth of this class in this range: -1, left out of the means
            for m, max_det in enumerate(max_detections):
                scores = np.concatenate([r[0][:max_det] for r in results])
                order = np.argsort(-scores, kind="mergesort")
                matched = np.concatenate([r[1][:, :max_det] for r in results], axis=1)[:, order]
                ignored = np.concatenate([r[2][:, :max_det] for r in results], axis=1)[:, order]
                tp = np.cumsum(matched & ~ignored, axis=1).astype(float)
                fp = np.cumsum(~matched & ~ignored, axis=1).astype(float)
                for t in range(n_t):
                    rc = tp[t] / n_gt
                    pr = tp[t] / (tp[t] + fp[t] + np.spacing(1))
                    recall[t, k, a, m] = rc[-1] if len(rc) else 0
                    # precision made non-increasing from right to left
                    pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
                    # read at the recall levels: the first point with recall >= level, else 0
                    at = np.searchsorted(rc, recall_levels, side="left")
                    inside = at < len(pr)
                    q = np.zeros(n_r)
                    q[inside] = pr[at[inside]]
                    s = np.zeros(n_r)
                    s[inside] = scores[order][at[inside]]
                    precision[t, :, k, a, m] = q
                    scores_at[t, :, k, a, m] = s
    return precision, recall, classes


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else -1.0


def mean_average_precision(
    preds: Sequence[dict],
    targets: Sequence[dict],
    iou_type: str = "bbox",
    *,
    iou_thresholds: Sequence[float] | None = None,
    rec_thresholds: Sequence[float] | None = None,
    max_detections: Sequence[int] = (1, 10, 100),
    class_metrics: bool = False,
) -> dict:
    """COCO mAP and mAR of detections (``"bbox"``) or instance masks (``"segm"``).

    Args:
        preds: one dict per image: ``boxes`` ``(N, 4)`` xyxy (for ``"bbox"``) or ``masks`` bool
            ``(N, H, W)`` (for ``"segm"``), ``scores`` ``(N,)``, ``labels`` ``(N,)`` int.
        targets: one dict per image: ``boxes`` or ``masks``, ``labels``, optional ``iscrowd``
            ``(N,)``.
        iou_type: ``"bbox"`` or ``"segm"``.
        iou_thresholds, rec_thresholds: default COCO's 0.50:0.05:0.95 and 0:0.01:1 (101 levels).
        max_detections: detections per image for the recall figures; the last one for AP (COCO:
            1, 10, 100).
        class_metrics: also return ``map_per_class`` and ``mar_<last>_per_class``.

    Returns:
        torchmetrics' key names: ``map``, ``map_50``, ``map_75``, ``map_small``, ``map_medium``,
        ``map_large``, ``mar_1``, ``mar_10``, ``mar_100``, ``mar_small``, ``mar_medium``,
        ``mar_large`` (float tensors; -1 where undefined, as COCOeval), ``classes``, and the raw
        ``precision`` array ``(T, R, K, A, M)`` and ``recall`` ``(T, K, A, M)`` (numpy, COCOeval's
        layout; area ranges all, small, medium, large) for plotting precision-recall curves.
    """
    _check_inputs(preds, targets, iou_type)
    thresholds = (COCO_IOU_THRESHOLDS if iou_thresholds is None
                  else np.asarray(iou_thresholds, dtype=float))
    levels = (COCO_RECALL_THRESHOLDS if rec_thresholds is None
              else np.asarray(rec_thresholds, dtype=float))
    max_detections = sorted(int(m) for m in max_detections)
    precision, recall, classes = _evaluate(preds, targets, iou_type, thresholds, levels,
                                           max_detections)
    last = len(max_detections) - 1
    areas = {name: a for a, name in enumerate(AREA_RANGES)}

    def ap(*, threshold=None, area="all"):
        p = precision[..., areas[area], last]
        if threshold is not None:
            p = p[np.isclose(thresholds, threshold)]
        return _mean_valid(p)

    def ar(*, area="all", m=last):
        return _mean_valid(recall[:, :, areas[area], m])

    result = {
        "map": ap(), "map_50": ap(threshold=0.5), "map_75": ap(threshold=0.75),
        "map_small": ap(area="small"), "map_medium": ap(area="medium"),
        "map_large": ap(area="large"),
    }
    for m, max_det in enumerate(max_detections):
        result[f"mar_{max_det}"] = ar(m=m)
    for area in ("small", "medium", "large"):
        result[f"mar_{area}"] = ar(area=area)
    result = {key: torch.tensor(value, dtype=torch.float32) for key, value in result.items()}
    result["classes"] = torch.tensor(classes, dtype=torch.int64)
    if class_metrics:
        result["map_per_class"] = torch.tensor([_mean_valid(precision[:, :, k, 0, last])
                                                for k in range(len(classes))])
        result[f"mar_{max_detections[-1]}_per_class"] = torch.tensor(
            [_mean_valid(recall[:, k, 0, last]) for k in range(len(classes))])
    result["precision"], result["recall"] = precision, recall
    result["iou_thresholds"] = thresholds
    return result


class MeanAveragePrecision:
    """COCO mAP accumulated over batches: ``update(preds, targets)`` each batch, then ``compute``.

    The state is the list of every image's predictions and targets (moved to the CPU); AP is
    not a sum of per-batch figures, so the whole evaluation runs in ``compute``. Arguments as
    :func:`mean_average_precision`.
    """

    def __init__(self, *, iou_type: str = "bbox", max_detections: Sequence[int] = (1, 10, 100),
                 class_metrics: bool = False) -> None:
        if iou_type not in ("bbox", "segm"):
            raise ValueError(f'iou_type must be "bbox" or "segm", got {iou_type!r}')
        self.iou_type, self.max_detections, self.class_metrics = (iou_type, tuple(max_detections),
                                                                  class_metrics)
        self.reset()

    def reset(self) -> None:
        self.preds: list[dict] = []
        self.targets: list[dict] = []

    def update(self, preds: Sequence[dict], targets: Sequence[dict]) -> None:
        _check_inputs(preds, targets, self.iou_type)

        def to_cpu(item: dict) -> dict:
            return {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v)
                    for k, v in item.items()}

        self.preds += [to_cpu(p) for p in preds]
        self.targets += [to_cpu(t) for t in targets]

    def compute(self) -> dict:
        return mean_average_precision(self.preds, self.targets, self.iou_type,
                                      max_detections=self.max_detections,
                                      class_metrics=self.class_metrics)
