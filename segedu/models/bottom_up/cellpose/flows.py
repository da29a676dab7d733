r"""Cellpose's flow field: the training target made from a label image by simulated heat diffusion.

Reference: C. Stringer, T. Wang, M. Michaelos, M. Pachitariu, "Cellpose: a generalist algorithm
for cellular segmentation", Nature Methods 18, 100-106 (2021); the reference implementation is
``cellpose.dynamics.masks_to_flows_gpu`` (cellpose 4.2.1.1), which this module reproduces.

Cellpose does not predict masks directly. It predicts, for every pixel of a cell, a unit vector
that points along the path a particle would follow to the cell's *centre*; the masks are then
recovered by letting every pixel flow along that field (:mod:`.follow`) and grouping the pixels
that end at the same place (:mod:`.masks`). The target field is built per cell ``k``:

1. **Centre.** The pixel of the mask nearest to the mean of its pixel coordinates:
   :math:`(\bar y, \bar x)` is rounded (half to even, as ``np.round``) in coordinates relative to
   the mask's bounding box; when that pixel is not in the mask (a C-shaped cell), the mask pixel
   with the smallest squared distance to it is taken (the first in row-major order on ties).
2. **Heat diffusion.** A heat map :math:`T`, zero at the start, is updated ``n_iter`` times
   (by default twice the largest bounding-box extent ``h + w + 2`` in the image) by

   .. math:: T_c \mathrel{+}= 1 \text{ at every centre } c, \qquad
             T_p \leftarrow \frac{1}{9} \sum_{q \in N_8(p) \cup \{p\}} [\ell_q = \ell_p]\, T_q
             \quad \text{for every mask pixel } p,

   a source replenished at each step, and heat spreading as the average over the 3x3
   neighbourhood, where neighbours of another label (or background) count as 0 but the sum is
   still divided by 9 (heat leaks out at the border: the cell's edge is cold). All pixels are
   updated at once (Jacobi iteration), in float64.
3. **Gradient.** Central differences of the heat, with the image zero-padded by one pixel:
   :math:`d_y = T_{y+1,x} - T_{y-1,x}`, :math:`d_x = T_{y,x+1} - T_{y,x-1}`. As in the
   reference, the neighbours are *not* masked here: a neighbour of a touching cell contributes
   its own heat (always small at a boundary).
4. **Unit flows.** :math:`(d_y, d_x) / (10^{-60} + \sqrt{d_y^2 + d_x^2})`: a unit vector in every
   mask pixel (zero where the gradient vanishes, e.g. a one-pixel cell), zero outside masks.

Channel order is ``(dy, dx)``, as in Cellpose. The network is trained on ``5 *`` these unit flows
(see :mod:`.loss`).

The 2021 release (cellpose 0.x to 2.x) took the gradient of :math:`\log(1 + T)` rather than of
:math:`T`; cellpose 3 and 4 dropped the log. Both give almost the same directions; the default
follows the installed reference (no log), ``log_heat=True`` gives the 2021 variant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..base import check_instances

__all__ = ["mask_centers", "default_diffusion_iterations", "diffuse_heat", "masks_to_flows"]

# The 3x3 neighbourhood (dy, dx), in Cellpose's order: the pixel itself, then up, down, left,
# right, then the four diagonals. The order fixes the summation order of the float64 average.
NEIGHBOURS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def _object_ids(instances: torch.Tensor) -> torch.Tensor:
    """The ids of the objects present in ``instances``, sorted: ``(K,)`` int64."""
    ids = torch.unique(instances)
    return ids[ids > 0].long()


def mask_centers(instances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The diffusion source of every object: ``(centres (K, 2) int64 (y, x), ids (K,) int64)``.

    ``ids`` are the object ids present in the ``(H, W)`` label image, sorted; ``centres[k]`` is
    the centre pixel of object ``ids[k]`` (rounded mean, or the nearest mask pixel to it).
    """
    check_instances(instances)
    ids = _object_ids(instances)
    centres = torch.zeros((len(ids), 2), dtype=torch.long)
    for k, i in enumerate(ids.tolist()):
        ys, xs = torch.nonzero(instances == i, as_tuple=True)  # row-major order
        y0, x0 = ys.min(), xs.min()  # the bounding box's corner
        ys, xs = ys - y0, xs - x0  # coordinates in the bounding box, as the reference
        # rounded mean (round half to even, float64 as numpy)
        ym = torch.round(ys.double().sum() / len(ys)).long()
        xm = torch.round(xs.double().sum() / len(xs)).long()
        if not ((ys == ym) & (xs == xm)).any():  # the mean is outside the mask: nearest mask pixel
            nearest = torch.argmin((xs - xm) ** 2 + (ys - ym) ** 2)  # first one on ties
            ym, xm = ys[nearest], xs[nearest]
        centres[k] = torch.stack([ym + y0, xm + x0])
    return centres, ids


