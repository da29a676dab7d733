"""Lab 00's single-TODO mutants: answers a student could plausibly write.

RLE walked row by row instead of down the columns, a flip that moves the mask but not its image,
boxes left where they were, void pixels counted as a class, ... Each replaces the functions it
defines (the rest of the lab keeps the solution); ``tests/grading/test_lab_mutants.py`` grades it.
The mutants were written before the checks, so the checks answer them, not the other way round.
"""

LAB = "00_masks.ipynb"

# the end of the solution's augmentation, for the mutants that get only another part wrong
REPAIR = '''
def repair(target, size):
    masks = target["masks"].as_subclass(torch.Tensor)
    keep = masks.flatten(1).any(dim=1)
    boxes = tv_tensors.BoundingBoxes(boxes_from_masks(masks[keep]), format="XYXY",
                                     canvas_size=(size, size))
    return {**target, "masks": tv_tensors.Mask(masks[keep]), "labels": target["labels"][keep],
            "boxes": boxes}
'''

# (name, source that replaces the student's function(s); the TODO is the one that defines them)
MUTANTS = [
    # --- section 1: boxes from masks
    ("boxes with torchvision's inclusive x2, y2", '''
def boxes_from_masks(masks):
    from torchvision.ops import masks_to_boxes
    return masks_to_boxes(masks)
'''),
    ("boxes as (y1, x1, y2, x2)", '''
def boxes_from_masks(masks):
    boxes = torch.zeros(len(masks), 4)
    for k, mask in enumerate(masks):
        rows, cols = torch.nonzero(mask, as_tuple=True)
        if len(rows):
            boxes[k] = torch.tensor([rows.min(), cols.min(), rows.max() + 1, cols.max() + 1])
    return boxes
'''),
    # --- section 2: RLE
    ("RLE encoded in row-major (C) order", '''
def rle_encode(mask):
    flat = np.asarray(mask, dtype=np.uint8).flatten()  # row by row: not COCO's order
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    counts.append(run)
    return {"size": list(np.shape(mask)), "counts": counts}
'''),
    ("RLE decoded in row-major (C) order", '''
def rle_decode(rle):
    height, width = rle["size"]
    values = np.arange(len(rle["counts"])) % 2
    return np.repeat(values, rle["counts"]).reshape(height, width).astype(bool)
'''),
    ("RLE without the leading 0-run when the first pixel is 1", '''
def rle_encode(mask):
    flat = np.asarray(mask, dtype=np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    return {"size": list(np.shape(mask)), "counts": np.diff(bounds).tolist()}
'''),
    # --- section 2: polygons
    ("polygon read as (row, col) instead of (x, y)", '''
def polygons_to_mask(polygons, height, width):
    mask = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        points = np.asarray(polygon, dtype=float).reshape(-1, 2)
        mask |= polygon2mask((height, width), points - 0.5)
    return mask
'''),
    ("polygon without the half-pixel shift", '''
def polygons_to_mask(polygons, height, width):
    mask = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        points = np.asarray(polygon, dtype=float).reshape(-1, 2)
        mask |= polygon2mask((height, width), points[:, ::-1])
    return mask
'''),
    ("only the first polygon of an object", '''
def polygons_to_mask(polygons, height, width):
    points = np.asarray(polygons[0], dtype=float).reshape(-1, 2)
    return polygon2mask((height, width), points[:, ::-1] - 0.5)
'''),
    # --- section 3: the flip by hand
    ("mask flipped but not its image", '''
def hflip_sample(image, target):
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    return image, {"semantic": target["semantic"].flip(-1), "masks": target["masks"].flip(-1),
                   "boxes": boxes, "labels": target["labels"]}
'''),
    ("boxes not moved", '''
def hflip_sample(image, target):
    return image.flip(-1), {"semantic": target["semantic"].flip(-1),
                            "masks": target["masks"].flip(-1), "boxes": target["boxes"],
                            "labels": target["labels"]}
'''),
    ("boxes mirrored without swapping x1 and x2", '''
def hflip_sample(image, target):
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [0, 2]]
    return image.flip(-1), {"semantic": target["semantic"].flip(-1),
                            "masks": target["masks"].flip(-1), "boxes": boxes,
                            "labels": target["labels"]}
'''),
    ("boxes mirrored as pixel indices (W - 1 - x)", '''
def hflip_sample(image, target):
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - 1 - target["boxes"][:, [2, 0]]
    return image.flip(-1), {"semantic": target["semantic"].flip(-1),
                            "masks": target["masks"].flip(-1), "boxes": boxes,
                            "labels": target["labels"]}
'''),
    # --- section 3: tv_tensors and the v2 pipeline
    ("boxes left a plain tensor (v2 does not move them)", '''
def as_tv_sample(image, target):
    height, width = image.shape[-2:]
    return tv_tensors.Image(image), {
        "semantic": tv_tensors.Mask(target["semantic"]), "masks": tv_tensors.Mask(target["masks"]),
        "boxes": target["boxes"].clone(), "labels": target["labels"]}
'''),
    ("semantic map left a plain tensor", '''
def as_tv_sample(image, target):
    height, width = image.shape[-2:]
    return tv_tensors.Image(image), {
        "semantic": target["semantic"].clone(), "masks": tv_tensors.Mask(target["masks"]),
        "boxes": tv_tensors.BoundingBoxes(target["boxes"], format="XYXY",
                                          canvas_size=(height, width)),
        "labels": target["labels"]}
'''),
    ("image and target augmented by two separate calls (crashes)", REPAIR + '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        image = geometry(image)  # a draw of its own: another flip and window than the target's
        return image, repair(geometry(target), size)
    return augment
'''),
    ("image and annotations augmented by two separate calls", REPAIR + '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        image = geometry(image)  # a draw of its own: another flip and window than the masks'
        semantic, masks, boxes = geometry(target["semantic"], target["masks"], target["boxes"])
        moved = {"semantic": semantic, "masks": masks, "boxes": boxes, "labels": target["labels"]}
        return image, repair(moved, size)
    return augment
'''),
    ("objects cropped away kept as empty masks", '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        image, target = geometry(image, target)
        boxes = boxes_from_masks(target["masks"].as_subclass(torch.Tensor))
        boxes = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(size, size))
        return image, {**target, "boxes": boxes}
    return augment
'''),
    ("boxes only clipped by the crop, not recomputed from the masks", '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        image, target = geometry(image, target)
        keep = target["masks"].flatten(1).any(dim=1)
        return image, {**target, "labels": target["labels"][keep],
                       **{key: tv_tensors.wrap(target[key][keep], like=target[key])
                          for key in ("masks", "boxes")}}
    return augment
'''),
    ("no random flip", REPAIR + '''
def make_augmentation(size):
    geometry = v2.RandomCrop(size)

    def augment(image, target):
        image, target = geometry(image, target)
        return image, repair(target, size)
    return augment
'''),
    # --- section 4: void pixels
    ("void relabelled as class 0 in the loss", '''
def masked_cross_entropy(logits, target, ignore_index=255):
    target = target.masked_fill(target == ignore_index, 0)
    log_p = F.log_softmax(logits, dim=1)
    return -log_p.gather(1, target[:, None])[:, 0].mean()
'''),
    ("loss summed over valid pixels but divided by all pixels", '''
def masked_cross_entropy(logits, target, ignore_index=255):
    valid = target != ignore_index
    log_p = F.log_softmax(logits, dim=1)
    nll = -log_p.gather(1, target.masked_fill(~valid, 0)[:, None])[:, 0]
    return (nll * valid).sum() / target.numel()
'''),
    ("void pixels counted in the IoU", '''
def class_iou(pred, target, num_classes, ignore_index=255):
    iou = torch.full((num_classes,), float("nan"))
    for c in range(num_classes):
        union = ((pred == c) | (target == c)).sum()
        if union > 0:
            iou[c] = ((pred == c) & (target == c)).sum() / union
    return iou
'''),
    ("IoU 0 instead of NaN for a class absent from both", '''
def class_iou(pred, target, num_classes, ignore_index=255):
    valid = target != ignore_index
    pred, target = pred[valid], target[valid]
    iou = torch.zeros(num_classes)
    for c in range(num_classes):
        union = ((pred == c) | (target == c)).sum()
        if union > 0:
            iou[c] = ((pred == c) & (target == c)).sum() / union
    return iou
'''),
    # --- the mistakes that escaped the first mutants, and a second one for every function
    ("boxes of an empty mask from min/max of nothing (crashes)", '''
def boxes_from_masks(masks):
    boxes = torch.zeros(len(masks), 4)
    for k, mask in enumerate(masks):
        rows, cols = torch.nonzero(mask, as_tuple=True)
        boxes[k] = torch.stack([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]).float()
    return boxes
'''),
    ("boxes with x2 and y2 the last pixel + 1 read from the wrong axis on non-square masks", '''
def boxes_from_masks(masks):
    boxes = torch.zeros(len(masks), 4)
    for k, mask in enumerate(masks):
        rows, cols = torch.nonzero(mask, as_tuple=True)
        if len(rows):
            width = mask.shape[0]  # should be shape[1]: the same on square masks
            boxes[k] = torch.tensor([cols.min(), rows.min(), min(cols.max() + 1, width),
                                     rows.max() + 1]).float()
    return boxes
'''),
    ("RLE counts as NumPy ints (json.dumps fails)", '''
def rle_encode(mask):
    flat = np.asarray(mask, dtype=np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    counts = list(np.diff(np.concatenate([[0], change, [flat.size]])))
    if flat.size and flat[0] == 1:
        counts = [np.int64(0)] + counts
    return {"size": list(np.shape(mask)), "counts": counts}
'''),
    ("RLE decoded starting with a run of 1s", '''
def rle_decode(rle):
    height, width = rle["size"]
    values = 1 - np.arange(len(rle["counts"])) % 2
    return np.repeat(values, rle["counts"]).reshape((height, width), order="F").astype(bool)
'''),
    ("RLE decoded with size read as (W, H)", '''
def rle_decode(rle):
    width, height = rle["size"]
    values = np.arange(len(rle["counts"])) % 2
    return np.repeat(values, rle["counts"]).reshape((height, width), order="F").astype(bool)
'''),
    ("flip that changes the input's boxes in place", '''
def hflip_sample(image, target):
    width = image.shape[-1]
    boxes = target["boxes"]
    x1 = boxes[:, 0].clone()
    boxes[:, 0] = width - boxes[:, 2]
    boxes[:, 2] = width - x1
    return image.flip(-1), {"semantic": target["semantic"].flip(-1),
                            "masks": target["masks"].flip(-1), "boxes": boxes,
                            "labels": target["labels"]}
'''),
    ("flip mirrored with the height on non-square images", '''
def hflip_sample(image, target):
    width = image.shape[-2]  # the height: the same on square images
    boxes = target["boxes"].clone()
    boxes[:, 0] = width - target["boxes"][:, 2]
    boxes[:, 2] = width - target["boxes"][:, 0]
    return image.flip(-1), {"semantic": target["semantic"].flip(-1),
                            "masks": target["masks"].flip(-1), "boxes": boxes,
                            "labels": target["labels"]}
'''),
    ("canvas_size given as (W, H)", '''
def as_tv_sample(image, target):
    height, width = image.shape[-2:]
    return tv_tensors.Image(image), {
        "semantic": tv_tensors.Mask(target["semantic"]), "masks": tv_tensors.Mask(target["masks"]),
        "boxes": tv_tensors.BoundingBoxes(target["boxes"], format="XYXY",
                                          canvas_size=(width, height)),
        "labels": target["labels"]}
'''),
    ("new boxes returned as a plain tensor", '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        image, target = geometry(image, target)
        masks = target["masks"].as_subclass(torch.Tensor)
        keep = masks.flatten(1).any(dim=1)
        return image, {**target, "masks": tv_tensors.Mask(masks[keep]),
                       "labels": target["labels"][keep], "boxes": boxes_from_masks(masks[keep])}
    return augment
'''),
    ("masks left plain tensors after the repair", '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        image, target = geometry(image, target)
        masks = target["masks"].as_subclass(torch.Tensor)
        keep = masks.flatten(1).any(dim=1)
        boxes = tv_tensors.BoundingBoxes(boxes_from_masks(masks[keep]), format="XYXY",
                                         canvas_size=(size, size))
        return image, {**target, "masks": masks[keep], "labels": target["labels"][keep],
                       "boxes": boxes}
    return augment
'''),
    ("loss averaged per image, then over the batch", '''
def masked_cross_entropy(logits, target, ignore_index=255):
    valid = target != ignore_index
    log_p = F.log_softmax(logits, dim=1)
    nll = -log_p.gather(1, target.masked_fill(~valid, 0)[:, None])[:, 0]
    return torch.stack([n[v].mean() for n, v in zip(nll, valid)]).mean()
'''),
    ("IoU as intersection over the target's pixels (recall)", '''
def class_iou(pred, target, num_classes, ignore_index=255):
    valid = target != ignore_index
    pred, target = pred[valid], target[valid]
    iou = torch.full((num_classes,), float("nan"))
    for c in range(num_classes):
        union = ((pred == c) | (target == c)).sum()
        if union > 0:
            iou[c] = ((pred == c) & (target == c)).sum() / max(int((target == c).sum()), 1)
    return iou
'''),
    # --- one slip per item of each TODO's contract, written before its check
    ("boxes returned as tv_tensors.BoundingBoxes, not a plain tensor", '''
def boxes_from_masks(masks):
    boxes = torch.zeros(len(masks), 4)
    for k, mask in enumerate(masks):
        rows, cols = torch.nonzero(mask, as_tuple=True)
        if len(rows):
            boxes[k] = torch.stack([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]).float()
    return tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=tuple(masks.shape[-2:]))
'''),
    ("RLE size as NumPy ints (json.dumps fails)", '''
def rle_encode(mask):
    flat = np.asarray(mask, dtype=np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    return {"size": list(np.array(np.shape(mask))), "counts": counts}
'''),
    ("RLE decoded as a 0/1 integer mask, not bool", '''
def rle_decode(rle):
    height, width = rle["size"]
    values = np.arange(len(rle["counts"])) % 2
    return np.repeat(values, rle["counts"]).reshape((height, width), order="F")
'''),
    ("polygons stacked before their union (no polygon: crashes)", '''
def polygons_to_mask(polygons, height, width):
    masks = [polygon2mask((height, width), np.asarray(p, dtype=float).reshape(-1, 2)[:, ::-1] - 0.5)
             for p in polygons]
    return np.stack(masks).any(axis=0)
'''),
    ("polygon mask returned as 0/1 floats, not bool", '''
def polygons_to_mask(polygons, height, width):
    mask = np.zeros((height, width))
    for polygon in polygons:
        points = np.asarray(polygon, dtype=float).reshape(-1, 2)
        mask = np.maximum(mask, polygon2mask((height, width), points[:, ::-1] - 0.5))
    return mask
'''),
    ("flip that gives back the input's labels tensor itself", '''
def hflip_sample(image, target):
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, 0] = width - target["boxes"][:, 2]
    boxes[:, 2] = width - target["boxes"][:, 0]
    return image.flip(-1), {"semantic": target["semantic"].flip(-1),
                            "masks": target["masks"].flip(-1), "boxes": boxes,
                            "labels": target["labels"]}
'''),
    ("labels wrapped as a tv_tensors.Mask", '''
def as_tv_sample(image, target):
    height, width = image.shape[-2:]
    return tv_tensors.Image(image), {
        "semantic": tv_tensors.Mask(target["semantic"]), "masks": tv_tensors.Mask(target["masks"]),
        "boxes": tv_tensors.BoundingBoxes(target["boxes"], format="XYXY",
                                          canvas_size=(height, width)),
        "labels": tv_tensors.Mask(target["labels"])}
'''),
    ("the new boxes' canvas_size taken from the image before the crop", '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        canvas = tuple(image.shape[-2:])
        image, target = geometry(image, target)
        masks = target["masks"].as_subclass(torch.Tensor)
        keep = masks.flatten(1).any(dim=1)
        boxes = tv_tensors.BoundingBoxes(boxes_from_masks(masks[keep]), format="XYXY",
                                         canvas_size=canvas)
        return image, {**target, "masks": tv_tensors.Mask(masks[keep]),
                       "labels": target["labels"][keep], "boxes": boxes}
    return augment
'''),
    ("void relabelled in place (masked_fill_ changes the caller's target)", '''
def masked_cross_entropy(logits, target, ignore_index=255):
    valid = target != ignore_index
    target.masked_fill_(~valid, 0)
    nll = -F.log_softmax(logits, dim=1).gather(1, target[:, None])[:, 0]
    return nll[valid].mean()
'''),
    ("void predictions overwritten in the caller's pred", '''
def class_iou(pred, target, num_classes, ignore_index=255):
    pred[target == ignore_index] = -1  # so that a void pixel matches no class
    iou = torch.full((num_classes,), float("nan"))
    for c in range(num_classes):
        union = ((pred == c) | (target == c)).sum()
        if union > 0:
            iou[c] = ((pred == c) & (target == c)).sum() / union
    return iou
'''),
    ("IoU as float64 NumPy array", '''
def class_iou(pred, target, num_classes, ignore_index=255):
    valid = target != ignore_index
    pred, target = pred[valid].numpy(), target[valid].numpy()
    iou = np.full(num_classes, np.nan)
    for c in range(num_classes):
        union = ((pred == c) | (target == c)).sum()
        if union > 0:
            iou[c] = ((pred == c) & (target == c)).sum() / union
    return iou
'''),
    # --- second pass: the contract items still without a slip (dtypes, NumPy versus
    # torch results, the empty mask's box, the trailing run, the image's values, the window,
    # the labels dropped together, logits untouched, num_classes, ignore_index, the gradient)
    ("boxes in float64", '''
def boxes_from_masks(masks):
    boxes = torch.zeros(len(masks), 4, dtype=torch.float64)
    for k, mask in enumerate(masks):
        rows, cols = torch.nonzero(mask, as_tuple=True)
        if len(rows):
            box = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            boxes[k] = torch.stack(box).double()
    return boxes
'''),
    ("boxes by argmax: an empty mask gets (0, 0, W, H)", '''
def boxes_from_masks(masks):
    cols, rows = masks.any(dim=1).int(), masks.any(dim=2).int()  # (N, W), (N, H)
    width, height = cols.shape[1], rows.shape[1]
    x1, y1 = cols.argmax(dim=1), rows.argmax(dim=1)
    x2, y2 = width - cols.flip(1).argmax(dim=1), height - rows.flip(1).argmax(dim=1)
    return torch.stack([x1, y1, x2, y2], dim=1).float()
'''),
    ("RLE with a trailing run of length 0 when the last pixel is 1", '''
def rle_encode(mask):
    flat = np.asarray(mask, dtype=np.uint8).flatten(order="F")
    padded = np.concatenate([[0], flat, [0]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # starts and ends of the runs of 1s
    counts = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return {"size": [int(n) for n in np.shape(mask)], "counts": counts}
'''),
    ("RLE decoded to a torch tensor, not a NumPy array", '''
def rle_decode(rle):
    height, width = rle["size"]
    values = np.arange(len(rle["counts"])) % 2
    flat = np.repeat(values, rle["counts"]).astype(bool)
    return torch.from_numpy(flat.reshape((height, width), order="F"))
'''),
    ("polygon mask returned as a torch tensor, not a NumPy array", '''
def polygons_to_mask(polygons, height, width):
    mask = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        points = np.asarray(polygon, dtype=float).reshape(-1, 2)
        mask |= polygon2mask((height, width), points[:, ::-1] - 0.5)
    return torch.from_numpy(mask)
'''),
    ("flip that flips every entry with .flip(-1), the labels too", '''
def hflip_sample(image, target):
    width = image.shape[-1]
    out = {key: value.flip(-1) for key, value in target.items()}
    boxes = target["boxes"].clone()
    boxes[:, 0] = width - target["boxes"][:, 2]
    boxes[:, 2] = width - target["boxes"][:, 0]
    out["boxes"] = boxes
    return image.flip(-1), out
'''),
    ("flip that leaves the semantic map where it was", '''
def hflip_sample(image, target):
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, 0] = width - target["boxes"][:, 2]
    boxes[:, 2] = width - target["boxes"][:, 0]
    return image.flip(-1), {"semantic": target["semantic"].clone(),
                            "masks": target["masks"].flip(-1), "boxes": boxes,
                            "labels": target["labels"].clone()}
'''),
    ("image wrapped as uint8 (values times 255)", '''
def as_tv_sample(image, target):
    height, width = image.shape[-2:]
    return tv_tensors.Image((image * 255).round().to(torch.uint8)), {
        "semantic": tv_tensors.Mask(target["semantic"]), "masks": tv_tensors.Mask(target["masks"]),
        "boxes": tv_tensors.BoundingBoxes(target["boxes"], format="XYXY",
                                          canvas_size=(height, width)),
        "labels": target["labels"]}
'''),
    ("boxes declared XYWH", '''
def as_tv_sample(image, target):
    height, width = image.shape[-2:]
    return tv_tensors.Image(image), {
        "semantic": tv_tensors.Mask(target["semantic"]), "masks": tv_tensors.Mask(target["masks"]),
        "boxes": tv_tensors.BoundingBoxes(target["boxes"], format="XYWH",
                                          canvas_size=(height, width)),
        "labels": target["labels"]}
'''),
    ("a centre crop instead of a random window", REPAIR + '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.CenterCrop(size)])

    def augment(image, target):
        image, target = geometry(image, target)
        return image, repair(target, size)
    return augment
'''),
    ("empty objects' masks dropped, their labels kept", '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        image, target = geometry(image, target)
        masks = target["masks"].as_subclass(torch.Tensor)
        keep = masks.flatten(1).any(dim=1)
        boxes = tv_tensors.BoundingBoxes(boxes_from_masks(masks[keep]), format="XYXY",
                                         canvas_size=(size, size))
        return image, {**target, "masks": tv_tensors.Mask(masks[keep]), "boxes": boxes}
    return augment
'''),
    ("loss stabilised by shifting the caller's logits in place", '''
def masked_cross_entropy(logits, target, ignore_index=255):
    with torch.no_grad():
        logits -= logits.amax(dim=1, keepdim=True)  # exp() cannot overflow now
    valid = target != ignore_index
    log_p = logits - logits.exp().sum(dim=1, keepdim=True).log()
    nll = -log_p.gather(1, target.masked_fill(~valid, 0)[:, None])[:, 0]
    return nll[valid].mean()
'''),
    ("loss compared with 255, not with ignore_index", '''
def masked_cross_entropy(logits, target, ignore_index=255):
    valid = target != 255
    safe = target.masked_fill(~valid, 0)
    nll = -F.log_softmax(logits, dim=1).gather(1, safe[:, None])[:, 0]
    return nll[valid].mean()
'''),
    ("loss returned as a Python float (.item())", '''
def masked_cross_entropy(logits, target, ignore_index=255):
    valid = target != ignore_index
    safe = target.masked_fill(~valid, 0)
    nll = -F.log_softmax(logits, dim=1).gather(1, safe[:, None])[:, 0]
    return nll[valid].mean().item()
'''),
    ("IoU of the classes seen in the data, not num_classes", '''
def class_iou(pred, target, num_classes, ignore_index=255):
    valid = target != ignore_index
    pred, target = pred[valid], target[valid]
    seen = int(max(pred.max(), target.max())) + 1
    iou = torch.full((seen,), float("nan"))
    for c in range(seen):
        union = ((pred == c) | (target == c)).sum()
        if union > 0:
            iou[c] = ((pred == c) & (target == c)).sum() / union
    return iou
'''),
    ("IoU compared with 255, not with ignore_index", '''
def class_iou(pred, target, num_classes, ignore_index=255):
    valid = target != 255
    pred, target = pred[valid], target[valid]
    iou = torch.full((num_classes,), float("nan"))
    for c in range(num_classes):
        union = ((pred == c) | (target == c)).sum()
        if union > 0:
            iou[c] = ((pred == c) & (target == c)).sum() / union
    return iou
'''),
    ("loss detached from the logits", '''
def masked_cross_entropy(logits, target, ignore_index=255):
    valid = target != ignore_index
    safe = target.masked_fill(~valid, 0)
    nll = -F.log_softmax(logits.detach(), dim=1).gather(1, safe[:, None])[:, 0]
    return nll[valid].mean()
'''),
    # --- the last items: the inputs rle_decode and boxes_from_masks must leave as they were
    ("RLE decoded by popping the caller's counts", '''
def rle_decode(rle):
    height, width = rle["size"]
    counts, value, flat = rle["counts"], False, []
    while counts:  # one run at a time, taken off the front of the caller's list
        flat += [value] * counts.pop(0)
        value = not value
    return np.array(flat, dtype=bool).reshape((height, width), order="F")
'''),
    ("boxes with columns read through masks.transpose_ (the caller's masks turn (N, W, H))", '''
def boxes_from_masks(masks):
    def span(lines):  # (N, L, M) -> (N, 2): first and last + 1 index along L with a pixel
        spans = torch.zeros(len(lines), 2)
        for k, hit in enumerate(lines.any(dim=2)):
            index = torch.nonzero(hit)[:, 0]
            if len(index):
                spans[k] = torch.stack([index.min(), index.max() + 1]).float()
        return spans
    y = span(masks)  # rows
    x = span(masks.transpose_(1, 2))  # columns: the underscore transposes the caller's masks
    return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=1)
'''),
    ("boxes that put a pixel into the caller's empty masks so that min and max exist", '''
def boxes_from_masks(masks):
    empty = ~masks.flatten(1).any(dim=1)
    masks[empty, 0, 0] = True  # a pixel in each empty mask: min and max have something to take
    boxes = torch.zeros(len(masks), 4)
    for k, mask in enumerate(masks):
        rows, cols = torch.nonzero(mask, as_tuple=True)
        boxes[k] = torch.stack([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]).float()
    boxes[empty] = 0.0  # the boxes of the masks that were empty
    return boxes
'''),
]
