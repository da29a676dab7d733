"""Lab 01's single-TODO mutants: answers a student could plausibly write (see ``__init__``)."""

LAB = "01_losses.ipynb"

MUTANTS = [
    # --- my_cross_entropy
    ("log of the softmax (underflows)", '''
def my_cross_entropy(logits, target):
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(logits.dtype)
    return -(one_hot * logits.softmax(dim=1).log()).sum(dim=1).mean()
'''),
    ("mean over the classes too", '''
def my_cross_entropy(logits, target):
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(logits.dtype)
    return -(one_hot * F.log_softmax(logits, dim=1)).mean()
'''),
    # --- my_weighted_cross_entropy, inverse_frequency
    ("weighted sum divided by the number of pixels", '''
def my_weighted_cross_entropy(logits, target, weight):
    log_p = F.log_softmax(logits, dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
    return -(weight[target] * log_p).mean()
'''),
    ("inverse frequency without the number of classes", '''
def inverse_frequency(target, num_classes):
    counts = torch.bincount(target.reshape(-1).long(), minlength=num_classes).double()
    weight = counts.sum() / counts
    return torch.where(counts > 0, weight, torch.zeros_like(weight)).float()
'''),
    ("inverse frequency infinite for an absent class", '''
def inverse_frequency(target, num_classes):
    counts = torch.bincount(target.reshape(-1).long(), minlength=num_classes).double()
    return (counts.sum() / (num_classes * counts)).float()
'''),
    # --- my_dice_loss
    ("Dice per image, then averaged", '''
def my_dice_loss(logits, target, smooth=1.0):
    probs = logits.softmax(dim=1)
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(probs.dtype)
    intersection = (probs * one_hot).sum((2, 3))
    dice = (2 * intersection + smooth) / (probs.sum((2, 3)) + one_hot.sum((2, 3)) + smooth)
    return (1 - dice).mean()
'''),
    ("smoothing in the numerator only", '''
def my_dice_loss(logits, target, smooth=1.0):
    probs = logits.softmax(dim=1)
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(probs.dtype)
    dims = (0, 2, 3)
    intersection = (probs * one_hot).sum(dims)
    dice = (2 * intersection + smooth) / (probs.sum(dims) + one_hot.sum(dims))
    return (1 - dice).mean()
'''),
    # --- my_focal_loss
    ("the factor p_t^gamma instead of (1 - p_t)^gamma", '''
def my_focal_loss(logits, target, gamma=2.0):
    log_p_t = F.log_softmax(logits, dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
    return (-(log_p_t.exp() ** gamma) * log_p_t).mean()
'''),
    ("p_t from log(softmax)", '''
def my_focal_loss(logits, target, gamma=2.0):
    p_t = logits.softmax(dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
    return (-((1 - p_t) ** gamma) * p_t.log()).mean()
'''),
    # --- my_soft_iou_loss, my_box_iou_loss
    ("box union without subtracting the intersection", '''
def my_box_iou_loss(pred, target):
    top_left = torch.maximum(pred[:, :2], target[:, :2])
    bottom_right = torch.minimum(pred[:, 2:], target[:, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    intersection = wh[:, 0] * wh[:, 1]
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return 1 - intersection / (area(pred) + area(target))
'''),
    ("box overlap not clamped at 0", '''
def my_box_iou_loss(pred, target):
    top_left = torch.maximum(pred[:, :2], target[:, :2])
    bottom_right = torch.minimum(pred[:, 2:], target[:, 2:])
    wh = bottom_right - top_left
    intersection = wh[:, 0] * wh[:, 1]
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return 1 - intersection / (area(pred) + area(target) - intersection)
'''),
    ("soft IoU computed as the Dice", '''
def my_soft_iou_loss(logits, target, smooth=1.0):
    probs = logits.softmax(dim=1)
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(probs.dtype)
    dims = (0, 2, 3)
    intersection = (probs * one_hot).sum(dims)
    return (1 - (2 * intersection + smooth) / (probs.sum(dims) + one_hot.sum(dims) + smooth)).mean()
'''),
    # --- my_train_step
    ("no zero_grad: gradients pile up", '''
def my_train_step(model, images, labels, *, loss_fn, optimizer, scaler, amp=False, grad_clip=None):
    with torch.autocast(images.device.type, enabled=amp):
        loss = loss_fn(model(images), labels)
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()
'''),
    ("optimizer.step() past the scaler", '''
def my_train_step(model, images, labels, *, loss_fn, optimizer, scaler, amp=False, grad_clip=None):
    with torch.autocast(images.device.type, enabled=amp):
        loss = loss_fn(model(images), labels)
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
    optimizer.step()
    return loss.detach()
'''),
    ("loss returned with its graph", '''
def my_train_step(model, images, labels, *, loss_fn, optimizer, scaler, amp=False, grad_clip=None):
    with torch.autocast(images.device.type, enabled=amp):
        loss = loss_fn(model(images), labels)
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss
'''),
    # --- my_evaluate, iou_from_confusion
    ("evaluation in training mode", '''
def my_evaluate(model, loader, num_classes, device, ignore_index=None):
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)
    with torch.no_grad():
        for images, labels in loader:
            preds = model(images.to(device)).argmax(dim=1).cpu()
            matrix += segedu.metrics.confusion_matrix(preds, labels, num_classes,
                                                      ignore_index=ignore_index)
    return matrix
'''),
    ("model left in eval mode", '''
def my_evaluate(model, loader, num_classes, device, ignore_index=None):
    model.eval()
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)
    with torch.no_grad():
        for images, labels in loader:
            preds = model(images.to(device)).argmax(dim=1).cpu()
            matrix += segedu.metrics.confusion_matrix(preds, labels, num_classes,
                                                      ignore_index=ignore_index)
    return matrix
'''),
    ("IoU 0 instead of NaN for a class absent from both", '''
def iou_from_confusion(matrix):
    matrix = matrix.double()
    tp = matrix.diagonal()
    union = matrix.sum(dim=1) + matrix.sum(dim=0) - tp
    return tp / union.clamp(min=1)
'''),
    # --- one slip per item of each TODO's contract, written before its check
    ("logits shifted in place for stability (the caller's logits change)", '''
def my_cross_entropy(logits, target):
    logits -= logits.amax(dim=1, keepdim=True)  # log-sum-exp trick, in place
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(logits.dtype)
    return -(one_hot * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
'''),
    ("weights normalised in place (the caller's weight changes)", '''
def my_weighted_cross_entropy(logits, target, weight):
    weight /= weight.sum()  # a weighted mean does not change when the weights are scaled
    log_p = F.log_softmax(logits, dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
    pixel_weight = weight[target.long()]
    return -(pixel_weight * log_p).sum() / pixel_weight.sum()
'''),
    ("inverse-frequency weights as float64 (F.cross_entropy refuses them)", '''
def inverse_frequency(target, num_classes):
    counts = torch.bincount(target.reshape(-1).long(), minlength=num_classes).double()
    return torch.where(counts > 0, counts.sum() / (num_classes * counts), torch.zeros_like(counts))
'''),
    ("Dice of the background class 0 left out of the mean", '''
def my_dice_loss(logits, target, smooth=1.0):
    probs = logits.softmax(dim=1)
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(probs.dtype)
    dims = (0, 2, 3)
    intersection = (probs * one_hot).sum(dims)
    dice = (2 * intersection + smooth) / (probs.sum(dims) + one_hot.sum(dims) + smooth)
    return (1 - dice[1:]).mean()
'''),
    ("focal loss with gamma fixed at 2", '''
def my_focal_loss(logits, target, gamma=2.0):
    log_p_t = F.log_softmax(logits, dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
    return (-((1 - log_p_t.exp()) ** 2) * log_p_t).mean()
'''),
    ("soft IoU with the smoothing fixed at 1", '''
def my_soft_iou_loss(logits, target, smooth=1.0):
    probs = logits.softmax(dim=1)
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(probs.dtype)
    dims = (0, 2, 3)
    intersection = (probs * one_hot).sum(dims)
    union = probs.sum(dims) + one_hot.sum(dims) - intersection
    return (1 - (intersection + 1) / (union + 1)).mean()
'''),
    ("box IoU loss pair by pair, stacked (no pair: crashes)", '''
def my_box_iou_loss(pred, target):
    losses = []
    for a, b in zip(pred, target):
        w = (torch.minimum(a[2], b[2]) - torch.maximum(a[0], b[0])).clamp(min=0)
        h = (torch.minimum(a[3], b[3]) - torch.maximum(a[1], b[1])).clamp(min=0)
        inter = w * h
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        losses.append(1 - inter / union)
    return torch.stack(losses)
'''),
    ("amp ignored: the forward pass never under autocast", '''
def my_train_step(model, images, labels, *, loss_fn, optimizer, scaler, amp=False, grad_clip=None):
    with torch.autocast(images.device.type, enabled=False):
        loss = loss_fn(model(images), labels)
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()
'''),
    ("confusion matrix counted in float32", '''
def my_evaluate(model, loader, num_classes, device, ignore_index=None):
    was_training = model.training
    model.eval()
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.float32)
    with torch.no_grad():
        for images, labels in loader:
            preds = model(images.to(device)).argmax(dim=1).cpu()
            matrix += segedu.metrics.confusion_matrix(preds, labels, num_classes,
                                                      ignore_index=ignore_index)
    model.train(was_training)
    return matrix
'''),
    ("predictions with autograd on (no torch.no_grad())", '''
def my_evaluate(model, loader, num_classes, device, ignore_index=None):
    was_training = model.training
    model.eval()
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)
    if True:
        for images, labels in loader:
            preds = model(images.to(device)).argmax(dim=1).cpu()
            matrix += segedu.metrics.confusion_matrix(preds, labels, num_classes,
                                                      ignore_index=ignore_index)
    model.train(was_training)
    return matrix
'''),
    ("ignore_index 0 taken for None (`if ignore_index:`)", '''
def my_evaluate(model, loader, num_classes, device, ignore_index=None):
    was_training = model.training
    model.eval()
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)
    with torch.no_grad():
        for images, labels in loader:
            preds = model(images.to(device)).argmax(dim=1).cpu()
            if ignore_index:
                keep = labels != ignore_index
                preds, labels = preds[keep], labels[keep]
            matrix += segedu.metrics.confusion_matrix(preds, labels, num_classes)
    model.train(was_training)
    return matrix
'''),
    ("ignore_index fixed at 255", '''
def my_evaluate(model, loader, num_classes, device, ignore_index=None):
    was_training = model.training
    model.eval()
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)
    with torch.no_grad():
        for images, labels in loader:
            preds = model(images.to(device)).argmax(dim=1).cpu()
            matrix += segedu.metrics.confusion_matrix(preds, labels, num_classes, ignore_index=255)
    model.train(was_training)
    return matrix
'''),
    # --- second pass: the contract items still without a slip (a 0-dim tensor with its
    # gradient, C = num_classes, 0 for an absent class, smooth, per batch, (K,) losses, the true
    # gradients clipped, the scaler updated, a tensor returned, every batch, the mode restored)
    ("cross-entropy returned as a Python float (.item())", '''
def my_cross_entropy(logits, target):
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(logits.dtype)
    return -(one_hot * F.log_softmax(logits, dim=1)).sum(dim=1).mean().item()
'''),
    ("cross-entropy detached from the logits", '''
def my_cross_entropy(logits, target):
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(logits.dtype)
    return -(one_hot * F.log_softmax(logits.detach(), dim=1)).sum(dim=1).mean()
'''),
    ("inverse frequency without minlength (C = the largest label + 1)", '''
def inverse_frequency(target, num_classes):
    counts = torch.bincount(target.reshape(-1).long()).double()
    weight = counts.sum() / (num_classes * counts)
    return torch.where(counts > 0, weight, torch.zeros_like(weight)).float()
'''),
    ("inverse frequency of an absent class from a count clamped at 1", '''
def inverse_frequency(target, num_classes):
    counts = torch.bincount(target.reshape(-1).long(), minlength=num_classes).double()
    return (counts.sum() / (num_classes * counts.clamp(min=1))).float()
'''),
    ("Dice with the smoothing fixed at 1", '''
def my_dice_loss(logits, target, smooth=1.0):
    probs = logits.softmax(dim=1)
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(probs.dtype)
    dims = (0, 2, 3)
    intersection = (probs * one_hot).sum(dims)
    return (1 - (2 * intersection + 1) / (probs.sum(dims) + one_hot.sum(dims) + 1)).mean()
'''),
    ("focal factor (1 - p_t)^gamma detached from the graph", '''
def my_focal_loss(logits, target, gamma=2.0):
    log_p_t = F.log_softmax(logits, dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
    factor = (1 - log_p_t.detach().exp()) ** gamma
    return (-factor * log_p_t).mean()
'''),
    ("soft IoU per image, then averaged", '''
def my_soft_iou_loss(logits, target, smooth=1.0):
    probs = logits.softmax(dim=1)
    one_hot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(probs.dtype)
    dims = (2, 3)
    intersection = (probs * one_hot).sum(dims)
    union = probs.sum(dims) + one_hot.sum(dims) - intersection
    return (1 - (intersection + smooth) / (union + smooth)).mean()
'''),
    ("box IoU loss averaged over the pairs (a scalar, not (K,))", '''
def my_box_iou_loss(pred, target):
    top_left = torch.maximum(pred[:, :2], target[:, :2])
    bottom_right = torch.minimum(pred[:, 2:], target[:, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area_p = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    return (1 - inter / (area_p + area_t - inter)).mean()
'''),
    ("gradients clipped while still scaled (no unscale_)", '''
def my_train_step(model, images, labels, *, loss_fn, optimizer, scaler, amp=False, grad_clip=None):
    with torch.autocast(images.device.type, enabled=amp):
        loss = loss_fn(model(images), labels)
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()
'''),
    ("no scaler.update() after the step", '''
def my_train_step(model, images, labels, *, loss_fn, optimizer, scaler, amp=False, grad_clip=None):
    with torch.autocast(images.device.type, enabled=amp):
        loss = loss_fn(model(images), labels)
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
    scaler.step(optimizer)
    return loss.detach()
'''),
    ("training-step loss returned as a Python float (.item())", '''
def my_train_step(model, images, labels, *, loss_fn, optimizer, scaler, amp=False, grad_clip=None):
    with torch.autocast(images.device.type, enabled=amp):
        loss = loss_fn(model(images), labels)
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
'''),
    ("confusion matrix of the last batch only (= instead of +=)", '''
def my_evaluate(model, loader, num_classes, device, ignore_index=None):
    was_training = model.training
    model.eval()
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)
    with torch.no_grad():
        for images, labels in loader:
            preds = model(images.to(device)).argmax(dim=1).cpu()
            matrix = segedu.metrics.confusion_matrix(preds, labels, num_classes,
                                                     ignore_index=ignore_index)
    model.train(was_training)
    return matrix
'''),
    ("model put in training mode at the end, whatever its mode", '''
def my_evaluate(model, loader, num_classes, device, ignore_index=None):
    was_training = model.training
    model.eval()
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)
    with torch.no_grad():
        for images, labels in loader:
            preds = model(images.to(device)).argmax(dim=1).cpu()
            matrix += segedu.metrics.confusion_matrix(preds, labels, num_classes,
                                                      ignore_index=ignore_index)
    model.train()
    return matrix
'''),
]
