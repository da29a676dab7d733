"""Lab 07's single-TODO mutants: answers a student could plausibly write.

Stuff split by its instance ids, void not left out of the union, PQ per image, a cost
without the +1, a brute force without the Q < M case, a merge that breaks ties backwards, ...
Each replaces the functions it defines (the rest of the lab keeps the solution);
``tests/grading/test_lab_mutants.py`` grades it. The mutants were written from the TODOs' text
before the graded cells were read again, so the checks answer them.
"""

LAB = "07_panoptic.ipynb"

# a variant of the solution, for the mutants that change one rule of a long function
_PQ07 = '''
def _pq07_variant(pred, target, things, stuffs, *, void_rule=True, all_categories=False,
                  half_void_ignored=False):
    if pred.ndim == 3:
        pred, target = pred[None], target[None]
    categories = [*things, *stuffs]
    iou_sum = dict.fromkeys(categories, 0.0)
    tp, fp, fn = (dict.fromkeys(categories, 0) for _ in range(3))
    for pred_image, target_image in zip(pred, target, strict=True):
        gt_segments = my_segments(target_image, things, stuffs)
        pred_segments = my_segments(pred_image, things, stuffs)
        void = ~torch.isin(target_image[..., 0], torch.tensor(categories))
        matches = my_match(pred_image, target_image, things, stuffs)
        for gt_key, _, iou in matches:
            iou_sum[gt_key[0]] += iou
            tp[gt_key[0]] += 1
        matched_gt = {g for g, _, _ in matches}
        matched_pred = {p for _, p, _ in matches}
        for key in gt_segments:
            if key not in matched_gt:
                fn[key[0]] += 1
        for key, mask in pred_segments.items():
            on_void, area = 2 * int((mask & void).sum()), int(mask.sum())
            ignored = on_void >= area if half_void_ignored else on_void > area
            if key not in matched_pred and not (void_rule and ignored):
                fp[key[0]] += 1
    per_class = {}
    for c in categories:
        if tp[c] + fp[c] + fn[c] == 0:
            if all_categories:
                per_class[c] = {"pq": 0.0, "sq": 0.0, "rq": 0.0}
            continue
        denominator = tp[c] + 0.5 * fp[c] + 0.5 * fn[c]
        per_class[c] = {"pq": iou_sum[c] / denominator, "sq": iou_sum[c] / tp[c] if tp[c] else 0.0,
                        "rq": tp[c] / denominator}
    mean = lambda key: sum(v[key] for v in per_class.values()) / len(per_class)  # noqa: E731
    return {"pq": mean("pq"), "sq": mean("sq"), "rq": mean("rq"), "per_class": per_class}
'''

# a variant of the solution, for the mutants that change one rule of a long function
_COMBINE = '''
def _combine_variant(semantic, masks, scores, labels, *, thing_categories, stuff_categories,
                     score_thresh=0.5, overlap_thresh=0.5, stuff_area_thresh=64, void=-1,
                     overlap_ge=False, stuff_gt=False, reverse_ties=False, index_ids=False,
                     stuff_over=False, score_le=False):
    category = torch.full(semantic.shape, void, dtype=torch.int64)
    instance = torch.zeros(semantic.shape, dtype=torch.int64)
    taken = torch.zeros(semantic.shape, dtype=torch.bool)
    next_id = 1
    if reverse_ties:
        order = torch.argsort(scores, stable=True).flip(0).tolist()
    else:
        order = torch.argsort(scores, descending=True, stable=True).tolist()
    for i in order:
        if scores[i] < score_thresh or (score_le and scores[i] <= score_thresh):
            break
        area = int(masks[i].sum())
        if area == 0:
            continue
        overlap = int((masks[i] & taken).sum()) / area
        if overlap > overlap_thresh or (overlap_ge and overlap >= overlap_thresh):
            continue
        free = masks[i] & ~taken
        category[free] = thing_categories[int(labels[i])]
        instance[free] = i + 1 if index_ids else next_id
        taken |= free
        next_id += 1
    for k in torch.unique(semantic).tolist():
        if k == 0:
            continue
        free = (semantic == k) if stuff_over else (semantic == k) & ~taken
        area = int(free.sum())
        if area > stuff_area_thresh or (not stuff_gt and area == stuff_area_thresh):
            category[free] = stuff_categories[k]
            instance[free] = 0
            taken |= free
    return torch.stack([category, instance], dim=-1)
'''