def default_diffusion_iterations(instances: torch.Tensor) -> int:
    """Cellpose's number of diffusion steps: ``2 * max_k (h_k + w_k + 2)`` over the
    bounding boxes."""
    extents = []
    for i in _object_ids(instances).tolist():
        ys, xs = torch.nonzero(instances == i, as_tuple=True)
        extents.append(int(ys.max() - ys.min() + 1) + int(xs.max() - xs.min() + 1) + 2)
    return 2 * max(extents) if extents else 0


def diffuse_heat(instances: torch.Tensor, centres: torch.Tensor, n_iter: int) -> torch.Tensor:
    """Run the heat diffusion; return the heat ``(H + 2, W + 2)`` float64 on the padded image.

    ``instances`` ``(H, W)`` labels, ``centres`` ``(K, 2)`` source pixels ``(y, x)`` (unpadded).
    Outside the masks (and on the one-pixel padding ring) the heat stays 0.
    """
    labels = F.pad(instances.long(), (1, 1, 1, 1))  # (H + 2, W + 2): background ring
    heat = torch.zeros(labels.shape, dtype=torch.float64)
    ys, xs = torch.nonzero(labels, as_tuple=True)  # the P mask pixels, row-major
    # (9, P) coordinates of every pixel's neighbours, and whether they share its label
    ny = torch.stack([ys + dy for dy, _ in NEIGHBOURS])
    nx = torch.stack([xs + dx for _, dx in NEIGHBOURS])
    same = labels[ny, nx] == labels[ys, xs]
    cy, cx = centres[:, 0] + 1, centres[:, 1] + 1  # sources, in padded coordinates
    for _ in range(n_iter):
        heat[cy, cx] += 1  # replenish the sources
        neighbour_heat = heat[ny, nx]  # (9, P), read before any pixel is updated
        # 3x3 average in the mask
        heat[ys, xs] = (neighbour_heat * same).sum(dim=0) / len(NEIGHBOURS)
    return heat


def masks_to_flows(
    instances: torch.Tensor, *, n_iter: int | None = None, log_heat: bool = False,
    dtype=torch.float32
) -> torch.Tensor:
    """Unit flows ``(2, H, W)`` (channels ``dy, dx``) of an ``(H, W)`` integer label image.

    Unit vectors inside objects pointing "uphill" towards each object's centre, zeros on the
    background. ``n_iter``: diffusion steps (default :func:`default_diffusion_iterations`);
    ``log_heat``: take the gradient of ``log(1 + T)`` as the 2021 release did. Ids need not be
    consecutive. The centres are given by :func:`mask_centers`.
    """
    check_instances(instances)
    H, W = instances.shape
    flows = torch.zeros((2, H, W), dtype=torch.float64)
    if not (instances > 0).any():  # no objects: no flows
        return flows.to(dtype)
    centres, _ = mask_centers(instances)
    steps = default_diffusion_iterations(instances) if n_iter is None else int(n_iter)
    # 1-2. diffusion from the centres
    heat = diffuse_heat(instances, centres, steps)
    if log_heat:
        heat = torch.log1p(heat)
    # 3. central differences at every mask pixel (padded coordinates)
    ys, xs = torch.nonzero(F.pad(instances, (1, 1, 1, 1)), as_tuple=True)
    dy = heat[ys + 1, xs] - heat[ys - 1, xs]
    dx = heat[ys, xs + 1] - heat[ys, xs - 1]
    grad = torch.stack([dy, dx])  # (2, P)
    # 4. normalise to unit length (the tiny constant keeps a zero gradient at zero)
    grad = grad / (1e-60 + (grad**2).sum(dim=0) ** 0.5)
    flows[:, ys - 1, xs - 1] = grad
    return flows.to(dtype)
