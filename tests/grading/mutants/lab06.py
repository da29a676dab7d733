"""Lab 06's single-TODO mutants: answers a student could plausibly write.

Star distances that cross a touching nucleus, heat that leaks out of the mask, flows of
(dx, dy), particles that leave the image, end points floored, a Cellpose loss without the 1/2, ...
Each replaces the functions it defines (the rest of the lab keeps the solution);
``tests/grading/test_lab_mutants.py`` grades it. The mutants were written from the TODOs' text
before the graded cells were read again, so the checks answer them.
"""

LAB = "06_cells.ipynb"

# (name, source that replaces the student's function(s); the TODO is the one that defines them)
MUTANTS = [
    ('star distances: stop on the background only (touching nuclei crossed)', '''
_right_star = my_star_distances
def my_star_distances(instances, n_rays=32):
    return _right_star((instances > 0).long(), n_rays) * (instances > 0)
'''),
    ('star distances without the half-pixel correction', '''
_right_star = my_star_distances
def my_star_distances(instances, n_rays=32):
    from segedu.models.bottom_up.stardist.rays import ray_directions as _rd
    d_row, d_col = _rd(n_rays)
    dominant = torch.from_numpy(np.maximum(np.abs(d_row), np.abs(d_col)))[:, None, None]
    dist = _right_star(instances, n_rays)
    return torch.where(dist > 0, dist - 0.5 / dominant + 0.5, dist).float()
'''),
    ('star distances with the offset accumulated in float64', '''
def my_star_distances(instances, n_rays=32):
    labels = instances.numpy()
    height, width = labels.shape
    dist = np.zeros((n_rays, height, width), np.float32)
    rows, cols = np.nonzero(labels)
    own = labels[rows, cols]
    d_row, d_col = ray_directions(n_rays)
    for k in range(n_rays):
        steps = np.zeros(rows.size)
        active = np.arange(rows.size)
        while active.size:
            steps[active] += 1
            i = np.rint(rows[active] + steps[active] * float(d_row[k])).astype(np.int64)
            j = np.rint(cols[active] + steps[active] * float(d_col[k])).astype(np.int64)
            left = (i < 0) | (i >= height) | (j < 0) | (j >= width)
            inside = ~left
            left[inside] = labels[i[inside], j[inside]] != own[active[inside]]
            done = active[left]
            t = steps[done] - 1 + 0.5 / max(abs(float(d_row[k])), abs(float(d_col[k])))
            dist[k, rows[done], cols[done]] = t
            active = active[~left]
    return torch.from_numpy(dist)
'''),
    ('star distances: rows along cos, columns along sin', '''
_right_star = my_star_distances
def my_star_distances(instances, n_rays=32):
    return _right_star(instances.T, n_rays).transpose(1, 2)
'''),
    ('star distances: the image border is not an edge (clamped)', '''
_right_star = my_star_distances
def my_star_distances(instances, n_rays=32):
    padded = torch.nn.functional.pad(instances, (1, 1, 1, 1), mode="replicate")
    return _right_star(padded, n_rays)[:, 1:-1, 1:-1]
'''),
    ('diffusion: heat not kept inside the mask', '''
def my_diffuse(mask, centre, n_iter):
    heat = torch.zeros(mask.shape, dtype=torch.float64)
    cy, cx = centre
    for _ in range(n_iter):
        heat[cy, cx] += 1
        heat = F.avg_pool2d(heat[None, None], 3, stride=1, padding=1, divisor_override=9)[0, 0]
    return heat * mask
'''),
    ('diffusion: source added after the averaging', '''
def my_diffuse(mask, centre, n_iter):
    inside = mask.double()
    heat = torch.zeros_like(inside)
    cy, cx = centre
    for _ in range(n_iter):
        heat = F.avg_pool2d(heat[None, None], 3, stride=1, padding=1, divisor_override=9)[0, 0]
        heat = heat * inside
        heat[cy, cx] += 1
    return heat
'''),
    ('diffusion: divided by the number of pixels in the window', '''
def my_diffuse(mask, centre, n_iter):
    inside = mask.double()
    heat = torch.zeros_like(inside)
    cy, cx = centre
    for _ in range(n_iter):
        heat[cy, cx] += 1
        heat = F.avg_pool2d(heat[None, None], 3, stride=1, padding=1, count_include_pad=False)
        heat = heat[0, 0] * inside
    return heat
'''),
    ('diffusion: (row, col) read as (x, y)', '''
_right_diffuse = my_diffuse
def my_diffuse(mask, centre, n_iter):
    return _right_diffuse(mask, (centre[1], centre[0]), n_iter)
'''),
    ('flows: channels (dx, dy)', '''
_right_flows = my_flows
def my_flows(instances):
    return _right_flows(instances).flip(0)
'''),
    ('flows: neighbours of other nuclei masked', '''
def my_flows(instances):
    centres, ids = mask_centers(instances)
    n_iter = default_diffusion_iterations(instances)
    grad = torch.zeros(2, *instances.shape, dtype=torch.float64)
    for (cy, cx), i in zip(centres.tolist(), ids.tolist(), strict=True):
        heat = F.pad(my_diffuse(instances == i, (cy, cx), n_iter), (1, 1, 1, 1))
        own = instances == i
        grad[0] += (heat[2:, 1:-1] - heat[:-2, 1:-1]) * own
        grad[1] += (heat[1:-1, 2:] - heat[1:-1, :-2]) * own
    grad = grad / (1e-60 + grad.norm(dim=0))
    return (grad * (instances > 0)).float()
'''),
    ('flows: torch.gradient (one-sided at the image border)', '''
def my_flows(instances):
    centres, ids = mask_centers(instances)
    n_iter = default_diffusion_iterations(instances)
    heat = torch.zeros(instances.shape, dtype=torch.float64)
    for (cy, cx), i in zip(centres.tolist(), ids.tolist(), strict=True):
        heat += my_diffuse(instances == i, (cy, cx), n_iter)
    grad = torch.stack(torch.gradient(heat))
    grad = grad / (1e-60 + grad.norm(dim=0))
    return (grad * (instances > 0)).float()
'''),
    ('flows: normalised without the epsilon (NaN where flat)', '''
def my_flows(instances):
    centres, ids = mask_centers(instances)
    n_iter = default_diffusion_iterations(instances)
    heat = torch.zeros(instances.shape, dtype=torch.float64)
    for (cy, cx), i in zip(centres.tolist(), ids.tolist(), strict=True):
        heat += my_diffuse(instances == i, (cy, cx), n_iter)
    padded = F.pad(heat, (1, 1, 1, 1))
    grad = torch.stack([padded[2:, 1:-1] - padded[:-2, 1:-1], padded[1:-1, 2:] - padded[1:-1, :-2]])
    grad = grad / grad.norm(dim=0)
    return (grad * (instances > 0)).float()
'''),
    ('follow without the clamp to the image', '''
def my_follow(flows, mask, n_iter=200):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    p = torch.stack([ys, xs], dim=1).float()
    field = (flows * mask)[None].float()
    scale = torch.tensor([H - 1, W - 1]).float()
    for _ in range(n_iter):
        grid = (p / scale * 2 - 1).flip(1)[None, None]
        p = p + F.grid_sample(field, grid, align_corners=True)[0, :, 0].T
    positions = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")).float()
    positions[:, ys, xs] = p.T
    return positions
'''),
    ('follow with the flows not set to 0 outside the mask', '''
_right_follow = my_follow
def my_follow(flows, mask, n_iter=200):
    return _right_follow(flows, torch.ones_like(mask), n_iter) * mask + _right_follow(
        flows, torch.zeros_like(mask), 0) * ~mask
'''),
    ('follow with the grid as (y, x)', '''
def my_follow(flows, mask, n_iter=200):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    p = torch.stack([ys, xs], dim=1).float()
    field = (flows * mask)[None].float()
    scale = torch.tensor([H - 1, W - 1]).float()
    for _ in range(n_iter):
        grid = (p / scale * 2 - 1)[None, None]
        u = F.grid_sample(field, grid, align_corners=True)[0, :, 0].T
        p = torch.minimum(torch.maximum(p + u, torch.zeros(2)), scale)
    positions = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")).float()
    positions[:, ys, xs] = p.T
    return positions
'''),
    ('follow with align_corners=False', '''
def my_follow(flows, mask, n_iter=200):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    p = torch.stack([ys, xs], dim=1).float()
    field = (flows * mask)[None].float()
    scale = torch.tensor([H - 1, W - 1]).float()
    for _ in range(n_iter):
        grid = (p / scale * 2 - 1).flip(1)[None, None]
        u = F.grid_sample(field, grid, align_corners=False)[0, :, 0].T
        p = torch.minimum(torch.maximum(p + u, torch.zeros(2)), scale)
    positions = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")).float()
    positions[:, ys, xs] = p.T
    return positions
'''),
    ('follow with the nearest flow, not bilinear', '''
def my_follow(flows, mask, n_iter=200):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    p = torch.stack([ys, xs], dim=1).float()
    field = (flows * mask).float()
    scale = torch.tensor([H - 1, W - 1]).float()
    for _ in range(n_iter):
        r = p.round().long()
        u = field[:, r[:, 0], r[:, 1]].T
        p = torch.minimum(torch.maximum(p + u, torch.zeros(2)), scale)
    positions = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")).float()
    positions[:, ys, xs] = p.T
    return positions
'''),
    ('end points floored, not rounded', '''
def my_masks(positions, mask):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    end = positions[:, ys, xs].floor().long()
    hits = np.zeros((H, W), dtype=bool)
    hits[end[0].numpy(), end[1].numpy()] = True
    blobs, _ = ndimage.label(ndimage.binary_dilation(hits), structure=np.ones((3, 3)))
    labels = torch.zeros(H, W, dtype=torch.int64)
    labels[ys, xs] = torch.from_numpy(blobs)[end[0], end[1]].long()
    return labels
'''),
    ('end points not dilated', '''
def my_masks(positions, mask):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    end = positions[:, ys, xs].round().long()
    hits = np.zeros((H, W), dtype=bool)
    hits[end[0].numpy(), end[1].numpy()] = True
    blobs, _ = ndimage.label(hits, structure=np.ones((3, 3)))
    labels = torch.zeros(H, W, dtype=torch.int64)
    labels[ys, xs] = torch.from_numpy(blobs)[end[0], end[1]].long()
    return labels
'''),
    ('end points grouped with 4-connectivity', '''
def my_masks(positions, mask):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    end = positions[:, ys, xs].round().long()
    hits = np.zeros((H, W), dtype=bool)
    hits[end[0].numpy(), end[1].numpy()] = True
    blobs, _ = ndimage.label(ndimage.binary_dilation(hits))
    labels = torch.zeros(H, W, dtype=torch.int64)
    labels[ys, xs] = torch.from_numpy(blobs)[end[0], end[1]].long()
    return labels
'''),
    ("every pixel labelled, not only the mask's", '''
def my_masks(positions, mask):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    end = positions[:, ys, xs].round().long()
    hits = np.zeros((H, W), dtype=bool)
    hits[end[0].numpy(), end[1].numpy()] = True
    blobs, _ = ndimage.label(ndimage.binary_dilation(hits), structure=np.ones((3, 3)))
    every = positions.round().long()
    return torch.from_numpy(blobs)[every[0], every[1]].long()
'''),
    ('Cellpose loss without the 1/2', '''
def my_cellpose_loss(outputs, targets):
    return F.mse_loss(outputs["flows"], targets["flows"]) + F.binary_cross_entropy_with_logits(
        outputs["cellprob"], targets["cellprob"])
'''),
    ('Cellpose loss: BCE of the logits as probabilities', '''
def my_cellpose_loss(outputs, targets):
    return F.mse_loss(outputs["flows"], targets["flows"]) / 2 + F.binary_cross_entropy(
        outputs["cellprob"].sigmoid(), targets["cellprob"]) * 0 + F.binary_cross_entropy(
        outputs["cellprob"].clamp(1e-6, 1 - 1e-6), targets["cellprob"])
'''),
    ('Cellpose loss: flows against u, not 5 u', '''
def my_cellpose_loss(outputs, targets):
    return F.mse_loss(outputs["flows"],
                      targets["flows"] / 5) / 2 + F.binary_cross_entropy_with_logits(
        outputs["cellprob"], targets["cellprob"])
'''),
    ('watershed of the distance, not its negation', '''
def my_watershed(image):
    foreground = otsu_foreground(image)
    distance = ndimage.distance_transform_edt(foreground)
    peaks = peak_local_max(distance, min_distance=3, labels=ndimage.label(foreground)[0],
                           exclude_border=False)
    markers = np.zeros(foreground.shape, np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return torch.from_numpy(watershed(distance, markers, mask=foreground).astype(np.int64))
'''),
    ("watershed with the peaks' default exclude_border", '''
def my_watershed(image):
    foreground = otsu_foreground(image)
    distance = ndimage.distance_transform_edt(foreground)
    peaks = peak_local_max(distance, min_distance=3, labels=ndimage.label(foreground)[0])
    markers = np.zeros(foreground.shape, np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return torch.from_numpy(watershed(-distance, markers, mask=foreground).astype(np.int64))
'''),
    ('watershed without the foreground mask', '''
def my_watershed(image):
    foreground = otsu_foreground(image)
    distance = ndimage.distance_transform_edt(foreground)
    peaks = peak_local_max(distance, min_distance=3, labels=ndimage.label(foreground)[0],
                           exclude_border=False)
    markers = np.zeros(foreground.shape, np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return torch.from_numpy(watershed(-distance, markers).astype(np.int64))
'''),
    # the contracts of the TODOs' docstrings: markers numbered from 1
    ('watershed markers numbered from 0', '''
def my_watershed(image):
    foreground = otsu_foreground(image)
    distance = ndimage.distance_transform_edt(foreground)
    peaks = peak_local_max(distance, min_distance=3, labels=ndimage.label(foreground)[0],
                           exclude_border=False)
    markers = np.zeros(foreground.shape, np.int64)
    markers[tuple(peaks.T)] = np.arange(len(peaks))  # 0, 1, ..., K - 1
    return torch.from_numpy(watershed(-distance, markers, mask=foreground).astype(np.int64))
'''),
    ('following zeroes the flows given outside the mask', '''
_right_follow = my_follow
def my_follow(flows, mask, n_iter=200):
    flows *= mask  # no flow outside the mask
    return _right_follow(flows, mask, n_iter)
'''),
    ('Cellpose loss rebuilt as a new tensor (no gradient)', '''
def my_cellpose_loss(outputs, targets):
    flow_loss = F.mse_loss(outputs["flows"], targets["flows"]) / 2
    cell_loss = F.binary_cross_entropy_with_logits(outputs["cellprob"], targets["cellprob"])
    return torch.tensor(float(flow_loss + cell_loss))
'''),
    ('Cellpose loss with sigmoid_ on the outputs given', '''
def my_cellpose_loss(outputs, targets):
    flow_loss = F.mse_loss(outputs["flows"], targets["flows"]) / 2
    with torch.no_grad():
        probability = outputs["cellprob"].sigmoid_()
    return flow_loss + F.binary_cross_entropy(probability, targets["cellprob"])
'''),
    # the contract items still without a slip: inputs left untouched, n_rays, dtypes, ids, the
    # background, the pixels outside the mask
    ('star distances renumber the ids 1..K in the labels given (.numpy() shares memory)', '''
_right_star = my_star_distances
def my_star_distances(instances, n_rays=32):
    labels = instances.numpy()
    for new, old in enumerate(np.unique(labels).tolist()):  # ids 0, 1, ..., K: background stays 0
        labels[labels == old] = new
    return _right_star(instances, n_rays)
'''),
    ('star distances with ray_directions() of its default 32 rays', '''
_right_star = my_star_distances
def my_star_distances(instances, n_rays=32):
    # d_row, d_col = ray_directions(): rays k = 0..n_rays - 1 of the 32 directions
    return _right_star(instances, 32)[:n_rays]
'''),
    ('star distances in float64 (np.zeros without a dtype)', '''
_right_star = my_star_distances
def my_star_distances(instances, n_rays=32):
    return _right_star(instances, n_rays).double()
'''),
    ('diffusion: the outside taken with logical_not_ (the mask given flipped)', '''
def my_diffuse(mask, centre, n_iter):
    outside = mask.logical_not_()  # the pixels where the heat is lost
    heat = torch.zeros(mask.shape, dtype=torch.float64)
    cy, cx = centre
    for _ in range(n_iter):
        heat[cy, cx] += 1
        padded = F.pad(heat, (1, 1, 1, 1))
        total = sum(padded[1 + dy:padded.shape[0] - 1 + dy, 1 + dx:padded.shape[1] - 1 + dx]
                    for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        heat = total / 9
        heat[outside] = 0
    return heat
'''),
    ('diffusion in float32 (mask.float())', '''
def my_diffuse(mask, centre, n_iter):
    inside = mask.float()
    heat = torch.zeros_like(inside)
    cy, cx = centre
    for _ in range(n_iter):
        heat[cy, cx] += 1
        padded = F.pad(heat, (1, 1, 1, 1))
        total = sum(padded[1 + dy:padded.shape[0] - 1 + dy, 1 + dx:padded.shape[1] - 1 + dx]
                    for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        heat = total / 9 * inside
    return heat
'''),
    ('flows renumber the ids 1..K in the labels given', '''
_right_flows = my_flows
def my_flows(instances):
    for new, old in enumerate(torch.unique(instances).tolist()):  # ids 0, 1, ..., K
        instances[instances == old] = new
    return _right_flows(instances)
'''),
    ('flows: the ids taken as 1..K', '''
def my_flows(instances):
    centres, _ = mask_centers(instances)
    n_iter = default_diffusion_iterations(instances)
    heat = torch.zeros(instances.shape, dtype=torch.float64)
    for i, (cy, cx) in enumerate(centres.tolist(), start=1):
        heat += my_diffuse(instances == i, (cy, cx), n_iter)
    padded = F.pad(heat, (1, 1, 1, 1))
    grad = torch.stack([padded[2:, 1:-1] - padded[:-2, 1:-1], padded[1:-1, 2:] - padded[1:-1, :-2]])
    grad = grad / (1e-60 + grad.norm(dim=0))
    return (grad * (instances > 0)).float()
'''),
    ('flows not zeroed on the background', '''
def my_flows(instances):
    centres, ids = mask_centers(instances)
    n_iter = default_diffusion_iterations(instances)
    heat = torch.zeros(instances.shape, dtype=torch.float64)
    for (cy, cx), i in zip(centres.tolist(), ids.tolist(), strict=True):
        heat += my_diffuse(instances == i, (cy, cx), n_iter)
    padded = F.pad(heat, (1, 1, 1, 1))
    grad = torch.stack([padded[2:, 1:-1] - padded[:-2, 1:-1], padded[1:-1, 2:] - padded[1:-1, :-2]])
    return (grad / (1e-60 + grad.norm(dim=0))).float()
'''),
    ('follow: the pixels outside the mask left at (0, 0)', '''
_right_follow = my_follow
def my_follow(flows, mask, n_iter=200):
    # positions = torch.zeros(2, H, W), then the end points of the mask's pixels written in
    return _right_follow(flows, mask, n_iter) * mask
'''),
    ('masks round the positions given in place', '''
def my_masks(positions, mask):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    end = positions.round_()[:, ys, xs].long()
    hits = np.zeros((H, W), dtype=bool)
    hits[end[0].numpy(), end[1].numpy()] = True
    blobs, _ = ndimage.label(ndimage.binary_dilation(hits), structure=np.ones((3, 3)))
    labels = torch.zeros(H, W, dtype=torch.int64)
    labels[ys, xs] = torch.from_numpy(blobs)[end[0], end[1]].long()
    return labels
'''),
]
