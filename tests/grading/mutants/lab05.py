"""Lab 05's single-TODO mutants: answers a student could plausibly write.

A box IoU without the clamp, anchors rounded before halving, NMS at IoU >= threshold,
bilinear with x and y swapped, a YOLO head read column-major, a train step without zero_grad,
RetinaNet's prior bias at 0 or log(pi), a focal loss with alpha on the negatives, ...
Each replaces the functions it defines (the rest of the lab keeps the solution);
``tests/grading/test_lab_mutants.py`` grades it. The mutants were written from the TODOs' text
before the graded cells were read again, so the checks answer them.
"""

LAB = "05_detection.ipynb"

# (name, source that replaces the student's function(s); the TODO is the one that defines them)
MUTANTS = [
    ('box IoU without clamping the sides', '''
def my_box_iou(a, b):
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = torch.minimum(a[:, None, 2:], b[None, :, 2:]) - torch.maximum(a[:, None, :2], b[None, :,
                                                                                         :2])
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)
'''),
    ('box IoU clamping the area, not the sides', '''
def my_box_iou(a, b):
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = torch.minimum(a[:, None, 2:], b[None, :, 2:]) - torch.maximum(a[:, None, :2], b[None, :,
                                                                                         :2])
    inter = (wh[..., 0] * wh[..., 1]).clamp(min=0)
    return inter / (area_a[:, None] + area_b[None, :] - inter)
'''),
    ('box IoU with the +1 pixel convention', '''
def my_box_iou(a, b):
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    wh = (torch.minimum(a[:, None, 2:], b[None, :, 2:]) - top_left + 1).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)
'''),
    ('box IoU returned (M, N)', '''
def my_box_iou(a, b):
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = torch.maximum(a[None, :, :2], b[:, None, :2])
    wh = (torch.minimum(a[None, :, 2:], b[:, None, 2:]) - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[None, :] + area_b[:, None] - inter)
'''),
    ('anchors size-major', '''
def my_cell_anchors(sizes, aspect_ratios):
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32)
    h_ratios = torch.sqrt(ratios)
    widths = (scales[:, None] / h_ratios[None, :]).reshape(-1)
    heights = (scales[:, None] * h_ratios[None, :]).reshape(-1)
    return (torch.stack([-widths, -heights, widths, heights], dim=1) / 2).round()
'''),
    ('anchors with w rounded before halving', '''
def my_cell_anchors(sizes, aspect_ratios):
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32)
    h_ratios = torch.sqrt(ratios)
    widths = (scales[None, :] / h_ratios[:, None]).reshape(-1).round()
    heights = (scales[None, :] * h_ratios[:, None]).reshape(-1).round()
    return torch.stack([-widths, -heights, widths, heights], dim=1) / 2
'''),
    ('anchors with h / w = 1 / r', '''
def my_cell_anchors(sizes, aspect_ratios):
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32)
    h_ratios = torch.sqrt(ratios)
    widths = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    heights = (scales[None, :] / h_ratios[:, None]).reshape(-1)
    return (torch.stack([-widths, -heights, widths, heights], dim=1) / 2).round()
'''),
    ('anchors rounded half up (floor(x + 0.5))', '''
def my_cell_anchors(sizes, aspect_ratios):
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32)
    h_ratios = torch.sqrt(ratios)
    widths = (scales[None, :] / h_ratios[:, None]).reshape(-1)
    heights = (scales[None, :] * h_ratios[:, None]).reshape(-1)
    return torch.floor(torch.stack([-widths, -heights, widths, heights], dim=1) / 2 + 0.5)
'''),
    # RetinaNet's prior initialisation and focal loss: one slip per contract item
    ('prior bias of 0', '''
def init_class_logits(conv, prior=0.01):
    if not 0 < prior < 1:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    with torch.no_grad():
        conv.weight.normal_(0.0, 0.01)
        conv.bias.zero_()
'''),
    ('prior bias log(pi), not the log of the odds', '''
def init_class_logits(conv, prior=0.01):
    if not 0 < prior < 1:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    with torch.no_grad():
        conv.weight.normal_(0.0, 0.01)
        conv.bias.fill_(math.log(prior))
'''),
    ('prior bias with the wrong sign', '''
def init_class_logits(conv, prior=0.01):
    if not 0 < prior < 1:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    with torch.no_grad():
        conv.weight.normal_(0.0, 0.01)
        conv.bias.fill_(math.log((1 - prior) / prior))
'''),
    ('prior hard-coded at 0.01', '''
def init_class_logits(conv, prior=0.01):
    if not 0 < prior < 1:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    with torch.no_grad():
        conv.weight.normal_(0.0, 0.01)
        conv.bias.fill_(-math.log((1 - 0.01) / 0.01))
'''),
    ("prior: the weights left at PyTorch's default", '''
def init_class_logits(conv, prior=0.01):
    if not 0 < prior < 1:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    with torch.no_grad():
        conv.bias.fill_(-math.log((1 - prior) / prior))
'''),
    ('prior: the weights uniform in [-0.01, 0.01]', '''
def init_class_logits(conv, prior=0.01):
    if not 0 < prior < 1:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    with torch.no_grad():
        conv.weight.uniform_(-0.01, 0.01)
        conv.bias.fill_(-math.log((1 - prior) / prior))
'''),
    ('prior: a new bias parameter (float32)', '''
def init_class_logits(conv, prior=0.01):
    if not 0 < prior < 1:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    with torch.no_grad():
        conv.weight.normal_(0.0, 0.01)
    conv.bias = torch.nn.Parameter(torch.full((conv.out_channels,), -math.log((1 - prior) / prior)))
'''),
    ('prior: a new convolution returned', '''
def init_class_logits(conv, prior=0.01):
    if not 0 < prior < 1:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    new = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                          padding=conv.padding)
    with torch.no_grad():
        new.weight.normal_(0.0, 0.01)
        new.bias.fill_(-math.log((1 - prior) / prior))
    return new
'''),
    ('prior: no check of prior (math.log raises its own error)', '''
def init_class_logits(conv, prior=0.01):
    bias = -math.log((1 - prior) / prior)
    with torch.no_grad():
        conv.weight.normal_(0.0, 0.01)
        conv.bias.fill_(bias)
'''),
    ('focal: alpha applied to the negatives', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = (1 - alpha) * target + alpha * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * bce).sum() / max(1, int(foreground.sum()))
'''),
    ('focal: normalised by all the anchors', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * bce).sum() / max(1, len(matched))
'''),
    ('focal: divided by the foreground anchors without max(1, .)', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * bce).sum() / foreground.sum()
