r"""Omnipose's smooth distance field: an iterative solution of the eikonal equation per cell.

Reference: Cutler et al., "Omnipose: a high-precision morphology-independent solution for
bacterial cell segmentation", Nature Methods 19, 1438-1448 (2022), Methods ("Smooth distance
field"); reference implementation ``omnipose.core.masks_to_flows`` -> ``_extend_centers_torch``,
``_iterate``, ``eikonal_update_torch``, ``update_torch`` and ``get_niter`` (omnipose 1.1.4).

Cellpose's field is heat spread from one *centre*: in a long, bent cell the heat never reaches the
far ends and the flows there vanish. Omnipose replaces it by a **distance field**: the distance
:math:`T` from each pixel to the cell's boundary, which satisfies the eikonal equation
:math:`|\nabla T| = 1` inside the cell with :math:`T = 0` outside it. It needs no centre: its
ridge is the cell's medial axis, whatever the cell's shape.

The equation is solved by Jacobi iterations on the 3x3 stencil (:mod:`.neighbours`); neighbours
of another label count as :math:`T = 0`:

1. start from :math:`T = 1` on every object pixel;
2. for each group of steps (the cardinal ones of length :math:`f = 1`, the ordinal ones of length
   :math:`f = \sqrt 2`) take, along each of its two axes, the smaller of the two opposite
   neighbours, :math:`a` and :math:`b`, and solve the upwind (Godunov) update

   .. math:: u_f = \tfrac12\Big(a + b + \sqrt{\max\big(0,\; 2f^2 - (a - b)^2\big)}\Big);

   (Omnipose keeps this quadratic root wherever the radicand is >= 0, and falls back to
   :math:`(a + b) / 2` where it is not, instead of the textbook :math:`\min(a, b) + f`);
3. the new value is the geometric mean of the two groups' updates,
   :math:`T \leftarrow \sqrt{u_1\, u_{\sqrt 2}}`: averaging the two stencils makes the field
   smooth and nearly isotropic ("smooth distance");
4. after the first update only, :math:`T` is replaced by the sum of its connected neighbours
   divided by 9 (a box smoothing that starts the propagation);
5. stop when the mean squared change over the object pixels is <= 1e-3, or after
   ``n_iter = ceil(1.16 * max EDT) + 1`` updates, ``EDT`` being the exact Euclidean distance of
   each object pixel to the nearest pixel of another label (the bound that Omnipose found to
   guarantee convergence).

All in float32, as the reference. The result is zero on the background.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage as ndi

from ..base import check_instances
from .neighbours import GROUPS, connectivity, neighbour_values

__all__ = ["eikonal_update", "default_iterations", "smooth_distance_field"]

TOLERANCE = 1e-3  # stop when the mean squared change is no larger


def eikonal_update(a: torch.Tensor, b: torch.Tensor, step: float) -> torch.Tensor:
    """Omnipose's upwind update from the smaller neighbours ``a``, ``b`` along two axes, for a
    stencil of step length ``step`` (elementwise, any shape)."""
    low, high = torch.minimum(a, b), torch.maximum(a, b)  # sorted, as the reference
    total = low + high
    squares = low**2 + high**2
    radicand = torch.clamp(total**2 - 2 * (squares - step**2), min=0)  # = 2 f^2 - (a - b)^2
    return (1 / 2) * (total + torch.sqrt(radicand))


def default_iterations(labels: torch.Tensor) -> int:
    """``ceil(1.16 * max EDT) + 1``: the most updates the field needs (``omnipose.core.get_niter``).

    The EDT is each object pixel's Euclidean distance to the nearest pixel of another label or of
    the background; the image border is no background (``edt.edt``'s default).
    """
    array = labels.cpu().numpy()
    largest = 0.0
    for i in np.unique(array[array > 0]):
        inside = array == i
        if inside.all():  # one object fills the image: nothing to measure to
            continue
        largest = max(largest, float(ndi.distance_transform_edt(inside).max()))
    return math.ceil(np.float32(largest) * 1.16) + 1


def smooth_distance_field(labels: torch.Tensor, *, n_iter: int | None = None) -> torch.Tensor:
    """Omnipose's smooth distance field ``(H, W)`` float32 of an ``(H, W)`` label image.

    ``n_iter``: the largest number of updates (default :func:`default_iterations`); the
    iterations stop earlier once the field has converged.
    """
    check_instances(labels, "labels")
    inside = labels > 0
    field = inside.float()  # 1. T = 1 on the objects, 0 elsewhere
    if not inside.any():
        return field
    connected = connectivity(labels)  # (9, H, W): which neighbours share the label
    limit = default_iterations(labels) if n_iter is None else int(n_iter)
    previous = field.clone()
    t = 0
    while True:
        neighbours = neighbour_values(field) * connected  # (9, H, W): other labels count as 0
        # 2-3. the update of each stencil, combined by the geometric mean
        product = torch.ones_like(field)
        for pairs, step in GROUPS:
            (i, j), (k, m) = pairs
            a = torch.minimum(neighbours[i], neighbours[j])  # smaller of two opposite neighbours
            b = torch.minimum(neighbours[k], neighbours[m])
            product = product * eikonal_update(a, b, step)
        field = torch.pow(product, 1 / len(GROUPS)) * inside
        change = (field - previous)[inside].square().mean()
        keep_going = bool(change > TOLERANCE) and t < limit
        if t < 1:  # 4. one box smoothing after the first update
            field = (neighbour_values(field) * connected).sum(dim=0) / 9
        previous = field.clone()
        t += 1
        if not keep_going:  # 5. converged, or out of iterations
            return field
