"""StarDist's rays (Schmidt et al., MICCAI 2018): from a centre pixel, ``R`` rays to the edge of
its object, whose ends are the vertices of the object's star-convex polygon.

The directions are those of :func:`segedu.models.bottom_up.stardist.ray_directions`, the ones
:func:`~segedu.models.bottom_up.stardist.star_distances` marches along (ray 0 points right, ray
``R/4`` down); the lengths are given, a column of ``star_distances`` or of a network's output.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.axes import Axes

from segedu.models.bottom_up.stardist import ray_directions

__all__ = ["draw_star_rays"]


def draw_star_rays(ax: Axes, distances: torch.Tensor | np.ndarray, centre: tuple[float, float],
                   *, color: str = "white", line_width: float = 0.8,
                   polygon: bool = True) -> np.ndarray:
    """Draw the rays of one pixel and, joining their ends, its star-convex polygon.

    Args:
        ax: an axis showing the image (``imshow``: row 0 at the top).
        distances: ``(R,)`` length of each ray, in pixels.
        centre: ``(row, column)`` of the pixel the rays start from.
        color, line_width: of the rays and the polygon.
        polygon: also draw the polygon through the rays' ends (dashed).

    Returns:
        ``(R, 2)`` the rays' ends ``(row, column)``: the polygon's vertices.
    """
    if isinstance(distances, torch.Tensor):
        distances = distances.detach().cpu().numpy()
    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 1 or len(distances) < 3:
        raise ValueError(f"distances must be (R,) with R >= 3 rays, got shape {distances.shape}")
    if (distances < 0).any():
        raise ValueError("ray lengths must not be negative")
    d_row, d_col = ray_directions(len(distances))  # the op's directions, (R,) each
    row, col = (float(v) for v in centre)
    ends = np.stack([row + distances * d_row, col + distances * d_col], -1)  # (R, 2)
    for end_row, end_col in ends:
        ax.plot([col, end_col], [row, end_row], color=color, lw=line_width)
    if polygon:
        closed = np.concatenate([ends, ends[:1]])
        ax.plot(closed[:, 1], closed[:, 0], color=color, lw=line_width, ls="--")
    ax.plot(col, row, "o", color=color, ms=3)
    return ends