'''),
    ('focal: ignored anchors counted as background', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    p = cls_logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(cls_logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * bce).sum() / max(1, int(foreground.sum()))
'''),
    ('focal: the box index taken as its class', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, matched[foreground]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * bce).sum() / max(1, int(foreground.sum()))
'''),
    ('focal: label 0 read as background', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    classes = labels[matched[foreground]]
    rows = torch.nonzero(foreground)[:, 0]
    target[rows[classes > 0], classes[classes > 0]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * bce).sum() / max(1, int(foreground.sum()))
'''),
    ('focal: gamma on p_t, not 1 - p_t', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * p_t ** gamma * bce).sum() / max(1, int(foreground.sum()))
'''),
    ('focal: gamma fixed at 2', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** 2 * bce).sum() / max(1, int(foreground.sum()))
'''),
    ('focal: the cross-entropy as log(sigmoid)', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * bce).sum() / max(1, int(foreground.sum()))
'''),
    ('focal: ignored logits zeroed in place', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    valid = (matched != -2).to(cls_logits.dtype)[:, None]
    with torch.no_grad():
        cls_logits[matched == -2] = 0.0
    p = cls_logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(cls_logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (valid * alpha_t * (1 - p_t) ** gamma * bce).sum() / max(1, int(foreground.sum()))
'''),
    ('focal: returns a float (.item())', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * bce).sum().item() / max(1, int(foreground.sum()))