# (name, source that replaces the student's function(s); the TODO is the one that defines them)
MUTANTS = [
    ('stuff split by instance ids', '''
def my_segments(panoptic, things, stuffs):
    category, instance = panoptic[..., 0], panoptic[..., 1]
    segments = {}
    for c in torch.unique(category).tolist():
        if c in things or c in stuffs:
            for i in torch.unique(instance[category == c]).tolist():
                segments[(c, i if c in things else 0)] = (category == c) & (instance == i)
    return segments
'''),
    ('void categories kept as stuff', '''
def my_segments(panoptic, things, stuffs):
    category, instance = panoptic[..., 0], panoptic[..., 1]
    segments = {}
    for c in torch.unique(category).tolist():
        if c in things:
            for i in torch.unique(instance[category == c]).tolist():
                segments[(c, i)] = (category == c) & (instance == i)
        else:
            segments[(c, 0)] = category == c
    return segments
'''),
    ('thing segments by instance id across categories', '''
def my_segments(panoptic, things, stuffs):
    category, instance = panoptic[..., 0], panoptic[..., 1]
    segments = {}
    for c in torch.unique(category).tolist():
        if c in stuffs:
            segments[(c, 0)] = category == c
        elif c in things:
            for i in torch.unique(instance[category == c]).tolist():
                segments[(c, i)] = instance == i
    return segments
'''),
    ('keys as tensors, not Python ints', '''
def my_segments(panoptic, things, stuffs):
    category, instance = panoptic[..., 0], panoptic[..., 1]
    segments = {}
    for c in torch.unique(category):
        if int(c) in stuffs:
            segments[(c, torch.tensor(0))] = category == c
        elif int(c) in things:
            for i in torch.unique(instance[category == c]):
                segments[(c, i)] = (category == c) & (instance == i)
    return segments
'''),
    ('segment IoU without leaving out the void', '''
def segment_iou(gt, pred, void):
    intersection = int((gt & pred).sum())
    return intersection / (int(gt.sum()) + int(pred.sum()) - intersection)
'''),
    ('segment IoU leaves out the ground truth on void (none)', '''
def segment_iou(gt, pred, void):
    intersection = int((gt & pred).sum())
    return intersection / (int(gt.sum()) + int(pred.sum()) - intersection - int((gt & void).sum()))
'''),
    ('matching at IoU >= 0.5', '''
def my_match(pred, target, things, stuffs):
    gt_segments, pred_segments = my_segments(target, things, stuffs), my_segments(pred, things,
                                                                                  stuffs)
    void = ~torch.isin(target[..., 0], torch.tensor([*things, *stuffs]))
    return [(g, p, iou) for g, gm in gt_segments.items() for p, pm in pred_segments.items()
            if g[0] == p[0] and (iou := segment_iou(gm, pm, void)) >= 0.5]
'''),
    ('matching across categories', '''
def my_match(pred, target, things, stuffs):
    gt_segments, pred_segments = my_segments(target, things, stuffs), my_segments(pred, things,
                                                                                  stuffs)
    void = ~torch.isin(target[..., 0], torch.tensor([*things, *stuffs]))
    return [(g, p, iou) for g, gm in gt_segments.items() for p, pm in pred_segments.items()
            if (iou := segment_iou(gm, pm, void)) > 0.5]
'''),
    ('void taken from the prediction', '''
def my_match(pred, target, things, stuffs):
    gt_segments, pred_segments = my_segments(target, things, stuffs), my_segments(pred, things,
                                                                                  stuffs)
    void = ~torch.isin(pred[..., 0], torch.tensor([*things, *stuffs]))
    return [(g, p, iou) for g, gm in gt_segments.items() for p, pm in pred_segments.items()
            if g[0] == p[0] and (iou := segment_iou(gm, pm, void)) > 0.5]
'''),
    ('PQ counts predictions mostly on void as FP', _PQ07 + '''
def my_pq(pred, target, things, stuffs):
    return _pq07_variant(pred, target, things, stuffs, void_rule=False)
'''),
    ('PQ per image, averaged over images', _PQ07 + '''
def my_pq(pred, target, things, stuffs):
    if pred.ndim == 3:
        pred, target = pred[None], target[None]
    parts = [_pq07_variant(p, t, things, stuffs) for p, t in zip(pred, target, strict=True)]
    out = {key: sum(part[key] for part in parts) / len(parts) for key in ("pq", "sq", "rq")}
    out["per_class"] = parts[0]["per_class"]
    return out
'''),
    ('PQ averaged over every category, absent ones as 0', _PQ07 + '''
def my_pq(pred, target, things, stuffs):
    return _pq07_variant(pred, target, things, stuffs, all_categories=True)
'''),
    ('PQ ignores predictions half on void (>= instead of >)', _PQ07 + '''
def my_pq(pred, target, things, stuffs):
    return _pq07_variant(pred, target, things, stuffs, half_void_ignored=True)
'''),
    ('cost without the +1 smoothing', '''
def my_cost_matrix(class_logits, mask_logits, labels, masks, *, class_weight=2.0, dice_weight=5.0):
    class_cost = -class_logits.softmax(-1)[:, labels]
    p = mask_logits.flatten(1).sigmoid()
    g = masks.flatten(1).to(p.dtype)
    dice = 1 - (2 * p @ g.T) / (p.sum(-1)[:, None] + g.sum(-1)[None, :])
    return class_weight * class_cost + dice_weight * dice
'''),
    ('cost with the class probability added', '''
def my_cost_matrix(class_logits, mask_logits, labels, masks, *, class_weight=2.0, dice_weight=5.0):
    class_cost = class_logits.softmax(-1)[:, labels]
    p = mask_logits.flatten(1).sigmoid()
    g = masks.flatten(1).to(p.dtype)
    dice = 1 - (2 * p @ g.T + 1) / (p.sum(-1)[:, None] + g.sum(-1)[None, :] + 1)
    return class_weight * class_cost + dice_weight * dice
'''),
    ('cost with the mask logits, not their sigmoid', '''
def my_cost_matrix(class_logits, mask_logits, labels, masks, *, class_weight=2.0, dice_weight=5.0):
    class_cost = -class_logits.softmax(-1)[:, labels]
    p = mask_logits.flatten(1)
    g = masks.flatten(1).to(p.dtype)
    dice = 1 - (2 * p @ g.T + 1) / (p.sum(-1)[:, None] + g.sum(-1)[None, :] + 1)
    return class_weight * class_cost + dice_weight * dice
'''),
    ('cost with the softmax over the predictions', '''
def my_cost_matrix(class_logits, mask_logits, labels, masks, *, class_weight=2.0, dice_weight=5.0):
    class_cost = -class_logits.softmax(0)[:, labels]
    p = mask_logits.flatten(1).sigmoid()
    g = masks.flatten(1).to(p.dtype)
    dice = 1 - (2 * p @ g.T + 1) / (p.sum(-1)[:, None] + g.sum(-1)[None, :] + 1)
    return class_weight * class_cost + dice_weight * dice
'''),
    ('Hungarian maximising the cost', '''
def my_assignment(cost):
    rows, cols = linear_sum_assignment(cost.detach().cpu().double().numpy(), maximize=True)
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)
'''),
    ('Hungarian indices as int32', '''
def my_assignment(cost):
    rows, cols = linear_sum_assignment(cost.detach().cpu().double().numpy())
    return torch.as_tensor(rows, dtype=torch.int32), torch.as_tensor(cols, dtype=torch.int32)
'''),
    ('brute force without the Q < M case', '''
def brute_force_assignment(cost):
    q, m = cost.shape
    values = cost.detach().cpu().double().tolist()
    best, best_preds = math.inf, ()
    for preds in itertools.permutations(range(q), m):
        total = sum(values[i][j] for j, i in enumerate(preds))
        if total < best:
            best, best_preds = total, preds
    pairs = sorted(zip(best_preds, range(m), strict=True))
    return (torch.tensor([i for i, _ in pairs], dtype=torch.int64),
            torch.tensor([j for _, j in pairs], dtype=torch.int64))
'''),
    ('brute force in segment order, not sorted by prediction', '''
def brute_force_assignment(cost):
    q, m = cost.shape
    if q < m:
        cols, rows = brute_force_assignment(cost.T)
        return rows, cols
    values = cost.detach().cpu().double().tolist()
    best, best_preds = math.inf, ()
    for preds in itertools.permutations(range(q), m):
        total = sum(values[i][j] for j, i in enumerate(preds))
        if total < best:
            best, best_preds = total, preds
    return torch.tensor(list(best_preds), dtype=torch.int64), torch.arange(m, dtype=torch.int64)
'''),
    ('merge: duplicates dropped at overlap >= threshold', _COMBINE + '''
def my_combine(semantic, masks, scores, labels, **kw):
    return _combine_variant(semantic, masks, scores, labels, overlap_ge=True, **kw)
'''),
    ('merge: stuff kept only above the area threshold (>)', _COMBINE + '''
def my_combine(semantic, masks, scores, labels, **kw):
    return _combine_variant(semantic, masks, scores, labels, stuff_gt=True, **kw)
'''),
    ('merge: ties in score taken in reverse order', _COMBINE + '''
def my_combine(semantic, masks, scores, labels, **kw):
    return _combine_variant(semantic, masks, scores, labels, reverse_ties=True, **kw)
'''),
    ('merge: instance id = detection index + 1', _COMBINE + '''
def my_combine(semantic, masks, scores, labels, **kw):
    return _combine_variant(semantic, masks, scores, labels, index_ids=True, **kw)
'''),
    ('merge: stuff painted over the things', _COMBINE + '''
def my_combine(semantic, masks, scores, labels, **kw):
    return _combine_variant(semantic, masks, scores, labels, stuff_over=True, **kw)
'''),
    ('merge: a detection at exactly score_thresh dropped', _COMBINE + '''
def my_combine(semantic, masks, scores, labels, **kw):
    return _combine_variant(semantic, masks, scores, labels, score_le=True, **kw)
'''),
    ('train step without clipping', '''
def train_step(model, optimizer, images, targets, max_norm=10.0):
    model.train()
    losses = model(images, targets)
    optimizer.zero_grad()
    sum(losses.values()).backward()
    optimizer.step()
    return {name: value.item() for name, value in losses.items()}
'''),
    ('train step clipping before backward', '''
def train_step(model, optimizer, images, targets, max_norm=10.0):
    model.train()
    losses = model(images, targets)
    optimizer.zero_grad()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    sum(losses.values()).backward()
    optimizer.step()
    return {name: value.item() for name, value in losses.items()}
'''),
    ('train step clipping each parameter on its own', '''
def train_step(model, optimizer, images, targets, max_norm=10.0):
    model.train()
    losses = model(images, targets)
    optimizer.zero_grad()
    sum(losses.values()).backward()
    for parameter in model.parameters():
        torch.nn.utils.clip_grad_norm_([parameter], max_norm)
    optimizer.step()
    return {name: value.item() for name, value in losses.items()}
'''),
    ('train step without zero_grad', '''
def train_step(model, optimizer, images, targets, max_norm=10.0):
    model.train()
    losses = model(images, targets)
    sum(losses.values()).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return {name: value.item() for name, value in losses.items()}
'''),
    # the contracts of the TODOs' docstrings: ids, instance 0, inputs untouched, dtypes
    ('segments: instance 0 of a thing taken for the background', '''
def my_segments(panoptic, things, stuffs):
    category, instance = panoptic[..., 0], panoptic[..., 1]
    segments = {}
    for c in torch.unique(category).tolist():
        if c in stuffs:
            segments[(c, 0)] = category == c
        elif c in things:
            for i in torch.unique(instance[category == c]).tolist():
                if i == 0:
                    continue  # 0: no object
                segments[(c, i)] = (category == c) & (instance == i)
    return segments
'''),
    ("segments: the stuff ids cleared in the map given", '''
def my_segments(panoptic, things, stuffs):
    category, instance = panoptic[..., 0], panoptic[..., 1]
    instance[torch.isin(category, torch.tensor(list(stuffs)))] = 0  # stuff: one segment
    segments = {}
    for c in torch.unique(category).tolist():
        if c in stuffs:
            segments[(c, 0)] = category == c
        elif c in things:
            for i in torch.unique(instance[category == c]).tolist():
                segments[(c, i)] = (category == c) & (instance == i)
    return segments
'''),
    ('matching only segments with the same key (equal ids)', '''
def my_match(pred, target, things, stuffs):
    gt_segments = my_segments(target, things, stuffs)
    pred_segments = my_segments(pred, things, stuffs)
    void = ~torch.isin(target[..., 0], torch.tensor([*things, *stuffs]))
    matches = []
    for key, gt_mask in gt_segments.items():
        if key in pred_segments:
            iou = segment_iou(gt_mask, pred_segments[key], void)
            if iou > 0.5:
                matches.append((key, key, iou))
    return matches
'''),
    ('segment IoU removes the void from the prediction in place', '''
def segment_iou(gt, pred, void):
    pred &= ~void  # the prediction's pixels on void do not count
    intersection = int((gt & pred).sum())
    return intersection / (int(gt.sum()) + int(pred.sum()) - intersection)
'''),
    ('PQ marks unknown predicted categories as void in the map given', '''
_right_pq = my_pq
def my_pq(pred, target, things, stuffs):
    pred[..., 0][~torch.isin(pred[..., 0], torch.tensor([*things, *stuffs]))] = -1
    return _right_pq(pred, target, things, stuffs)
'''),
    ('cost matrix with sigmoid_ on the mask logits given', '''
def my_cost_matrix(class_logits, mask_logits, labels, masks, *, class_weight=2.0, dice_weight=5.0):
    class_cost = -class_logits.softmax(-1)[:, labels]
    p = mask_logits.sigmoid_().flatten(1)
    g = masks.flatten(1).to(p.dtype)
    dice = 1 - (2 * p @ g.T + 1) / (p.sum(-1)[:, None] + g.sum(-1)[None, :] + 1)
    return class_weight * class_cost + dice_weight * dice
'''),
    ('cost matrix in float32 whatever the logits', '''
def my_cost_matrix(class_logits, mask_logits, labels, masks, *, class_weight=2.0, dice_weight=5.0):
    class_cost = -class_logits.float().softmax(-1)[:, labels]
    p = mask_logits.float().flatten(1).sigmoid()
    g = masks.flatten(1).float()
    dice = 1 - (2 * p @ g.T + 1) / (p.sum(-1)[:, None] + g.sum(-1)[None, :] + 1)
    return class_weight * class_cost + dice_weight * dice
'''),
    ('merge trims the masks given in place', '''
def my_combine(semantic, masks, scores, labels, *, thing_categories, stuff_categories,
               score_thresh=0.5, overlap_thresh=0.5, stuff_area_thresh=64, void=-1):
    category = torch.full(semantic.shape, void, dtype=torch.int64)
    instance = torch.zeros(semantic.shape, dtype=torch.int64)
    taken = torch.zeros(semantic.shape, dtype=torch.bool)
    next_id = 1
    for i in torch.argsort(scores, descending=True, stable=True).tolist():
        if scores[i] < score_thresh:
            break
        area = int(masks[i].sum())
        if area == 0 or int((masks[i] & taken).sum()) / area > overlap_thresh:
            continue
        masks[i] &= ~taken  # only the free pixels
        category[masks[i]], instance[masks[i]] = thing_categories[int(labels[i])], next_id
        taken |= masks[i]
        next_id += 1
    for k in torch.unique(semantic).tolist():
        if k == 0:
            continue
        free = (semantic == k) & ~taken
        if int(free.sum()) >= stuff_area_thresh:
            category[free] = stuff_categories[k]
            taken |= free
    return torch.stack([category, instance], dim=-1)
'''),
    # the contract items still without a slip: the cost's weights, no segment, the logits and the
    # assignment's cost left untouched (its gradient too), no segment as int64, max_norm
    ('cost matrix with the weights 2 and 5 written in', '''
def my_cost_matrix(class_logits, mask_logits, labels, masks, *, class_weight=2.0, dice_weight=5.0):
    class_cost = -class_logits.softmax(-1)[:, labels]
    p = mask_logits.flatten(1).sigmoid()
    g = masks.flatten(1).to(p.dtype)
    dice = 1 - (2 * p @ g.T + 1) / (p.sum(-1)[:, None] + g.sum(-1)[None, :] + 1)
    return 2.0 * class_cost + 5.0 * dice
'''),
    ('cost matrix column by column with torch.stack (no segment: an error)', '''
def my_cost_matrix(class_logits, mask_logits, labels, masks, *, class_weight=2.0, dice_weight=5.0):
    probabilities = class_logits.softmax(-1)
    p = mask_logits.flatten(1).sigmoid()
    columns = []
    for label, mask in zip(labels.tolist(), masks, strict=True):
        g = mask.flatten().to(p.dtype)
        dice = 1 - (2 * (p * g).sum(-1) + 1) / (p.sum(-1) + g.sum() + 1)
        columns.append(-class_weight * probabilities[:, label] + dice_weight * dice)
    return torch.stack(columns, dim=1)
'''),
    ('cost matrix stabilises the softmax in the class logits given', '''
def my_cost_matrix(class_logits, mask_logits, labels, masks, *, class_weight=2.0, dice_weight=5.0):
    class_logits -= class_logits.max(dim=-1, keepdim=True).values  # a stable softmax
    class_cost = -class_logits.softmax(-1)[:, labels]
    p = mask_logits.flatten(1).sigmoid()
    g = masks.flatten(1).to(p.dtype)
    dice = 1 - (2 * p @ g.T + 1) / (p.sum(-1)[:, None] + g.sum(-1)[None, :] + 1)
    return class_weight * class_cost + dice_weight * dice
'''),
    ('Hungarian shifts the cost given to >= 0 in place', '''
def my_assignment(cost):
    with torch.no_grad():
        cost -= cost.min()  # the Hungarian algorithm wants costs >= 0
    rows, cols = linear_sum_assignment(cost.detach().cpu().double().numpy())
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)
'''),
    ('Hungarian detaches with requires_grad_(False) (the cost given changed)', '''
def my_assignment(cost):
    cost.requires_grad_(False)  # no gradient through the matching
    rows, cols = linear_sum_assignment(cost.cpu().double().numpy())
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)
'''),
    ('Hungarian without detach', '''
def my_assignment(cost):
    rows, cols = linear_sum_assignment(cost.cpu().double().numpy())
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)
'''),
    ('brute force shifts the cost given to >= 0 in place', '''
_right_brute = brute_force_assignment
def brute_force_assignment(cost):
    with torch.no_grad():
        cost -= cost.min()  # costs >= 0
    return _right_brute(cost)
'''),
    ('brute force: torch.tensor of the pairs without dtype (float32 when there is none)', '''
def brute_force_assignment(cost):
    q, m = cost.shape
    if q < m:
        cols, rows = brute_force_assignment(cost.T)
        order = torch.argsort(rows)
        return rows[order], cols[order]
    values = cost.detach().cpu().double().tolist()
    best, best_preds = math.inf, ()
    for preds in itertools.permutations(range(q), m):
        total = sum(values[i][j] for j, i in enumerate(preds))
        if total < best:
            best, best_preds = total, preds
    pairs = sorted(zip(best_preds, range(m), strict=True))
    return torch.tensor([i for i, _ in pairs]), torch.tensor([j for _, j in pairs])
'''),
    ('train step clips at the default 10 whatever max_norm', '''
def train_step(model, optimizer, images, targets, max_norm=10.0):
    model.train()
    losses = model(images, targets)
    loss = sum(losses.values())
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
    optimizer.step()
    return {name: value.item() for name, value in losses.items()}
'''),
]
