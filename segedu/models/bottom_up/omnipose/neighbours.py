"""The 3x3 stencil that Omnipose's distance field, flows and boundary are built on.

Reference: K. J. Cutler, C. Stringer, T. W. Lo, L. Rappez, N. Stroustrup, S. Brook Peterson,
P. A. Wiggins, J. D. Mougous, "Omnipose: a high-precision morphology-independent solution for
bacterial cell segmentation", Nature Methods 19, 1438-1448 (2022); reference implementation
``omnipose.utils.kernel_setup`` / ``get_neighbors`` and ``omnipose.core.masks_to_affinity`` /
``affinity_to_boundary`` (omnipose 1.1.4).

The nine steps ``(dy, dx)`` are listed in Omnipose's order, row-major over ``{-1, 0, 1}^2``, so
that the step opposite to step ``i`` is step ``8 - i``: ``4`` is the pixel itself, ``1, 3, 5, 7``
the four *cardinal* neighbours (distance 1), ``0, 2, 6, 8`` the four *ordinal* (diagonal)
neighbours (distance sqrt 2).

Two pixels are **connected** (Omnipose's affinity graph) when they carry the same nonzero label.
A step out of the image is clamped back into it (a pixel on the top row "sees" itself above), so
a cell cut by the image border is treated as if it went on past the border: no boundary there.
"""

from __future__ import annotations

import math

import torch

__all__ = ["STEPS", "CENTRE", "CARDINAL_PAIRS", "ORDINAL_PAIRS", "neighbour_values",
           "connectivity", "boundary"]

# the 3x3 steps (dy, dx), row-major: step i and step 8 - i are opposite
STEPS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
CENTRE = 4
# pairs of opposite steps along each axis of a group, and the group's step length
CARDINAL_PAIRS = ((1, 7), (3, 5))  # (up, down), (left, right): length 1
ORDINAL_PAIRS = ((0, 8), (2, 6))  # the two diagonals: length sqrt 2
GROUPS = ((CARDINAL_PAIRS, 1.0), (ORDINAL_PAIRS, math.sqrt(2.0)))


def neighbour_values(x: torch.Tensor) -> torch.Tensor:
    """The values of ``x`` ``(..., H, W)`` at the 9 steps: ``(9, ..., H, W)``.

    Entry ``i`` at pixel ``(y, x)`` is ``x[..., y + dy_i, x + dx_i]`` with the coordinates
    clamped into the image (replicate padding, as Omnipose's ``get_neighbors``).
    """
    H, W = x.shape[-2:]
    rows = torch.arange(H, device=x.device)
    cols = torch.arange(W, device=x.device)
    out = []
    for dy, dx in STEPS:
        r = (rows + dy).clamp(0, H - 1)
        c = (cols + dx).clamp(0, W - 1)
        out.append(x[..., r, :][..., c])
    return torch.stack(out)


def connectivity(labels: torch.Tensor) -> torch.Tensor:
    """Omnipose's affinity graph of an ``(H, W)`` label image: ``(9, H, W)`` bool.

    Entry ``i`` is true where the pixel is an object pixel (label > 0) and its neighbour at step
    ``i`` has the same label; the centre step is always false (no self connection).
    """
    neighbours = neighbour_values(labels)  # (9, H, W)
    connected = (neighbours == labels) & (labels > 0)
    connected[CENTRE] = False
    return connected


def boundary(labels: torch.Tensor) -> torch.Tensor:
    """Omnipose's boundary of an ``(H, W)`` label image: ``(H, W)`` bool.

    An object pixel is on the boundary when it is connected to fewer than all 8 neighbours but
    to at least one (an isolated pixel is no boundary: ``affinity_to_boundary``).
    """
    count = connectivity(labels).sum(dim=0)
    return (count < 8) & (count > 0)
