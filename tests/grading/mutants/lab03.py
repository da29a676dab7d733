"""Lab 03's single-TODO mutants: answers a student could plausibly write.

A transposed confusion matrix, IoU 0 for an absent class, AP without the running maximum,
PQ at IoU >= 0.5, HD95 measured to the other mask, ...
Each replaces the functions it defines (the rest of the lab keeps the solution);
``tests/grading/test_lab_mutants.py`` grades it. The mutants were written from the TODOs' text
before the graded cells were read again, so the checks answer them.
"""

LAB = "03_metrics.ipynb"

# a variant of the solution, for the mutants that change one rule of a long function
_PQ03 = '''
def _pq_variant(pred, target, things, stuffs, *, at_half=False, any_category=False,
                all_categories=False, half=0.5):
    categories = sorted(set(things) | set(stuffs))
    iou_sum = dict.fromkeys(categories, 0.0)
    tp, fp, fn = (dict.fromkeys(categories, 0) for _ in range(3))
    for pred_map, target_map in zip(pred, target, strict=True):
        pred_segments = panoptic_segments(pred_map, things)
        gt_segments = panoptic_segments(target_map, things)
        matched = set()
        for (c, _), g in gt_segments.items():
            for key, p in pred_segments.items():
                if key[0] != c and not any_category:
                    continue
                if key in matched:
                    continue
                iou = float((g & p).sum()) / float((g | p).sum())
                if iou > 0.5 or (at_half and iou >= 0.5):
                    tp[c] += 1
                    iou_sum[c] += iou
                    matched.add(key)
                    break
            else:
                fn[c] += 1
        for key in pred_segments:
            if key not in matched:
                fp[key[0]] += 1
    pq, sq, rq = [], [], []
    for c in categories:
        if tp[c] + fp[c] + fn[c] == 0:
            if all_categories:
                pq.append(0.0), sq.append(0.0), rq.append(0.0)
            continue
        denominator = tp[c] + half * fp[c] + half * fn[c]
        pq.append(iou_sum[c] / denominator)
        sq.append(iou_sum[c] / tp[c] if tp[c] else 0.0)
        rq.append(tp[c] / denominator)
    if not pq:
        return {"pq": float("nan"), "sq": float("nan"), "rq": float("nan")}
    return {"pq": sum(pq) / len(pq), "sq": sum(sq) / len(sq), "rq": sum(rq) / len(rq)}
'''

