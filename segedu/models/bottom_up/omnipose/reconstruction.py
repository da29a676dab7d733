r"""Omnipose's mask reconstruction: suppressed Euler integration, then the end points' skeletons.

Reference: Cutler et al., Nature Methods 2022 (Methods: "Mask reconstruction"); reference
implementation ``omnipose.core.compute_masks`` with ``div_rescale``, ``follow_flows`` /
``steps_batch`` (``suppress=True``) and ``get_masks`` (omnipose 1.1.4).

Cellpose sends every pixel of a cell to the cell's centre (200 full steps) and groups the pixels
that arrive together. Omnipose's flows point to the cell's *skeleton*; the pixels are moved only a
few pixels, with shrinking steps, so that each cell's pixels gather on its own skeleton, a thin
connected curve, and the connected pieces of those end points are the cells:

1. **foreground**: the pixels whose predicted distance exceeds ``mask_threshold - 1`` and are
   4-connected to one exceeding ``mask_threshold`` (hysteresis, good for thin parts);
2. **rescaled flows** (:func:`divergence_rescale`): the flows on the foreground, normalised to unit
   length, times the divergence of those unit flows rescaled to [0, 1] (between its 0.01 % and
   99.99 % quantiles): big steps at the cell's edge (a source of the flows), almost none on the
   skeleton (a sink);
3. **suppressed Euler integration** (:func:`follow_flows`): from each foreground pixel,
   ``n_iter = 200`` steps :math:`x_{t+1} = x_t + v_t / (t + 1)` where :math:`v_t` averages the flow
   read at :math:`x_t` (the nearest pixel's) with :math:`v_{t-1}` (momentum); the
   :math:`1/(t+1)` suppression bounds the whole path by :math:`\sum 1/(t+1) \approx 6` pixels;
4. **clustering** (:func:`cluster_end_points`): the end points rounded to pixels form skeletons;
   each 8-connected piece is one cell, and every pixel takes the label of the piece it ended on.
   Near the image border (5 pixels), an end point where the boundary logit exceeds -1 is dropped
   first, so that cells touching there are not joined;
5. masks smaller than ``min_size`` pixels are dropped; ids ``1..K`` in order of first appearance.

Not reproduced: Omnipose's sub-pixel DBSCAN clustering, which it switches on when the mean cell
diameter (``6 x`` the mean distance) is <= ``diam_threshold`` = 12 pixels (segedu always takes
the rounding of step 4, i.e. ``diam_threshold=0``), the flow-error check (``flow_threshold``;
Omnipose's documentation advises turning it off), the filling of small holes, and affinity-graph
segmentation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from ..base import renumber
from .flows import normalize_flows

__all__ = ["hysteresis_foreground", "divergence_rescale", "follow_flows", "cluster_end_points",
           "compute_masks"]

BORDER = 5  # width of the image border band where the boundary splits skeletons


def hysteresis_foreground(distance: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """``(H, W)`` bool: pixels with ``distance > threshold - 1`` 4-connected to one with
    ``distance > threshold`` (``skimage.filters.apply_hysteresis_threshold``)."""
    low = (distance > threshold - 1).cpu().numpy()
    high = (distance > threshold).cpu().numpy()
    pieces, count = ndi.label(low)  # 4-connected pieces above the low threshold
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(pieces[high])] = True  # pieces that reach the high threshold
    keep[0] = False
    return torch.from_numpy(keep[pieces])


def _quantile_rescale(x: torch.Tensor, lower: float = 1e-4, upper: float = 1 - 1e-4):
    """``x`` mapped to [0, 1] between its ``lower`` and ``upper`` quantiles (clipped)."""
    low, high = torch.quantile(x.reshape(-1), torch.tensor([lower, upper], dtype=x.dtype))
    scale = high - low
    if not scale > 0:
        return torch.zeros_like(x)
    return ((x - low) / scale).clamp(0, 1)


def divergence_rescale(flows: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
    """Omnipose's step field ``(2, H, W)``: unit flows on the foreground times their rescaled
    divergence (``div_rescale``); ``flows`` ``(2, H, W)``, ``foreground`` ``(H, W)`` bool."""
    unit = normalize_flows(flows.float() * foreground)  # (2, H, W), zero off the foreground
    # divergence d(dy)/dy + d(dx)/dx by central differences (one-sided at the border)
    divergence = torch.gradient(unit[0], dim=0)[0] + torch.gradient(unit[1], dim=1)[0]
    return unit * _quantile_rescale(divergence)


def follow_flows(steps: torch.Tensor, foreground: torch.Tensor, n_iter: int = 200) -> torch.Tensor:
    """Suppressed Euler integration of ``steps`` ``(2, H, W)`` from every ``foreground`` pixel;
    final positions ``(2, H, W)`` float32 ``(y, x)`` (the other pixels stay where they are).

    Positions are kept inside the image; the field is read at the nearest pixel
    (``grid_sample`` in ``nearest`` mode with ``align_corners=True``, as the reference).
    """
    H, W = foreground.shape
    if H < 2 or W < 2:
        raise ValueError(f"the image must be at least 2x2 to follow flows, got {(H, W)}")
    positions = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij"))
    positions = positions.float()
    ys, xs = torch.nonzero(foreground, as_tuple=True)
    if len(ys) == 0:
        return positions
    size = torch.tensor([W - 1.0, H - 1.0])  # grid_sample's (x, y) order
    # positions and field in grid_sample's [-1, 1] coordinates, (x, y) order
    points = torch.stack([xs, ys], dim=1).float()  # (P, 2)
    points = (2 * points / size - 1)[None, None]  # (1, 1, P, 2)
    field = (2 * steps.float()[[1, 0]] / size[:, None, None])[None]  # (1, 2, H, W)
    sample = dict(mode="nearest", align_corners=True)
    momentum = F.grid_sample(field, points, **sample)  # (1, 2, 1, P)
    for t in range(n_iter):
        step = (F.grid_sample(field, points, **sample) + momentum) / 2  # average with the last
        momentum = step.clone()
        step = step / (1 + t)  # the suppression factor
        points = (points + step[0, :, 0].T[None, None]).clamp(-1, 1)
    final = (points[0, 0] + 1) * 0.5 * size  # (P, 2) back to pixels, (x, y)
    positions[1, ys, xs] = final[:, 0]
    positions[0, ys, xs] = final[:, 1]
    return positions


def cluster_end_points(positions: torch.Tensor, foreground: torch.Tensor,
                       boundary_logits: torch.Tensor | None = None) -> torch.Tensor:
    """Labels ``(H, W)`` int64: each foreground pixel gets the id of the 8-connected skeleton
    piece that its end point (``positions`` ``(2, H, W)``, rounded) lies on; 0 elsewhere.

    With ``boundary_logits`` ``(H, W)``, end points in the 5-pixel border band where the logit
    exceeds -1 are dropped first (their pixels get 0).
    """
    H, W = foreground.shape
    labels = torch.zeros((H, W), dtype=torch.long)
    ys, xs = torch.nonzero(foreground, as_tuple=True)
    if len(ys) == 0:
        return labels
    # end points rounded to the nearest pixel (half to even, as np.rint)
    ey = torch.round(positions[0, ys, xs]).long()
    ex = torch.round(positions[1, ys, xs]).long()
    skeleton = torch.zeros((H, W), dtype=torch.bool)
    skeleton[ey, ex] = True
    if boundary_logits is not None:
        band = torch.ones((H, W), dtype=torch.bool)
        band[BORDER:H - BORDER, BORDER:W - BORDER] = False
        skeleton &= ~(band & (boundary_logits.detach().cpu() > -1))
    pieces, _ = ndi.label(skeleton.numpy(), structure=np.ones((3, 3)))  # 8-connected
    labels[ys, xs] = torch.from_numpy(pieces).long()[ey, ex]
    return labels


def compute_masks(flows: torch.Tensor, distance: torch.Tensor,
                  boundary_logits: torch.Tensor | None = None, *, mask_threshold: float = 0.0,
                  n_iter: int = 200, min_size: int = 9) -> torch.Tensor:
    """Masks ``(H, W)`` int64 from the network's ``flows`` ``(2, H, W)``, ``distance`` ``(H, W)``
    and optional ``boundary_logits`` ``(H, W)`` (see the module docstring for the steps)."""
    if not isinstance(flows, torch.Tensor) or flows.dim() != 3 or flows.shape[0] != 2:
        raise ValueError(f"flows must be a (2, H, W) tensor, got "
                         f"{tuple(getattr(flows, 'shape', ()))}")
    if not isinstance(distance, torch.Tensor) or distance.shape != flows.shape[1:]:
        raise ValueError(f"distance must be an (H, W) tensor of the flows' size "
                         f"{tuple(flows.shape[1:])}, got {tuple(getattr(distance, 'shape', ()))}")
    flows, distance = flows.detach().float().cpu(), distance.detach().float().cpu()
    foreground = hysteresis_foreground(distance, mask_threshold)  # 1.
    if not foreground.any():
        return torch.zeros(foreground.shape, dtype=torch.long)
    steps = divergence_rescale(flows, foreground)  # 2.
    positions = follow_flows(steps, foreground, n_iter=n_iter)  # 3.
    labels = cluster_end_points(positions, foreground, boundary_logits)  # 4.
    # 5. drop the small masks, renumber
    ids, counts = torch.unique(labels, return_counts=True)
    small = ids[(counts < min_size) & (ids > 0)]
    labels[torch.isin(labels, small)] = 0
    return renumber(labels)
