"""Lab 08's single-TODO mutants: answers a student could plausibly write.

Patches flattened channel-last, attention without 1/sqrt(d), PCA without centring,
k-means whose empty cluster goes to NaN, click codes at the pixel corner, a box with x_max + 1, ...
Each replaces the functions it defines (the rest of the lab keeps the solution);
``tests/grading/test_lab_mutants.py`` grades it. The mutants were written from the TODOs' text
before the graded cells were read again, so the checks answer them.
"""

LAB = "08_features_prompts.ipynb"

# (name, source that replaces the student's function(s); the TODO is the one that defines them)
MUTANTS = [
    ('patch flattened (row, column, channel)', '''
def my_patch_embed(images, weight, bias, patch):
    b, c, height, width = images.shape
    if height % patch or width % patch:
        raise ValueError("not a multiple of the patch size")
    h, w = height // patch, width // patch
    patches = images.reshape(b, c, h, patch, w, patch).permute(0, 2, 4, 3, 5, 1).reshape(b,
                                                                                         h * w, -1)
    return patches @ weight.reshape(weight.shape[0], -1).T + bias
'''),
    ('patch grid in column-major order', '''
def my_patch_embed(images, weight, bias, patch):
    b, c, height, width = images.shape
    if height % patch or width % patch:
        raise ValueError("not a multiple of the patch size")
    h, w = height // patch, width // patch
    patches = images.reshape(b, c, h, patch, w, patch).permute(0, 4, 2, 1, 3, 5).reshape(b,
                                                                                         h * w, -1)
    return patches @ weight.reshape(weight.shape[0], -1).T + bias
'''),
    ('patch embedding truncates an image that is not a multiple of the patch', '''
def my_patch_embed(images, weight, bias, patch):
    b, c, height, width = images.shape
    h, w = height // patch, width // patch
    images = images[:, :, : h * patch, : w * patch]
    patches = images.reshape(b, c, h, patch, w, patch).permute(0, 2, 4, 1, 3, 5).reshape(b,
                                                                                         h * w, -1)
    return patches @ weight.reshape(weight.shape[0], -1).T + bias
'''),
    ('patch embedding without the bias', '''
def my_patch_embed(images, weight, bias, patch):
    b, c, height, width = images.shape
    if height % patch or width % patch:
        raise ValueError("not a multiple of the patch size")
    h, w = height // patch, width // patch
    patches = images.reshape(b, c, h, patch, w, patch).permute(0, 2, 4, 1, 3, 5).reshape(b,
                                                                                         h * w, -1)
    return patches @ weight.reshape(weight.shape[0], -1).T
'''),
    ('attention: the class token dropped before the softmax', '''
def my_last_attention(model, images):
    h, w = model.patch_grid(images)
    q, k, _ = model.get_last_qkv(images)
    logits = q[:, :, :1, :] @ k[:, :, 1:].transpose(-2, -1) / math.sqrt(q.shape[-1])
    return logits.softmax(dim=-1)[:, :, 0].reshape(images.shape[0], -1, h, w)
'''),
    ('attention without the 1/sqrt(d)', '''
def my_last_attention(model, images):
    h, w = model.patch_grid(images)
    q, k, _ = model.get_last_qkv(images)
    logits = q[:, :, :1] @ k.transpose(-2, -1)
    return logits.softmax(dim=-1)[:, :, 0, 1:].reshape(images.shape[0], -1, h, w)
'''),
    ('attention grid reshaped (w, h)', '''
def my_last_attention(model, images):
    h, w = model.patch_grid(images)
    q, k, _ = model.get_last_qkv(images)
    logits = q[:, :, :1] @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    a = logits.softmax(dim=-1)[:, :, 0, 1:]
    return a.reshape(images.shape[0], -1, w, h).transpose(-2, -1)
'''),
    ('attention: column 0 of the map (what attends to the class token)', '''
def my_last_attention(model, images):
    h, w = model.patch_grid(images)
    q, k, _ = model.get_last_qkv(images)
    full = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)
    return full[:, :, 1:, 0].reshape(images.shape[0], -1, h, w)
'''),
    ('PCA without centring', '''
def my_pca(points, n):
    m, d = points.shape
    if not 1 <= n <= min(m, d):
        raise ValueError("n out of range")
    u, s, vt = torch.linalg.svd(points, full_matrices=False)
    return u[:, :n] * s[:n], vt[:n], s[:n] ** 2 / (m - 1)
'''),
    ('PCA variance divided by M', '''
def my_pca(points, n):
    m, d = points.shape
    if not 1 <= n <= min(m, d):
        raise ValueError("n out of range")
    u, s, vt = torch.linalg.svd(points - points.mean(0), full_matrices=False)
    return u[:, :n] * s[:n], vt[:n], s[:n] ** 2 / m
'''),
    ('PCA without the ValueError for n > min(M, D)', '''
def my_pca(points, n):
    m, d = points.shape
    u, s, vt = torch.linalg.svd(points - points.mean(0), full_matrices=False)
    return u[:, :n] * s[:n], vt[:n], s[:n] ** 2 / (m - 1)
'''),
    ('PCA scores without the singular values', '''
def my_pca(points, n):
    m, d = points.shape
    if not 1 <= n <= min(m, d):
        raise ValueError("n out of range")
    u, s, vt = torch.linalg.svd(points - points.mean(0), full_matrices=False)
    return u[:, :n], vt[:n], s[:n] ** 2 / (m - 1)
'''),
    ("k-means: an empty cluster's centre becomes NaN", '''
def my_kmeans(points, centres, iterations):
    centres = centres.clone().to(points.dtype)
    k = centres.shape[0]
    for _ in range(iterations):
        labels = torch.cdist(points, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        centres = sums / torch.bincount(labels, minlength=k).to(points.dtype)[:, None]
    return torch.cdist(points, centres).argmin(dim=1), centres
'''),
    ("k-means: an empty cluster's centre moves to 0", '''
def my_kmeans(points, centres, iterations):
    centres = centres.clone().to(points.dtype)
    k = centres.shape[0]
    for _ in range(iterations):
        labels = torch.cdist(points, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        centres = sums / torch.bincount(labels, minlength=k).to(points.dtype).clamp(min=1)[:, None]
    return torch.cdist(points, centres).argmin(dim=1), centres
'''),
    ('k-means: labels of the last assignment, not of the final centres', '''
def my_kmeans(points, centres, iterations):
    centres = centres.clone().to(points.dtype)
    k = centres.shape[0]
    labels = torch.cdist(points, centres).argmin(dim=1)
    for _ in range(iterations):
        labels = torch.cdist(points, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        counts = torch.bincount(labels, minlength=k).to(points.dtype)
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centres)
    return labels, centres
'''),
    ('k-means: one round too many', '''
_right_kmeans = my_kmeans
def my_kmeans(points, centres, iterations):
    return _right_kmeans(points, centres, iterations + 1)
'''),
    ('resize: the same factor on both axes', '''
def my_resize_coords(coords, original_size, long_side):
    return coords.to(torch.float64).mul(long_side / max(original_size)).float()
'''),
    ('resize: the new size truncated, not rounded', '''
def my_resize_coords(coords, original_size, long_side):
    height, width = original_size
    scale = long_side / max(height, width)
    new_h, new_w = int(height * scale), int(width * scale)
    return (coords.to(torch.float64) * torch.tensor([new_w / width, new_h / height])).float()
'''),
    ("resize: the axes' factors swapped", '''
def my_resize_coords(coords, original_size, long_side):
    height, width = original_size
    scale = long_side / max(height, width)
    new_h, new_w = int(height * scale + 0.5), int(width * scale + 0.5)
    return (coords.to(torch.float64) * torch.tensor([new_h / height, new_w / width])).float()
'''),
    ('resize: integer points stay integers', '''
def my_resize_coords(coords, original_size, long_side):
    height, width = original_size
    scale = long_side / max(height, width)
    new_h, new_w = int(height * scale + 0.5), int(width * scale + 0.5)
    return (coords.to(torch.float64) * torch.tensor([new_w / width,
                                                     new_h / height])).to(coords.dtype)
'''),
    ('Fourier features of p, not 2p - 1', '''
def my_fourier_features(coords01, gaussian):
    angles = 2 * math.pi * (coords01 @ gaussian)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
'''),
    ('Fourier features cosines first', '''
def my_fourier_features(coords01, gaussian):
    angles = 2 * math.pi * ((2 * coords01 - 1) @ gaussian)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
'''),
    ('point code of the pixel corner (no + 0.5)', '''
def my_point_code(points, image_size, gaussian):
    height, width = image_size
    size = torch.tensor([width, height], dtype=gaussian.dtype)
    return my_fourier_features(points.to(gaussian.dtype) / size, gaussian)
'''),
    ('point code normalised x by H and y by W', '''
def my_point_code(points, image_size, gaussian):
    height, width = image_size
    centres = points.to(gaussian.dtype) + 0.5
    return my_fourier_features(centres / torch.tensor([height, width], dtype=gaussian.dtype),
                               gaussian)
'''),
    ('mask IoU of two empty masks raises ZeroDivisionError', '''
def mask_iou(a, b):
    return int((a & b).sum()) / int((a | b).sum())
'''),
    ('mask IoU returns a tensor', '''
def mask_iou(a, b):
    union = (a | b).sum()
    return torch.tensor(1.0) if union == 0 else (a & b).sum() / union
'''),
    ('choose the lowest score', '''
def choose(masks, scores):
    return masks[int(scores.argmin())]
'''),
    ('choose the last mask on ties', '''
def choose(masks, scores):
    return masks[len(scores) - 1 - int(scores.flip(0).argmax())]
'''),
    ('box with exclusive max (x_max + 1)', '''
def box_of(mask):
    if not mask.any():
        raise ValueError("empty")
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()
'''),
    ('box of an empty mask without a ValueError', '''
def box_of(mask):
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if len(xs) == 0:
        return torch.zeros(4)
    return torch.stack([xs.min(), ys.min(), xs.max(), ys.max()]).float()
'''),
    ('box as (y_min, x_min, y_max, x_max)', '''
def box_of(mask):
    if not mask.any():
        raise ValueError("empty")
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return torch.stack([ys.min(), xs.min(), ys.max(), xs.max()]).float()
'''),
    ('correction click as (y, x)', '''
def correction_click(pred, truth, rng):
    error = pred ^ truth
    candidates = error if error.any() else truth
    ys, xs = torch.nonzero(candidates, as_tuple=True)
    i = int(rng.integers(len(xs)))
    return torch.stack([ys[i], xs[i]]).float(), int(truth[ys[i], xs[i]])
'''),
    ('correction click labelled by the prediction', '''
def correction_click(pred, truth, rng):
    error = pred ^ truth
    candidates = error if error.any() else truth
    ys, xs = torch.nonzero(candidates, as_tuple=True)
    i = int(rng.integers(len(xs)))
    return torch.stack([xs[i], ys[i]]).float(), int(pred[ys[i], xs[i]])
'''),
    ('correction click crashes on a perfect prediction', '''
def correction_click(pred, truth, rng):
    ys, xs = torch.nonzero(pred ^ truth, as_tuple=True)
    i = int(rng.integers(len(xs)))
    return torch.stack([xs[i], ys[i]]).float(), int(truth[ys[i], xs[i]])
'''),
    ('correction click drawn among the pixels in column-major order', '''
def correction_click(pred, truth, rng):
    error = pred ^ truth
    candidates = error if error.any() else truth
    xs, ys = torch.nonzero(candidates.T, as_tuple=True)
    i = int(rng.integers(len(xs)))
    return torch.stack([xs[i], ys[i]]).float(), int(truth[ys[i], xs[i]])
'''),
    # the contracts of the TODOs' docstrings: channels, inputs untouched, dtypes
    ('patch embedding with three channels written in', '''
def my_patch_embed(images, weight, bias, patch):
    b, _, height, width = images.shape
    if height % patch or width % patch:
        raise ValueError(f"{height} x {width} is not a multiple of the patch size {patch}")
    h, w = height // patch, width // patch
    patches = images.reshape(b, 3, h, patch, w, patch).permute(0, 2, 4, 1, 3, 5)
    patches = patches.reshape(b, h * w, 3 * patch * patch)
    return patches @ weight.reshape(weight.shape[0], -1).T + bias
'''),
    ('PCA centres the points given in place', '''
def my_pca(points, n):
    m, d = points.shape
    if not 1 <= n <= min(m, d):
        raise ValueError(f"n must be in 1..min(M, D) = {min(m, d)}, got {n}")
    points -= points.mean(dim=0)
    u, s, vt = torch.linalg.svd(points, full_matrices=False)
    return u[:, :n] * s[:n], vt[:n], s[:n] ** 2 / (m - 1)
'''),
    ('PCA computed in float64 whatever the points', '''
def my_pca(points, n):
    m, d = points.shape
    if not 1 <= n <= min(m, d):
        raise ValueError(f"n must be in 1..min(M, D) = {min(m, d)}, got {n}")
    centred = points.double() - points.double().mean(dim=0)
    u, s, vt = torch.linalg.svd(centred, full_matrices=False)
    return u[:, :n] * s[:n], vt[:n], s[:n] ** 2 / (m - 1)
'''),
    ('k-means updates the centres given in place', '''
def my_kmeans(points, centres, iterations):
    k = centres.shape[0]
    for _ in range(iterations):
        labels = torch.cdist(points, centres).argmin(dim=1)
        for j in range(k):
            if (labels == j).any():
                centres[j] = points[labels == j].mean(dim=0)
    return torch.cdist(points, centres).argmin(dim=1), centres
'''),
    ('resize multiplies the clicks given in place', '''
def my_resize_coords(coords, original_size, long_side):
    height, width = original_size
    scale = long_side / max(height, width)
    new_h, new_w = int(height * scale + 0.5), int(width * scale + 0.5)
    factors = torch.tensor([new_w / width, new_h / height], dtype=torch.float64)
    if coords.is_floating_point():
        coords *= factors.to(coords.dtype)
        return coords
    return coords.to(torch.float64) * factors
'''),
    ('point code moves the pixels given to their centres in place', '''
def my_point_code(points, image_size, gaussian):
    height, width = image_size
    points += 0.5
    size = torch.tensor([width, height], dtype=gaussian.dtype)
    return my_fourier_features(points.to(gaussian.dtype) / size, gaussian)
'''),
    # the contract items still without a slip: one empty mask, the masks left untouched, negative
    # scores, non-square masks, the box's and the click's types, one draw, ties in k-means
    ('mask IoU 1.0 when either mask is empty', '''
def mask_iou(a, b):
    if not a.any() or not b.any():
        return 1.0  # empty masks
    return int((a & b).sum()) / int((a | b).sum())
'''),
    ('mask IoU takes the union with logical_or_ (the first mask given grows)', '''
def mask_iou(a, b):
    intersection = int((a & b).sum())
    union = int(a.logical_or_(b).sum())
    return 1.0 if union == 0 else intersection / union
'''),
    ('choose: the best score starts at 0 (negative scores never win)', '''
def choose(masks, scores):
    best, best_score = 0, 0.0
    for i, score in enumerate(scores.tolist()):
        if score > best_score:
            best, best_score = i, score
    return masks[best]
'''),
    ('box from flat indices divided by H (right only for square masks)', '''
def box_of(mask):
    if not mask.any():
        raise ValueError("an empty mask has no box")
    flat = torch.nonzero(mask.flatten())[:, 0]
    height = mask.shape[0]
    ys, xs = flat // height, flat % height
    return torch.stack([xs.min(), ys.min(), xs.max(), ys.max()]).float()
'''),
    ('box as int64 (no .float())', '''
def box_of(mask):
    if not mask.any():
        raise ValueError("an empty mask has no box")
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return torch.stack([xs.min(), ys.min(), xs.max(), ys.max()])
'''),
    ('box as a NumPy array', '''
def box_of(mask):
    if not mask.any():
        raise ValueError("an empty mask has no box")
    ys, xs = np.nonzero(mask.numpy())
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)
'''),
    ('correction click: the error taken with pred ^= truth (the prediction given changed)', '''
def correction_click(pred, truth, rng):
    pred ^= truth  # false negatives and false positives
    candidates = pred if pred.any() else truth
    ys, xs = torch.nonzero(candidates, as_tuple=True)
    i = int(rng.integers(len(xs)))
    x, y = xs[i], ys[i]
    return torch.stack([x, y]).float(), int(truth[y, x])
'''),
    ('correction click label with .item() (a Python bool)', '''
def correction_click(pred, truth, rng):
    error = pred ^ truth
    candidates = error if error.any() else truth
    ys, xs = torch.nonzero(candidates, as_tuple=True)
    i = int(rng.integers(len(xs)))
    x, y = xs[i], ys[i]
    return torch.stack([x, y]).float(), truth[y, x].item()
'''),
    ('correction click as an int64 tensor', '''
def correction_click(pred, truth, rng):
    error = pred ^ truth
    candidates = error if error.any() else truth
    ys, xs = torch.nonzero(candidates, as_tuple=True)
    i = int(rng.integers(len(xs)))
    x, y = xs[i], ys[i]
    return torch.stack([x, y]), int(truth[y, x])
'''),
    ('correction click from flat indices divided by H (right only for square masks)', '''
def correction_click(pred, truth, rng):
    error = pred ^ truth
    candidates = error if error.any() else truth
    flat = torch.nonzero(candidates.flatten())[:, 0]
    i = int(rng.integers(len(flat)))
    y, x = divmod(int(flat[i]), candidates.shape[0])
    return torch.tensor([x, y], dtype=torch.float32), int(truth[y, x])
'''),
    ('correction click: x and y drawn separately (two draws)', '''
def correction_click(pred, truth, rng):
    error = pred ^ truth
    candidates = error if error.any() else truth
    ys, xs = torch.nonzero(candidates, as_tuple=True)
    x = xs[int(rng.integers(len(xs)))]
    y = ys[int(rng.integers(len(ys)))]
    return torch.stack([x, y]).float(), int(truth[y, x])
'''),
    ('k-means: ties to the last centre (<= in the loop)', '''
def my_kmeans(points, centres, iterations):
    centres = centres.clone().to(points.dtype)
    k = centres.shape[0]

    def assign(centres):
        distances = torch.cdist(points, centres)
        labels = torch.zeros(len(points), dtype=torch.int64)
        best = distances[:, 0].clone()
        for j in range(1, k):
            closer = distances[:, j] <= best
            labels[closer], best[closer] = j, distances[closer, j]
        return labels

    for _ in range(iterations):
        labels = assign(centres)
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        counts = torch.bincount(labels, minlength=k).to(points.dtype)
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centres)
    return assign(centres), centres
'''),
]
