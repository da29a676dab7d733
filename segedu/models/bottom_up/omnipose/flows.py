r"""Omnipose's flows: the normalised gradient of the smooth distance field.

Reference: Cutler et al., Nature Methods 2022 (Methods: "the flow field is the normalized gradient
of the distance field"); reference implementation ``omnipose.core._gradient`` and
``omnipose.utils.normalize_field`` (omnipose 1.1.4), which the training data of Omnipose uses
(``masks_to_flows_batch(..., normalize=True)``).

Where Cellpose's flows point to the cell's centre, Omnipose's point *up the distance field*, to
the nearest point of the cell's medial axis (its skeleton). A long, bent cell has no usable centre,
but it always has a skeleton: following these flows a short way gathers each cell's pixels on its
own skeleton (:mod:`.reconstruction`).

The gradient of the field :math:`T` (:mod:`.distance_field`) is taken on the same 3x3 stencil,
neighbours of another label counting as 0:

1. for each group of steps, the central differences along its two axes, projected back on
   ``(y, x)`` and divided by :math:`(2f)^2`: the cardinal group gives
   :math:`\tfrac12(T_{y+1,x} - T_{y-1,x},\; T_{y,x+1} - T_{y,x-1})`, the ordinal group
   :math:`\tfrac14(d_1 + d_2,\; d_1 - d_2)` with :math:`d_1 = T_{y+1,x+1} - T_{y-1,x-1}`,
   :math:`d_2 = T_{y+1,x-1} - T_{y-1,x+1}`;
2. the gradient :math:`g` is the mean of the two groups;
3. a smoothing that keeps the magnitude: each pixel's vector becomes the average of its connected
   neighbours' vectors :math:`g_j` weighted by :math:`|g_j \cdot g|` (the pixel itself has weight
   0; no weight at all gives 0);
4. the flows are this vector normalised to unit length (zero stays zero).

Channel order ``(dy, dx)``, as Cellpose's. The network regresses 5x the unit flows.
"""

from __future__ import annotations

import torch

from ..base import check_instances
from .distance_field import smooth_distance_field
from .neighbours import CENTRE, GROUPS, STEPS, connectivity, neighbour_values

__all__ = ["FLOW_SCALE", "field_gradient", "normalize_flows", "masks_to_flows"]

FLOW_SCALE = 5.0  # the network regresses 5x the unit flows, as in Cellpose


def field_gradient(field: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Omnipose's smoothed gradient ``(2, H, W)`` (``dy, dx``; not normalised) of a scalar
    ``field`` ``(H, W)`` inside the objects of ``labels`` ``(H, W)``; zero on the background."""
    connected = connectivity(labels)  # (9, H, W)
    values = neighbour_values(field.float()) * connected  # (9, H, W), other labels count as 0
    steps = torch.tensor(STEPS, dtype=torch.float32)  # (9, 2)
    groups = []
    for pairs, step in GROUPS:
        # 1. differences between opposite neighbours, projected on (y, x)
        gradient = torch.zeros((2, *field.shape))
        for i, j in pairs:
            direction = steps[j] - steps[i]  # (2,): twice the step
            gradient = gradient + direction[:, None, None] * (values[j] - values[i])
        groups.append(gradient / (2 * step) ** 2)
    g = torch.stack(groups).mean(dim=0)  # 2. (2, H, W)
    # 3. average over the connected neighbours, weighted by |g_j . g|
    neighbour_g = neighbour_values(g).transpose(0, 1)  # (2, 9, H, W)
    weight = (neighbour_g * g[:, None]).sum(dim=0).abs() * connected  # (9, H, W)
    weight[CENTRE] = 0
    total = weight.sum(dim=0)  # (H, W)
    smoothed = (neighbour_g * weight).sum(dim=1) / torch.where(total != 0, total, 1)
    return torch.where(total != 0, smoothed, 0) * (labels > 0)


def normalize_flows(flows: torch.Tensor) -> torch.Tensor:
    """Vectors ``(2, ...)`` scaled to unit length; zero vectors stay zero."""
    norm = flows.square().sum(dim=0).sqrt()
    return torch.where(norm > 0, flows / torch.where(norm > 0, norm, 1), flows)


def masks_to_flows(labels: torch.Tensor, *, n_iter: int | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(unit flows (2, H, W), distance field (H, W))``, float32, of an ``(H, W)`` label image.

    Unit vectors up the smooth distance field inside the objects, zeros on the background
    (``n_iter``: see :func:`.distance_field.smooth_distance_field`).
    """
    check_instances(labels, "labels")
    field = smooth_distance_field(labels, n_iter=n_iter)
    return normalize_flows(field_gradient(field, labels)), field