'''),
    ('focal: rebuilt as a new tensor (no gradient, float32)', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    total = float((alpha_t * (1 - p_t) ** gamma * bce).sum())
    return torch.tensor(total / max(1, int(foreground.sum())))
'''),
    ('NMS suppresses at IoU >= threshold', '''
def my_nms(boxes, scores, iou_threshold):
    order = torch.sort(scores, descending=True, stable=True).indices
    keep = []
    while len(order) > 0:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        order = rest[my_box_iou(boxes[best][None], boxes[rest])[0] < iou_threshold]
    return torch.tensor(keep, dtype=torch.int64)
'''),
    ('NMS where a suppressed box still suppresses', '''
def my_nms(boxes, scores, iou_threshold):
    order = torch.sort(scores, descending=True, stable=True).indices
    iou = my_box_iou(boxes[order], boxes[order])
    keep = [int(order[k]) for k in range(len(order))
            if not (iou[k, :k] > iou_threshold).any()]
    return torch.tensor(keep, dtype=torch.int64)
'''),
    ('NMS with ties taken in reverse index order', '''
def my_nms(boxes, scores, iou_threshold):
    order = torch.sort(scores, stable=True).indices.flip(0)
    keep = []
    while len(order) > 0:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        order = rest[my_box_iou(boxes[best][None], boxes[rest])[0] <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64)
'''),
    ('NMS returns float for no boxes', '''
def my_nms(boxes, scores, iou_threshold):
    order = torch.sort(scores, descending=True, stable=True).indices
    keep = []
    while len(order) > 0:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        order = rest[my_box_iou(boxes[best][None], boxes[rest])[0] <= iou_threshold]
    return torch.tensor(keep)
'''),
    ('NMS returns positions in the sorted order', '''
def my_nms(boxes, scores, iou_threshold):
    order = torch.sort(scores, descending=True, stable=True).indices
    boxes = boxes[order]
    alive = torch.arange(len(boxes))
    keep = []
    while len(alive) > 0:
        best, rest = alive[0], alive[1:]
        keep.append(int(best))
        alive = rest[my_box_iou(boxes[best][None], boxes[rest])[0] <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64)
'''),
    ('batched NMS that ignores the labels', '''
def my_batched_nms(boxes, scores, labels, iou_threshold):
    return my_nms(boxes, scores, iou_threshold)
'''),
    ('batched NMS by a loop, kept indices in class order', '''
def my_batched_nms(boxes, scores, labels, iou_threshold):
    keep = []
    for c in torch.unique(labels).tolist():
        index = torch.nonzero(labels == c)[:, 0]
        keep.append(index[my_nms(boxes[index], scores[index], iou_threshold)])
    return torch.cat(keep) if keep else torch.zeros(0, dtype=torch.int64)
'''),
    ('batched NMS offset by the largest coordinate (negative boxes overlap)', '''
def my_batched_nms(boxes, scores, labels, iou_threshold):
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.int64)
    moved = boxes + (labels.to(boxes.dtype) * boxes.max())[:, None]
    return my_nms(moved, scores, iou_threshold)
'''),
    ('batched NMS crashes without boxes', '''
def my_batched_nms(boxes, scores, labels, iou_threshold):
    spread = boxes.max() - boxes.min() + 1
    return my_nms(boxes + (labels.to(boxes.dtype) * spread)[:, None], scores, iou_threshold)
'''),
    ('bilinear keeping two rows at the last row (extrapolates past it)', '''
def my_bilinear(feature, y, x):
    height, width = feature.shape
    if y < -1 or y > height or x < -1 or x > width:
        return feature.new_zeros(())
    y, x = max(float(y), 0.0), max(float(x), 0.0)
    y0, x0 = min(int(y), height - 2), min(int(x), width - 2)
    y1, x1 = y0 + 1, x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * feature[y0, x0] + (1 - ly) * lx * feature[y0, x1]
            + ly * (1 - lx) * feature[y1, x0] + ly * lx * feature[y1, x1])
'''),
    ('bilinear with y and x swapped', '''
_right_bilinear = my_bilinear
def my_bilinear(feature, y, x):
    return _right_bilinear(feature, x, y)  # the point read as (x, y)
'''),
    ('bilinear: outside already below 0', '''
_right_bilinear = my_bilinear
def my_bilinear(feature, y, x):
    if y < 0 or x < 0:
        return feature.new_zeros(())
    return _right_bilinear(feature, y, x)
'''),
    ('bilinear: [-1, 0) not read as 0', '''
def my_bilinear(feature, y, x):
    import math as _m
    height, width = feature.shape
    if y < -1 or y > height or x < -1 or x > width:
        return feature.new_zeros(())
    y0, x0 = _m.floor(y), _m.floor(x)
    if y0 >= height - 1:
        y0 = y1 = height - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= width - 1:
        x0 = x1 = width - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * feature[y0, x0] + (1 - ly) * lx * feature[y0, x1]
            + ly * (1 - lx) * feature[y1, x0] + ly * lx * feature[y1, x1])
'''),
    ('RoIAlign bin ignoring aligned', '''
_right_bin = my_roi_align_bin
def my_roi_align_bin(feature, box, *, spatial_scale=1.0, sampling_ratio=2, aligned=True):
    return _right_bin(feature, box, spatial_scale=spatial_scale, sampling_ratio=sampling_ratio,
                      aligned=False)
'''),
    ('RoIAlign bin with the size at least 1 also when aligned', '''
def my_roi_align_bin(feature, box, *, spatial_scale=1.0, sampling_ratio=2, aligned=True):
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (float(v) * spatial_scale - offset for v in box)
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    g = sampling_ratio
    total = feature.new_zeros(())
    for k in range(g):
        for m in range(g):
            total = total + my_bilinear(feature, y1 + (k + 0.5) * h / g, x1 + (m + 0.5) * w / g)
    return total / g**2
'''),
    ('RoIAlign bin sampled at k h / g (sub-cell corners)', '''
def my_roi_align_bin(feature, box, *, spatial_scale=1.0, sampling_ratio=2, aligned=True):
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (float(v) * spatial_scale - offset for v in box)
    w, h = x2 - x1, y2 - y1
    if not aligned:
        w, h = max(w, 1.0), max(h, 1.0)
    g = sampling_ratio
    total = feature.new_zeros(())
    for k in range(g):
        for m in range(g):
            total = total + my_bilinear(feature, y1 + k * h / g, x1 + m * w / g)
    return total / g**2
'''),
    ('RoIAlign bin shifted before scaling', '''
def my_roi_align_bin(feature, box, *, spatial_scale=1.0, sampling_ratio=2, aligned=True):
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = ((float(v) - offset) * spatial_scale for v in box)
    w, h = x2 - x1, y2 - y1
    if not aligned:
        w, h = max(w, 1.0), max(h, 1.0)
    g = sampling_ratio
    total = feature.new_zeros(())
    for k in range(g):
        for m in range(g):
            total = total + my_bilinear(feature, y1 + (k + 0.5) * h / g, x1 + (m + 0.5) * w / g)
    return total / g**2
'''),
    ('YOLO: rows and columns swapped', '''
_right_decode = my_decode
def my_decode(output, image_size, anchors):
    n, s, _, channels = output.shape
    return _right_decode(output.transpose(1, 2), image_size, anchors)
'''),
    ('YOLO: anchors read as (height, width)', '''
_right_decode = my_decode
def my_decode(output, image_size, anchors):
    return _right_decode(output, image_size, anchors.flip(1))
'''),
    ('YOLO: class probabilities by sigmoid', '''
_right_decode = my_decode
def my_decode(output, image_size, anchors):
    boxes, confidence, probs = _right_decode(output, image_size, anchors)
    b = anchors.shape[0]
    n, s = output.shape[:2]
    logits = output[..., 5 * b:].sigmoid()[:, :, :, None, :].expand(n, s, s, b, -1)
    return boxes, confidence, logits.reshape(n, s * s * b, -1)
'''),
    ('YOLO: (H, W) read as (W, H)', '''
_right_decode = my_decode
def my_decode(output, image_size, anchors):
    if not isinstance(image_size, int):
        image_size = (image_size[1], image_size[0])
    return _right_decode(output, image_size, anchors)
'''),
    ('YOLO: boxes ordered (box, row, column)', '''
_right_decode = my_decode
def my_decode(output, image_size, anchors):
    boxes, confidence, probs = _right_decode(output, image_size, anchors)
    n, s = output.shape[:2]
    b = anchors.shape[0]
    order = lambda t: t.reshape(n, s * s, b, *t.shape[2:]).transpose(1, 2).reshape(t.shape)
    return order(boxes), order(confidence), order(probs)
'''),
    ('YOLO numbers without the per-box factor 5', '''
yolo_numbers = S * S * (B + C)
'''),
    ('YOLO class scores one per cell', '''
yolo_class_scores = S * S * C
'''),
    ('masks kept as (N, 1, H, W)', '''
def to_metric_format(detection, mask_threshold=0.5):
    return {"boxes": detection["boxes"].detach().cpu(),
            "scores": detection["scores"].detach().cpu(),
            "labels": detection["labels"].detach().cpu(),
            "masks": detection["masks"].detach().cpu() > mask_threshold}
'''),
    ('masks at probability >= threshold', '''
def to_metric_format(detection, mask_threshold=0.5):
    return {"boxes": detection["boxes"].detach().cpu(),
            "scores": detection["scores"].detach().cpu(),
            "labels": detection["labels"].detach().cpu(),
            "masks": detection["masks"][:, 0].detach().cpu() >= mask_threshold}
'''),
    ('masks left as probabilities', '''
def to_metric_format(detection, mask_threshold=0.5):
    return {"boxes": detection["boxes"].detach().cpu(),
            "scores": detection["scores"].detach().cpu(),
            "labels": detection["labels"].detach().cpu(),
            "masks": detection["masks"][:, 0].detach().cpu()}
'''),
    ('outputs not detached', '''
def to_metric_format(detection, mask_threshold=0.5):
    return {"boxes": detection["boxes"].cpu(), "scores": detection["scores"].cpu(),
            "labels": detection["labels"].cpu(),
            "masks": detection["masks"][:, 0].cpu() > mask_threshold}
'''),
    ('train step without zero_grad', '''
def train_step(model, optimizer, images, targets):
    model.train()
    losses = model(images, targets)
    sum(losses.values()).backward()
    optimizer.step()
    return {name: value.item() for name, value in losses.items()}
'''),
    ('train step without model.train()', '''
def train_step(model, optimizer, images, targets):
    losses = model(images, targets)
    optimizer.zero_grad()
    sum(losses.values()).backward()
    optimizer.step()
    return {name: value.item() for name, value in losses.items()}
'''),
    ('train step returns tensors', '''
def train_step(model, optimizer, images, targets):
    model.train()
    losses = model(images, targets)
    optimizer.zero_grad()
    sum(losses.values()).backward()
    optimizer.step()
    return losses
'''),
    ('train step clears the gradients before the step', '''
def train_step(model, optimizer, images, targets):
    model.train()
    losses = model(images, targets)
    sum(losses.values()).backward()
    optimizer.zero_grad()
    optimizer.step()
    return {name: value.item() for name, value in losses.items()}
'''),
    # the contracts of the TODOs' docstrings: inputs untouched, dtypes, ids
    ('box IoU converts the boxes to xywh in place', '''
def my_box_iou(a, b):
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    wh = (torch.minimum(a[:, None, 2:], b[None, :, 2:]) - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    a[:, 2:] -= a[:, :2]  # widths and heights, written into the boxes given
    b[:, 2:] -= b[:, :2]
    area_a, area_b = a[:, 2] * a[:, 3], b[:, 2] * b[:, 3]
    return inter / (area_a[:, None] + area_b[None, :] - inter)
'''),
    ('box IoU returned as float32', '''
def my_box_iou(a, b):
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    wh = (torch.minimum(a[:, None, 2:], b[None, :, 2:]) - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return (inter / (area_a[:, None] + area_b[None, :] - inter)).float()
'''),
    ('anchors computed and returned in float64', '''
def my_cell_anchors(sizes, aspect_ratios):
    scales = torch.as_tensor(sizes, dtype=torch.float64)
    h_ratios = torch.sqrt(torch.as_tensor(aspect_ratios, dtype=torch.float64))
    widths = (scales[None, :] / h_ratios[:, None]).reshape(-1)
    heights = (scales[None, :] * h_ratios[:, None]).reshape(-1)
    return (torch.stack([-widths, -heights, widths, heights], dim=1) / 2).round()
'''),
    ('NMS sorts the boxes and scores given in place', '''
def my_nms(boxes, scores, iou_threshold):
    order = torch.sort(scores, descending=True, stable=True).indices
    boxes[:] = boxes[order].clone()  # highest score first, in the tensors given
    scores[:] = scores[order].clone()
    alive = torch.ones(len(boxes), dtype=torch.bool)
    keep = []
    for k in range(len(boxes)):
        if alive[k]:
            keep.append(int(order[k]))
            alive[k + 1:] &= my_box_iou(boxes[k][None], boxes[k + 1:])[0] <= iou_threshold
    return torch.tensor(keep, dtype=torch.int64)
'''),
    ('batched NMS moves the boxes given (+=)', '''
def my_batched_nms(boxes, scores, labels, iou_threshold):
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.int64)
    spread = boxes.max() - boxes.min() + 1
    boxes += (labels.to(boxes.dtype) * spread)[:, None]
    return my_nms(boxes, scores, iou_threshold)
'''),
    ('batched NMS by a loop over classes 0 .. n - 1 (labels taken for 0, 1, 2, ...)', '''
def my_batched_nms(boxes, scores, labels, iou_threshold):
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.int64)
    keep = [torch.zeros(0, dtype=torch.int64)]
    for c in range(len(torch.unique(labels))):
        index = torch.nonzero(labels == c)[:, 0]
        keep.append(index[my_nms(boxes[index], scores[index], iou_threshold)])
    keep = torch.cat(keep)
    return keep[torch.sort(scores[keep], descending=True, stable=True).indices]
'''),
    ('bilinear returns a Python float', '''
_right_bilinear = my_bilinear
def my_bilinear(feature, y, x):
    return float(_right_bilinear(feature, y, x))
'''),
    ('bilinear rebuilt as a float32 tensor', '''
_right_bilinear = my_bilinear
def my_bilinear(feature, y, x):
    return torch.tensor(float(_right_bilinear(feature, y, x)))
'''),
    ('RoIAlign bin scales the box given in place', '''
_right_bin = my_roi_align_bin
def my_roi_align_bin(feature, box, *, spatial_scale=1.0, sampling_ratio=2, aligned=True):
    box.mul_(spatial_scale)
    return _right_bin(feature, box, spatial_scale=1.0, sampling_ratio=sampling_ratio,
                      aligned=aligned)
'''),
    ('YOLO: sigmoid_ on the output given', '''
_right_decode = my_decode
def my_decode(output, image_size, anchors):
    decoded = _right_decode(output, image_size, anchors)
    b = anchors.shape[0]
    for k in range(b):
        output[..., 5 * k: 5 * k + 2].sigmoid_()
    return decoded
'''),
    ('masks written into the detection given', '''
def to_metric_format(detection, mask_threshold=0.5):
    detection["masks"] = detection["masks"][:, 0] > mask_threshold
    return {name: value.detach().cpu() for name, value in detection.items()}
'''),
]