# (name, source that replaces the student's function(s); the TODO is the one that defines them)
MUTANTS = [
    ('confusion matrix transposed (rows = prediction)', '''
def my_confusion_matrix(pred, target, num_classes, ignore_index=None):
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    counts = torch.bincount(pred * num_classes + target, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
'''),
    ('ignored pixels dropped where the prediction is ignore_index', '''
def my_confusion_matrix(pred, target, num_classes, ignore_index=None):
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    keep = (target >= 0) & (target < num_classes) & (pred >= 0) & (pred < num_classes)
    if ignore_index is not None:
        keep &= pred != ignore_index
    pred, target = pred[keep], target[keep]
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
'''),
    ('labels not converted to int64 (uint8 overflows in i C + j)', '''
def my_confusion_matrix(pred, target, num_classes, ignore_index=None):
    pred, target = pred.reshape(-1), target.reshape(-1)
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
'''),
    ('bincount without minlength', '''
def my_confusion_matrix(pred, target, num_classes, ignore_index=None):
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    return torch.bincount(target * num_classes + pred).reshape(num_classes, num_classes)
'''),
    ('IoU union without subtracting TP', '''
def iou_from_cm(cm):
    cm = cm.double()
    return cm.diagonal() / (cm.sum(dim=1) + cm.sum(dim=0))
'''),
    ('IoU 0 instead of NaN for an absent class', '''
def iou_from_cm(cm):
    cm = cm.double()
    intersection = cm.diagonal()
    return (intersection / (cm.sum(dim=1) + cm.sum(dim=0) - intersection)).nan_to_num(0.0)
'''),
    ('IoU as recall (TP / row sum)', '''
def iou_from_cm(cm):
    cm = cm.double()
    return cm.diagonal() / cm.sum(dim=1)
'''),
    ('Dice without the factor 2', '''
def dice_from_cm(cm):
    cm = cm.double()
    return cm.diagonal() / (cm.sum(dim=1) + cm.sum(dim=0))
'''),
    ('Dice 0 instead of NaN for an absent class', '''
def dice_from_cm(cm):
    cm = cm.double()
    return (2 * cm.diagonal() / (cm.sum(dim=1) + cm.sum(dim=0))).nan_to_num(0.0)
'''),
    ('pixel accuracy as the mean class recall', '''
def pixel_accuracy_from_cm(cm):
    cm = cm.double()
    return torch.nanmean(cm.diagonal() / cm.sum(dim=1))
'''),
    ('pixel accuracy 0 instead of NaN on an empty matrix', '''
def pixel_accuracy_from_cm(cm):
    cm = cm.double()
    return cm.diagonal().sum() / cm.sum().clamp(min=1)
'''),
    ('greedy match with IoU > threshold (strict)', '''
def greedy_match(iou, threshold=0.5):
    num_det, num_gt = iou.shape
    taken = torch.zeros(num_gt, dtype=torch.bool)
    is_tp = torch.zeros(num_det, dtype=torch.bool)
    if num_gt == 0:
        return is_tp
    for d in range(num_det):
        candidates = iou[d].masked_fill(taken, -1.0)
        best = int(candidates.argmax())
        if candidates[best] > threshold:
            taken[best] = True
            is_tp[d] = True
    return is_tp
'''),
    ('greedy match that lets two detections take one ground truth', '''
def greedy_match(iou, threshold=0.5):
    num_det, num_gt = iou.shape
    if num_gt == 0:
        return torch.zeros(num_det, dtype=torch.bool)
    return iou.max(dim=1).values >= threshold
'''),
    ('greedy match takes the first free ground truth above the threshold', '''
def greedy_match(iou, threshold=0.5):
    num_det, num_gt = iou.shape
    taken = torch.zeros(num_gt, dtype=torch.bool)
    is_tp = torch.zeros(num_det, dtype=torch.bool)
    for d in range(num_det):
        for g in range(num_gt):
            if not taken[g] and iou[d, g] >= threshold:
                taken[g] = True
                is_tp[d] = True
                break
    return is_tp
'''),
    ('greedy match crashes without ground truth', '''
def greedy_match(iou, threshold=0.5):
    num_det, num_gt = iou.shape
    taken = torch.zeros(num_gt, dtype=torch.bool)
    is_tp = torch.zeros(num_det, dtype=torch.bool)
    for d in range(num_det):
        candidates = iou[d].masked_fill(taken, -1.0)
        best = int(candidates.argmax())
        if candidates[best] >= threshold:
            taken[best] = True
            is_tp[d] = True
    return is_tp
'''),
    ('AP without the running maximum of precision', '''
def average_precision_101(scores, is_tp, num_gt):
    if num_gt == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    order = torch.argsort(scores, descending=True, stable=True)
    tp = is_tp[order].double()
    cum_tp, cum_fp = tp.cumsum(0), (1 - tp).cumsum(0)
    recall, precision = cum_tp / num_gt, cum_tp / (cum_tp + cum_fp)
    at = torch.searchsorted(recall, RECALL_LEVELS)
    reached = at < len(precision)
    sampled = torch.zeros(len(RECALL_LEVELS), dtype=torch.float64)
    sampled[reached] = precision[at[reached]]
    return sampled.mean()
'''),
    ('AP reads the first point with recall > r (searchsorted right)', '''
def average_precision_101(scores, is_tp, num_gt):
    if num_gt == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    order = torch.argsort(scores, descending=True, stable=True)
    tp = is_tp[order].double()
    cum_tp, cum_fp = tp.cumsum(0), (1 - tp).cumsum(0)
    recall, precision = cum_tp / num_gt, cum_tp / (cum_tp + cum_fp)
    precision = precision.flip(0).cummax(0).values.flip(0)
    at = torch.searchsorted(recall, RECALL_LEVELS, right=True)
    reached = at < len(precision)
    sampled = torch.zeros(len(RECALL_LEVELS), dtype=torch.float64)
    sampled[reached] = precision[at[reached]]
    return sampled.mean()
'''),
    ('AP averaged over the recall levels reached only', '''
def average_precision_101(scores, is_tp, num_gt):
    if num_gt == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    order = torch.argsort(scores, descending=True, stable=True)
    tp = is_tp[order].double()
    cum_tp, cum_fp = tp.cumsum(0), (1 - tp).cumsum(0)
    recall, precision = cum_tp / num_gt, cum_tp / (cum_tp + cum_fp)
    precision = precision.flip(0).cummax(0).values.flip(0)
    at = torch.searchsorted(recall, RECALL_LEVELS)
    reached = at < len(precision)
    return precision[at[reached]].mean()
'''),
    ('AP with ties in reverse order (ascending sort, flipped)', '''
def average_precision_101(scores, is_tp, num_gt):
    if num_gt == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    order = torch.argsort(scores, stable=True).flip(0)
    tp = is_tp[order].double()
    cum_tp, cum_fp = tp.cumsum(0), (1 - tp).cumsum(0)
    recall, precision = cum_tp / num_gt, cum_tp / (cum_tp + cum_fp)
    precision = precision.flip(0).cummax(0).values.flip(0)
    at = torch.searchsorted(recall, RECALL_LEVELS)
    reached = at < len(precision)
    sampled = torch.zeros(len(RECALL_LEVELS), dtype=torch.float64)
    sampled[reached] = precision[at[reached]]
    return sampled.mean()
'''),
    ('AP 0 instead of NaN without ground truth', '''
_right_ap = average_precision_101
def average_precision_101(scores, is_tp, num_gt):
    if num_gt == 0:
        return torch.tensor(0.0, dtype=torch.float64)
    return _right_ap(scores, is_tp, num_gt)
'''),
    ('AP of images matched in the given order, not by score', '''
def average_precision(preds, targets, threshold=0.5):
    all_scores, all_tp, num_gt = [], [], 0
    for pred, target in zip(preds, targets, strict=True):
        iou = box_iou(pred["boxes"], target["boxes"])
        all_tp.append(greedy_match(iou, threshold))
        all_scores.append(pred["scores"])
        num_gt += len(target["boxes"])
    return average_precision_101(torch.cat(all_scores), torch.cat(all_tp), num_gt)
'''),
    ('AP counting the ground truth of images with detections only', '''
def average_precision(preds, targets, threshold=0.5):
    all_scores, all_tp, num_gt = [], [], 0
    for pred, target in zip(preds, targets, strict=True):
        order = torch.argsort(pred["scores"], descending=True, stable=True)
        iou = box_iou(pred["boxes"][order], target["boxes"])
        all_tp.append(greedy_match(iou, threshold))
        all_scores.append(pred["scores"][order])
        if len(pred["boxes"]):
            num_gt += len(target["boxes"])
    return average_precision_101(torch.cat(all_scores), torch.cat(all_tp), num_gt)
'''),
    ('stuff split by its instance ids', '''
def panoptic_segments(panoptic, things):
    category, instance = panoptic[..., 0], panoptic[..., 1]
    segments = {}
    for c in category.unique().tolist():
        in_c = category == c
        for i in instance[in_c].unique().tolist():
            segments[(c, i)] = in_c & (instance == i)
    return segments
'''),
    ('thing segments by instance id alone (ids shared across categories)', '''
def panoptic_segments(panoptic, things):
    category, instance = panoptic[..., 0], panoptic[..., 1]
    segments = {}
    for c in category.unique().tolist():
        in_c = category == c
        if c in things:
            for i in instance[in_c].unique().tolist():
                segments[(c, i)] = instance == i
        else:
            segments[(c, 0)] = in_c
    return segments
'''),
    ('PQ matches at IoU >= 0.5', _PQ03 + '''
def my_panoptic_quality(pred, target, things, stuffs):
    return _pq_variant(pred, target, things, stuffs, at_half=True)
'''),
    ('PQ matches segments of different categories', _PQ03 + '''
def my_panoptic_quality(pred, target, things, stuffs):
    return _pq_variant(pred, target, things, stuffs, any_category=True)
'''),
    ('PQ averaged over every category, absent ones as 0', _PQ03 + '''
def my_panoptic_quality(pred, target, things, stuffs):
    return _pq_variant(pred, target, things, stuffs, all_categories=True)
'''),
    ('PQ per image, then averaged over images', _PQ03 + '''
def my_panoptic_quality(pred, target, things, stuffs):
    parts = [_pq_variant(p[None], t[None], things, stuffs) for p, t in zip(pred, target,
                                                                           strict=True)]
    return {key: sum(part[key] for part in parts) / len(parts) for key in ("pq", "sq", "rq")}
'''),
    ('PQ with FP and FN weighted 1, not 1/2', _PQ03 + '''
def my_panoptic_quality(pred, target, things, stuffs):
    return _pq_variant(pred, target, things, stuffs, half=1.0)
'''),
    ('HD95 measured to the other mask, not its surface', '''
def my_hd95(pred, target, spacing):
    d_pt = my_directed_distances(my_surface(pred), np.asarray(target, bool), spacing)
    d_tp = my_directed_distances(my_surface(target), np.asarray(pred, bool), spacing)
    return float(max(np.percentile(d_pt, 95), np.percentile(d_tp, 95)))
'''),
    ('NSD measured to the other mask, not its surface', '''
def my_nsd(pred, target, tolerance, spacing):
    d_pt = my_directed_distances(my_surface(pred), np.asarray(target, bool), spacing)
    d_tp = my_directed_distances(my_surface(target), np.asarray(pred, bool), spacing)
    return float(((d_pt <= tolerance).sum() + (d_tp <= tolerance).sum()) / (len(d_pt) + len(d_tp)))
'''),
    ('surface as the outer ring (dilation minus the mask)', '''
def my_surface(mask):
    mask = np.asarray(mask, dtype=bool)
    return ndimage.binary_dilation(mask) & ~mask
'''),
    ('surface of the 8-neighbourhood', '''
def my_surface(mask):
    mask = np.asarray(mask, dtype=bool)
    return mask & ~ndimage.binary_erosion(mask, structure=np.ones((3,) * mask.ndim))
'''),
    ('directed distances with the spacing axes reversed', '''
def my_directed_distances(surface_from, surface_to, spacing):
    return ndimage.distance_transform_edt(~surface_to, sampling=tuple(spacing)[::-1])[surface_from]
'''),
    ('NSD with a strict < tolerance', '''
def my_nsd(pred, target, tolerance, spacing):
    sp, st = my_surface(pred), my_surface(target)
    d_pt, d_tp = my_directed_distances(sp, st, spacing), my_directed_distances(st, sp, spacing)
    return float(((d_pt < tolerance).sum() + (d_tp < tolerance).sum()) / (len(d_pt) + len(d_tp)))
'''),
    # --- one slip per item of each TODO's contract, written before its check
    ('ignore_index 0 taken for None (`if ignore_index:`)', '''
def my_confusion_matrix(pred, target, num_classes, ignore_index=None):
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
'''),
    ("ignored pixels relabelled in the caller's target", '''
def my_confusion_matrix(pred, target, num_classes, ignore_index=None):
    if ignore_index is not None:
        target[target == ignore_index] = num_classes  # an extra row, cut off below
    counts = torch.bincount(target.reshape(-1).long() * num_classes + pred.reshape(-1).long(),
                            minlength=(num_classes + 1) * num_classes)
    return counts[:num_classes * num_classes].reshape(num_classes, num_classes)
'''),
    ("taken ground truths marked in the caller's IoU matrix", '''
def greedy_match(iou, threshold=0.5):
    num_det, num_gt = iou.shape
    taken = torch.zeros(num_gt, dtype=torch.bool)
    is_tp = torch.zeros(num_det, dtype=torch.bool)
    if num_gt == 0:
        return is_tp
    for d in range(num_det):
        candidates = iou[d]
        best = int(candidates.argmax())
        if candidates[best] >= threshold:
            taken[best] = True
            iou[:, best] = -1.0  # taken: no later detection may have it
            is_tp[d] = True
    return is_tp
'''),
    ('greedy match with the threshold fixed at 0.5', '''
def greedy_match(iou, threshold=0.5):
    num_det, num_gt = iou.shape
    taken = torch.zeros(num_gt, dtype=torch.bool)
    is_tp = torch.zeros(num_det, dtype=torch.bool)
    if num_gt == 0:
        return is_tp
    for d in range(num_det):
        candidates = iou[d].masked_fill(taken, -1.0)
        best = int(candidates.argmax())
        if candidates[best] >= 0.5:
            taken[best] = True
            is_tp[d] = True
    return is_tp
'''),
    ('matches returned as 0/1 ints, not bool', '''
def greedy_match(iou, threshold=0.5):
    num_det, num_gt = iou.shape
    taken = torch.zeros(num_gt, dtype=torch.bool)
    is_tp = torch.zeros(num_det, dtype=torch.long)
    if num_gt == 0:
        return is_tp
    for d in range(num_det):
        candidates = iou[d].masked_fill(taken, -1.0)
        best = int(candidates.argmax())
        if candidates[best] >= threshold:
            taken[best] = True
            is_tp[d] = True
    return is_tp
'''),
    ('AP in float32', '''
def average_precision_101(scores, is_tp, num_gt):
    if num_gt == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    order = torch.argsort(scores, descending=True, stable=True)
    tp = is_tp[order].float()
    cum_tp, cum_fp = tp.cumsum(0), (1 - tp).cumsum(0)
    recall = cum_tp / num_gt
    precision = (cum_tp / (cum_tp + cum_fp)).flip(0).cummax(0).values.flip(0)
    at = torch.searchsorted(recall, RECALL_LEVELS)
    reached = at < len(precision)
    sampled = torch.zeros(len(RECALL_LEVELS))
    sampled[reached] = precision[at[reached]].float()
    return sampled.mean()
'''),
    ('AP with the threshold not passed on to the matching', '''
def average_precision(preds, targets, threshold=0.5):
    all_scores, all_tp, num_gt = [], [], 0
    for pred, target in zip(preds, targets, strict=True):
        order = torch.argsort(pred["scores"], descending=True, stable=True)
        iou = box_iou(pred["boxes"][order], target["boxes"])
        all_tp.append(greedy_match(iou))
        all_scores.append(pred["scores"][order])
        num_gt += len(target["boxes"])
    return average_precision_101(torch.cat(all_scores), torch.cat(all_tp), num_gt)
'''),
    ("detections sorted in the caller's dicts", '''
def average_precision(preds, targets, threshold=0.5):
    all_scores, all_tp, num_gt = [], [], 0
    for pred, target in zip(preds, targets, strict=True):
        order = torch.argsort(pred["scores"], descending=True, stable=True)
        pred["boxes"], pred["scores"] = pred["boxes"][order], pred["scores"][order]
        order = torch.arange(len(order))
        iou = box_iou(pred["boxes"][order], target["boxes"])
        all_tp.append(greedy_match(iou, threshold))
        all_scores.append(pred["scores"][order])
        num_gt += len(target["boxes"])
    return average_precision_101(torch.cat(all_scores), torch.cat(all_tp), num_gt)
'''),
    ('segments as 0/1 int masks, not bool', '''
def panoptic_segments(panoptic, things):
    category, instance = panoptic[..., 0], panoptic[..., 1]
    segments = {}
    for c in category.unique().tolist():
        in_c = (category == c).long()
        if c in things:
            for i in instance[in_c.bool()].unique().tolist():
                segments[(c, i)] = in_c * (instance == i).long()
        else:
            segments[(c, 0)] = in_c
    return segments
'''),
    ('PQ matched by equal (category, instance) keys: assumes equal ids', '''
def my_panoptic_quality(pred, target, things, stuffs):
    categories = sorted(set(things) | set(stuffs))
    iou_sum = dict.fromkeys(categories, 0.0)
    tp, fp, fn = (dict.fromkeys(categories, 0) for _ in range(3))
    for pred_map, target_map in zip(pred, target, strict=True):
        pred_segments = panoptic_segments(pred_map, things)
        gt_segments = panoptic_segments(target_map, things)
        matched = set()
        for key, g in gt_segments.items():
            p = pred_segments.get(key)  # the segment with the same (category, instance)
            iou = float((g & p).sum()) / float((g | p).sum()) if p is not None else 0.0
            if iou > 0.5:
                tp[key[0]] += 1
                iou_sum[key[0]] += iou
                matched.add(key)
            else:
                fn[key[0]] += 1
        for key in pred_segments:
            if key not in matched:
                fp[key[0]] += 1
    pq, sq, rq = [], [], []
    for c in categories:
        if tp[c] + fp[c] + fn[c] == 0:
            continue
        denominator = tp[c] + 0.5 * fp[c] + 0.5 * fn[c]
        pq.append(iou_sum[c] / denominator)
        sq.append(iou_sum[c] / tp[c] if tp[c] else 0.0)
        rq.append(tp[c] / denominator)
    if not pq:
        return {"pq": float("nan"), "sq": float("nan"), "rq": float("nan")}
    return {"pq": sum(pq) / len(pq), "sq": sum(sq) / len(sq), "rq": sum(rq) / len(rq)}
'''),
    ('surface of a 0/1 integer mask returned as ints', '''
def my_surface(mask):
    return mask & ~ndimage.binary_erosion(mask)
'''),
    # second round: a slip for each contract item still without one
    ('confusion matrix returned as int32 counts', '''
def my_confusion_matrix(pred, target, num_classes, ignore_index=None):
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).int()
'''),
    ('confusion matrix of the first map of the batch only', '''
def my_confusion_matrix(pred, target, num_classes, ignore_index=None):
    if pred.dim() == 3:
        pred, target = pred[0], target[0]
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
'''),
    ('greedy match crashes without detections (max of the empty matrix)', '''
def greedy_match(iou, threshold=0.5):
    num_det, num_gt = iou.shape
    taken = torch.zeros(num_gt, dtype=torch.bool)
    is_tp = torch.zeros(num_det, dtype=torch.bool)
    if num_gt == 0 or iou.max() < threshold:
        return is_tp
    for d in range(num_det):
        candidates = iou[d].masked_fill(taken, -1.0)
        best = int(candidates.argmax())
        if candidates[best] >= threshold:
            taken[best] = True
            is_tp[d] = True
    return is_tp
'''),
    ('AP returned as a Python float', '''
def average_precision_101(scores, is_tp, num_gt):
    if num_gt == 0:
        return float("nan")
    order = torch.argsort(scores, descending=True, stable=True)
    tp = is_tp[order].double()
    cum_tp, cum_fp = tp.cumsum(0), (1 - tp).cumsum(0)
    recall = cum_tp / num_gt
    precision = cum_tp / (cum_tp + cum_fp)
    precision = precision.flip(0).cummax(0).values.flip(0)
    at = torch.searchsorted(recall, RECALL_LEVELS)
    reached = at < len(precision)
    sampled = torch.zeros(len(RECALL_LEVELS), dtype=torch.float64)
    sampled[reached] = precision[at[reached]]
    return float(sampled.mean())
'''),
    ('AP assumes the scores already sorted', '''
def average_precision_101(scores, is_tp, num_gt):
    if num_gt == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    tp = is_tp.double()
    cum_tp, cum_fp = tp.cumsum(0), (1 - tp).cumsum(0)
    recall = cum_tp / num_gt
    precision = cum_tp / (cum_tp + cum_fp)
    precision = precision.flip(0).cummax(0).values.flip(0)
    at = torch.searchsorted(recall, RECALL_LEVELS)
    reached = at < len(precision)
    sampled = torch.zeros(len(RECALL_LEVELS), dtype=torch.float64)
    sampled[reached] = precision[at[reached]]
    return sampled.mean()
'''),
    ("AP sorts the caller's scores in place", '''
def average_precision_101(scores, is_tp, num_gt):
    if num_gt == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    order = torch.argsort(scores, descending=True, stable=True)
    scores[:] = scores[order].clone()
    is_tp[:] = is_tp[order].clone()
    tp = is_tp.double()
    cum_tp, cum_fp = tp.cumsum(0), (1 - tp).cumsum(0)
    recall = cum_tp / num_gt
    precision = cum_tp / (cum_tp + cum_fp)
    precision = precision.flip(0).cummax(0).values.flip(0)
    at = torch.searchsorted(recall, RECALL_LEVELS)
    reached = at < len(precision)
    sampled = torch.zeros(len(RECALL_LEVELS), dtype=torch.float64)
    sampled[reached] = precision[at[reached]]
    return sampled.mean()
'''),
    ('thing instance 0 taken for no instance (left out)', '''
def panoptic_segments(panoptic, things):
    category, instance = panoptic[..., 0], panoptic[..., 1]
    segments = {}
    for c in category.unique().tolist():
        in_c = category == c
        if c in things:
            for i in instance[in_c].unique().tolist():
                if i == 0:
                    continue
                segments[(c, i)] = in_c & (instance == i)
        else:
            segments[(c, 0)] = in_c
    return segments
'''),
    ('segment keys as 0-dim tensors, not Python ints', '''
def panoptic_segments(panoptic, things):
    category, instance = panoptic[..., 0], panoptic[..., 1]
    segments = {}
    for c in category.unique():
        in_c = category == c
        if int(c) in things:
            for i in instance[in_c].unique():
                segments[(c, i)] = in_c & (instance == i)
        else:
            segments[(c, 0)] = in_c
    return segments
'''),
    ('PQ of the batch as one tall image', _PQ03 + '''
def my_panoptic_quality(pred, target, things, stuffs):
    tall_pred = pred.reshape(1, -1, pred.shape[-2], 2)  # (1, B H, W, 2)
    tall_target = target.reshape(1, -1, target.shape[-2], 2)
    return _pq_variant(tall_pred, tall_target, things, stuffs)
'''),
    ('PQ 0 when no category occurs', _PQ03 + '''
def my_panoptic_quality(pred, target, things, stuffs):
    result = _pq_variant(pred, target, things, stuffs)
    return {k: (0.0 if v != v else v) for k, v in result.items()}
'''),
    ('surface with outside the array taken as mask (border_value=1)', '''
def my_surface(mask):
    mask = np.asarray(mask, dtype=bool)
    return mask & ~ndimage.binary_erosion(mask, border_value=1)
'''),
    ('surface with a 2-D cross only', '''
def my_surface(mask):
    mask = np.asarray(mask, dtype=bool)
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
    return mask & ~ndimage.binary_erosion(mask, structure=cross)
'''),
    ('HD95 returned as a NumPy float64', '''
def my_hd95(pred, target, spacing):
    surface_pred, surface_target = my_surface(pred), my_surface(target)
    d_pt = my_directed_distances(surface_pred, surface_target, spacing)
    d_tp = my_directed_distances(surface_target, surface_pred, spacing)
    return max(np.percentile(d_pt, 95), np.percentile(d_tp, 95))
'''),
    ('NSD returned as a NumPy float64', '''
def my_nsd(pred, target, tolerance, spacing):
    surface_pred, surface_target = my_surface(pred), my_surface(target)
    d_pt = my_directed_distances(surface_pred, surface_target, spacing)
    d_tp = my_directed_distances(surface_target, surface_pred, spacing)
    within = (d_pt <= tolerance).sum() + (d_tp <= tolerance).sum()
    return within / (len(d_pt) + len(d_tp))
'''),
    ('HD95 of the pooled distances (one percentile of both directions)', '''
def my_hd95(pred, target, spacing):
    surface_pred, surface_target = my_surface(pred), my_surface(target)
    d_pt = my_directed_distances(surface_pred, surface_target, spacing)
    d_tp = my_directed_distances(surface_target, surface_pred, spacing)
    return float(np.percentile(np.concatenate([d_pt, d_tp]), 95))
'''),
    ('IoU by integer division of the counts', '''
def iou_from_cm(cm):
    intersection = cm.diagonal()
    union = cm.sum(dim=1) + cm.sum(dim=0) - intersection
    return torch.div(intersection, union, rounding_mode="floor")
'''),
    ('greedy match made optimal (linear_sum_assignment)', '''
def greedy_match(iou, threshold=0.5):
    from scipy.optimize import linear_sum_assignment
    is_tp = torch.zeros(iou.shape[0], dtype=torch.bool)
    if iou.numel() == 0:
        return is_tp
    rows, cols = linear_sum_assignment(iou.numpy(), maximize=True)
    for d, g in zip(rows.tolist(), cols.tolist()):
        if iou[d, g] >= threshold:
            is_tp[d] = True
    return is_tp
'''),
    ('directed distances without the spacing (in pixels)', '''
def my_directed_distances(surface_from, surface_to, spacing):
    return ndimage.distance_transform_edt(~surface_to)[surface_from]
'''),
]
