r"""Following the flows: where does each cell pixel end up? (Cellpose's gradient tracking.)

Reference: Stringer et al., "Cellpose: a generalist algorithm for cellular segmentation", Nature
Methods 2021; reference implementation ``cellpose.dynamics.follow_flows`` / ``steps_interp``
(cellpose 4.2.1.1), reproduced here step by step.

Every pixel :math:`p` of the foreground is a particle at :math:`x_0 = p`, moved by ``n_iter``
explicit Euler steps of size 1 along the flow field :math:`u` (``(dy, dx)``, bilinearly
interpolated between pixels), and kept inside the image:

.. math:: x_{t+1} = \operatorname{clamp}\big(x_t + u(x_t)\big).

The pixels of one cell all drift to (near) its centre, where the flows converge. Cellpose
integrates the network's flows divided by 5 (the network was trained on 5x unit flows) and set
to zero outside the cell-probability mask: ``dP * (cellprob > threshold) / 5``; here the caller
passes the field to integrate and the mask (:func:`.postprocess.compute_masks` does the /5).

Coordinates, as in the reference: positions and flows are rescaled to ``[-1, 1]`` with
``x / (W - 1) * 2 - 1`` (the ``align_corners=True`` convention), but the field is sampled by
``torch.nn.functional.grid_sample(..., align_corners=False)``, which reads ``-1`` as the *outer
edge* of the first pixel. So the flow is read at :math:`x\,W/(W-1) - 1/2` rather than at
:math:`x` (a sub-pixel offset, largest at the borders; outside the pixel centres the zero padding
is blended in). We keep this quirk to give exactly Cellpose's end points.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["follow_flows"]


def follow_flows(flows: torch.Tensor, mask: torch.Tensor, n_iter: int = 200) -> torch.Tensor:
    """Euler-integrate ``flows`` from every pixel of ``mask``; return final positions ``(2, H, W)``.

    ``flows`` ``(2, H, W)`` float (``dy, dx``, in pixels per step); it is zeroed outside ``mask``
    ``(H, W)`` bool before the integration. The output holds, at each pixel, the float32
    ``(y, x)`` where it ended after ``n_iter`` steps; pixels outside ``mask`` keep their own
    coordinates. Positions stay in ``[0, H - 1] x [0, W - 1]``.
    """
    if not isinstance(flows, torch.Tensor) or flows.dim() != 3 or flows.shape[0] != 2:
        raise ValueError("flows must be a (2, H, W) tensor (dy, dx), got "
                         f"{getattr(flows, 'shape', flows)}")
    if not flows.dtype.is_floating_point:
        raise TypeError(f"flows must be floating point, got {flows.dtype}")
    if (not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool
        or mask.shape != flows.shape[1:]):
        raise ValueError(
            f"mask must be a bool tensor of shape {tuple(flows.shape[1:])}, got "
            f"{getattr(mask, 'dtype', type(mask).__name__)} {tuple(getattr(mask, 'shape', ()))}"
        )
    H, W = mask.shape
    if H < 2 or W < 2:
        raise ValueError(f"follow_flows needs an image of at least 2x2 pixels, got {H}x{W}")
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0, got {n_iter}")
    ys, xs = torch.nonzero(mask, as_tuple=True)  # the P particles, row-major
    positions = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")).float()
    if len(ys) == 0:
        return positions
    # the field, zero outside the mask, as grid_sample wants it: (1, 2, H, W), channels (x, y)
    field = (flows.float() * mask).flip(0).unsqueeze(0).contiguous()
    # particles (1, 1, P, 2), last dim (x, y); scale both to [-1, 1] (flows by the same factor)
    size = (float(W - 1), float(H - 1))  # (x, y)
    points = torch.stack([xs, ys], dim=1).float().reshape(1, 1, -1, 2)
    for k in range(2):
        field[:, k] *= 2.0 / size[k]
        points[..., k] /= size[k]
    points *= 2
    points -= 1
    # Euler steps: read the flow at each particle (bilinear), move, clamp to the image
    for _ in range(n_iter):
        step = F.grid_sample(field, points, align_corners=False)  # (1, 2, 1, P)
        for k in range(2):
            points[..., k] += step[:, k]
            points[..., k].clamp_(-1.0, 1.0)
    # back to pixel coordinates
    points += 1
    points *= 0.5
    for k in range(2):
        points[..., k] *= size[k]
    end = points.reshape(-1, 2)  # (P, 2) as (x, y)
    positions[0, ys, xs] = end[:, 1]
    positions[1, ys, xs] = end[:, 0]
    return positions