# second round: a slip for each contract item still without one
_ROI = '''
def my_roi_align_bin(feature, box, *, spatial_scale=1.0, sampling_ratio=2, aligned=True):
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (float(v) * SCALE - offset for v in box)
    w, h = x2 - x1, y2 - y1
    if not aligned:
        w, h = max(w, 1.0), max(h, 1.0)
    g = RATIO
    total = feature.new_zeros(())
    for k in range(g):
        y = y1 + (k + 0.5) * h / g
        for m in range(g):
            x = x1 + (m + 0.5) * w / g
            total = total + my_bilinear(feature, y, x)
    return RESULT
'''


def _roi(scale="spatial_scale", ratio="sampling_ratio", result="total / g**2"):
    return _ROI.replace("SCALE", scale).replace("RATIO", ratio).replace("RESULT", result)


_DECODE = '''
def my_decode(output, image_size, anchors):
    n, s, _, channels = output.shape
    b = anchors.shape[0]
    c = channels - 5 * b
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    raw = output[..., : 5 * b].reshape(n, s, s, b, 5)
    logits = output[..., 5 * b:]
    cols = torch.arange(s, dtype=DTYPE).view(1, 1, s, 1)
    rows = torch.arange(s, dtype=DTYPE).view(1, s, 1, 1)
    cx = (cols + torch.sigmoid(raw[..., 0])) / s
    cy = (rows + torch.sigmoid(raw[..., 1])) / s
    ANCHORS
    boxes = torch.stack([(cx - w / 2) * width, (cy - h / 2) * height,
                         (cx + w / 2) * width, (cy + h / 2) * height], dim=-1)
    confidence = torch.sigmoid(raw[..., 4])
    probs = torch.softmax(logits, dim=-1)[:, :, :, None, :].expand(n, s, s, b, c)
    return (boxes.reshape(n, s * s * b, 4).to(DTYPE), confidence.reshape(n, s * s * b).to(DTYPE),
            probs.reshape(n, s * s * b, c).to(DTYPE))
'''
_FRACTIONS = '''w = anchors[:, 0].to(output.dtype) * torch.exp(raw[..., 2])
    h = anchors[:, 1].to(output.dtype) * torch.exp(raw[..., 3])'''
