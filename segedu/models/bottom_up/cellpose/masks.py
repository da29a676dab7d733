r"""From end points to masks, and the quality checks on them (Cellpose's mask recovery).

Reference: Stringer et al., "Cellpose: a generalist algorithm for cellular segmentation", Nature
Methods 2021; reference implementation ``cellpose.dynamics.get_masks_torch``, ``flow_error``,
``remove_bad_flow_masks`` and ``cellpose.utils.fill_holes_and_remove_small_masks`` (cellpose
4.2.1.1), reproduced here.

**Clustering the end points** (:func:`masks_from_positions`). After :mod:`.follow`, the pixels of
one cell sit in a small cloud around its centre. With the end points truncated to integer pixels:

1. a 2D histogram :math:`h` counts the end points per pixel (on the image padded by 20 pixels);
2. *seeds* are the local maxima of :math:`h` in a 5x5 window holding more than 10 end points;
3. each seed grows inside an 11x11 window around it: 5 times, a 3x3 dilation (max pooling) kept
   only where :math:`h > 2`; where grown seeds overlap, the seed with more end points wins (seeds
   are sorted by count, and the larger index is kept);
4. every foreground pixel gets the label of the grown seed that covers its end point (0 if none);
5. masks larger than ``max_size_fraction`` of the image are removed, and the labels renumbered
   ``1..K`` in order of first appearance.

**Flow error** (:func:`flow_error`): the flows recomputed from the predicted masks
(:func:`.flows.masks_to_flows`) are compared to the network's flows divided by 5; the per-mask
mean of :math:`\lVert u_\text{mask} - u_\text{net} / 5 \rVert^2` is large when a mask does not
fit the flows that made it (a merge of two cells, a fragment). :func:`remove_bad_flow_masks`
removes the masks whose error exceeds ``threshold`` (0.4 by default).

**Clean-up** (:func:`fill_holes_and_remove_small`): drop masks below ``min_size`` pixels, fill the
holes of each mask (background regions not 4-connected to its bounding box's border), and drop
small masks again.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from ..base import check_instances, renumber
from .flows import masks_to_flows

__all__ = ["masks_from_positions", "flow_error", "remove_bad_flow_masks",
           "fill_holes_and_remove_small"]

PAD = 20  # histogram padding (Cellpose's rpad)
SEED_WINDOW = 5  # half-width of the window in which a seed grows (11x11)


def masks_from_positions(
    positions: torch.Tensor, mask: torch.Tensor, *, max_size_fraction: float = 0.4
) -> torch.Tensor:
    """Cluster the end points of the flow dynamics into masks: ``(H, W)`` int64 labels.

    ``positions`` ``(2, H, W)`` float ``(y, x)`` end points (:func:`.follow.follow_flows`),
    ``mask`` ``(H, W)`` bool: the pixels that were followed (the others get label 0).
    """
    if not isinstance(positions, torch.Tensor) or positions.dim() != 3 or positions.shape[0] != 2:
        raise ValueError(
            "positions must be a (2, H, W) tensor (y, x), got "
            f"{getattr(positions, 'shape', positions)}"
        )
    if (not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool
        or mask.shape != positions.shape[1:]):
        raise ValueError(f"mask must be a bool tensor of shape {tuple(positions.shape[1:])}")
    H, W = mask.shape
    labels = torch.zeros((H, W), dtype=torch.long)
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if len(ys) == 0:
        return labels
    # end points truncated to integers (as ``.int()``), shifted into the padded histogram
    py = positions[0, ys, xs].int().long() + PAD
    px = positions[1, ys, xs].int().long() + PAD
    py, px = py.clamp(0, H + PAD - 1), px.clamp(0, W + PAD - 1)
    # 1. histogram of the end points
    hist = torch.zeros((H + 2 * PAD, W + 2 * PAD), dtype=torch.int32)
    hist.index_put_((py, px), torch.ones_like(py, dtype=torch.int32), accumulate=True)
    # 2. seeds: 5x5 local maxima with more than 10 end points
    local_max = F.max_pool2d(hist[None, None].float(), 5, stride=1, padding=2)[0, 0]
    seeds = torch.nonzero((hist >= local_max) & (hist > 10))  # (S, 2), row-major
    if len(seeds) == 0:
        return labels
    seeds = seeds[torch.argsort(hist[seeds[:, 0], seeds[:, 1]])]  # by count, ascending
    # 3. grow each seed in its 11x11 window of the histogram, where h > 2
    offsets = torch.arange(-SEED_WINDOW, SEED_WINDOW + 1)
    rows = seeds[:, :1] + offsets  # (S, 11)
    cols = seeds[:, 1:] + offsets  # (S, 11)
    window = hist[rows[:, :, None], cols[:, None, :]]  # (S, 11, 11)
    grown = torch.zeros(window.shape)
    grown[:, SEED_WINDOW, SEED_WINDOW] = 1
    for _ in range(5):
        grown = F.max_pool2d(grown[:, None], 3, stride=1, padding=1)[:, 0]  # 3x3 dilation
        grown = grown * (window > 2)
    # paint the grown seeds in order: the later (larger) seed wins an overlap
    seed_labels = torch.zeros(hist.shape, dtype=torch.long)
    for s in range(len(seeds)):
        r, c = torch.nonzero(grown[s], as_tuple=True)  # grown pixels, window coordinates
        seed_labels[rows[s, r], cols[s, c]] = s + 1
    # 4. each followed pixel takes the label found at its end point
    labels[ys, xs] = seed_labels[py, px]
    # 5. remove too large masks, renumber in order of first appearance
    ids, counts = torch.unique(labels, return_counts=True)
    too_big = ids[(counts > H * W * max_size_fraction) & (ids > 0)]
    labels[torch.isin(labels, too_big)] = 0
    return renumber(labels)


def flow_error(instances: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
    """Per-mask mean squared difference between the masks' own flows and the network's flows / 5.

    ``instances`` ``(H, W)`` integer labels, ``flows`` ``(2, H, W)`` the network's flows (trained
    on 5x unit flows). Returns ``(max_id,)`` float64: entry ``i - 1`` is the error of object
    ``i`` (NaN for an id that is absent).
    """
    check_instances(instances)
    if not isinstance(flows, torch.Tensor) or flows.shape != (2, *instances.shape):
        raise ValueError(
            f"flows must have shape (2, {instances.shape[0]}, {instances.shape[1]}) like the "
            f"masks, got {tuple(getattr(flows, 'shape', ()))}"
        )
    n = int(instances.max()) if instances.numel() else 0
    # flows recomputed from the masks (float64, as the reference), compared with the network's
    own_flows = masks_to_flows(instances, dtype=torch.float64)
    error = ((own_flows - (flows / 5.0).double()) ** 2).sum(dim=0)  # (H, W); /5 in the flows' dtype
    # per-object mean of the error map
    ids = instances.reshape(-1).long()
    total = torch.zeros(n + 1, dtype=torch.float64).index_add_(0, ids, error.reshape(-1))
    count = torch.bincount(ids, minlength=n + 1).double()
    return (total / count)[1:]  # 0 / 0 = NaN for the absent ids


def remove_bad_flow_masks(
    instances: torch.Tensor, flows: torch.Tensor, threshold: float = 0.4
) -> torch.Tensor:
    """Remove the masks whose :func:`flow_error` exceeds ``threshold``; renumber
    ``1..K`` (int64)."""
    errors = flow_error(instances, flows)
    bad = torch.nonzero(errors > threshold).squeeze(1) + 1  # ids of the bad masks
    labels = instances.long().clone()
    labels[torch.isin(labels, bad)] = 0
    return renumber(labels)


def _remove_small(labels: torch.Tensor, min_size: int) -> torch.Tensor:
    ids, counts = torch.unique(labels, return_counts=True)
    small = ids[(counts < min_size) & (ids > 0)]
    labels = labels.clone()
    labels[torch.isin(labels, small)] = 0
    return renumber(labels)


def fill_holes_and_remove_small(instances: torch.Tensor, min_size: int = 15) -> torch.Tensor:
    """Drop masks below ``min_size`` pixels, fill each mask's holes, drop small ones again.

    ``(H, W)`` integer labels -> ``(H, W)`` int64 labels (``min_size <= 0``: keep every size).
    As the reference, masks are visited in id order and numbered ``1, 2, ...`` as visited; a
    filled hole takes the pixels inside it, even those of another mask lying in the hole.
    """
    check_instances(instances)
    labels = instances.long().clone()
    if min_size > 0:
        labels = _remove_small(labels, min_size)
    array = labels.numpy()  # shares memory with ``labels``
    slices = ndi.find_objects(array)  # bounding boxes of ids 1..max (None when absent)
    visited = 0
    for i, box in enumerate(slices):
        if box is None:
            continue
        crop = array[box]
        # background 4-connected to the box border stays
        filled = ndi.binary_fill_holes(crop == i + 1)
        crop[filled] = visited + 1
        visited += 1
    labels = torch.from_numpy(np.ascontiguousarray(array))
    if min_size > 0:
        labels = _remove_small(labels, min_size)
    return labels