_IN_PLACE = '''anchors = anchors.to(output.dtype)  # no copy when the dtype is already the output's
    anchors[:, 0] *= width  # in pixels
    anchors[:, 1] *= height
    w = anchors[:, 0] * torch.exp(raw[..., 2]) / width
    h = anchors[:, 1] * torch.exp(raw[..., 3]) / height'''

_SECOND_ROUND = [
    ('box IoU row by row (torch.stack of no rows fails)', '''
def my_box_iou(a, b):
    rows = []
    for box in a:
        area_a = (box[2] - box[0]) * (box[3] - box[1])
        area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        wh = (torch.minimum(box[2:], b[:, 2:]) - torch.maximum(box[:2], b[:, :2])).clamp(min=0)
        inter = wh[:, 0] * wh[:, 1]
        rows.append(inter / (area_a + area_b - inter))
    return torch.stack(rows)
'''),
    ('focal: alpha fixed at 0.25', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = 0.25 * target + 0.75 * (1 - target)
    loss = (alpha_t * (1 - p_t) ** gamma * bce).sum()
    return loss / max(1, int(foreground.sum()))
'''),
    ('focal: labels read at matched.clamp(min=0) (no box: an IndexError)', '''
def my_focal_loss(cls_logits, labels, matched, *, alpha=0.25, gamma=2.0):
    foreground = matched >= 0
    classes = labels[matched.clamp(min=0)]  # a class for every anchor, used on the foreground
    target = torch.zeros_like(cls_logits)
    target[foreground, classes[foreground]] = 1.0
    valid = matched != -2
    logits, target = cls_logits[valid], target[valid]
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    loss = (alpha_t * (1 - p_t) ** gamma * bce).sum()
    return loss / max(1, int(foreground.sum()))
'''),
    ('bilinear: x clamped at the last row (H - 1), not the last column', '''
def my_bilinear(feature, y, x):
    height, width = feature.shape
    if y < -1 or y > height or x < -1 or x > width:
        return feature.new_zeros(())
    y, x = max(float(y), 0.0), max(float(x), 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= height - 1:
        y0 = y1 = height - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= height - 1:
        x0 = x1 = min(height - 1, width - 1)
        x = float(x0)
    else:
        x1 = min(x0 + 1, width - 1)
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * feature[y0, x0] + (1 - ly) * lx * feature[y0, x1]
            + ly * (1 - lx) * feature[y1, x0] + ly * lx * feature[y1, x1])
'''),
    ('RoIAlign bin with sampling_ratio fixed at 2', _roi(ratio="2")),
    ('RoIAlign bin ignoring spatial_scale', _roi(scale="1.0")),
    ('RoIAlign bin returned in float32', _roi(result="(total / g**2).float()")),
    ("YOLO: anchors converted in the caller's tensor (.to keeps it when the dtype matches)",
     _DECODE.replace("DTYPE", "output.dtype").replace("ANCHORS", _IN_PLACE)),
    ('YOLO: results in float32 whatever the output dtype',
     _DECODE.replace("DTYPE", "torch.float32").replace("ANCHORS", _FRACTIONS)),
    ('masks squeezed on every axis (one detection loses its axis)', '''
def to_metric_format(detection, mask_threshold=0.5):
    return {"boxes": detection["boxes"].detach().float().cpu(),
            "scores": detection["scores"].detach().float().cpu(),
            "labels": detection["labels"].detach().cpu(),
            "masks": detection["masks"].squeeze().detach().cpu() > mask_threshold}
'''),
]
_SECOND_ROUND += [
    ('train step on the first image of the batch only', '''
def train_step(model, optimizer, images, targets):
    model.train()
    losses = model(images[:1], targets[:1])
    loss = sum(losses.values())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {name: value.item() for name, value in losses.items()}
'''),
]
MUTANTS += _SECOND_ROUND
