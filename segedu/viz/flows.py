"""Vector fields on images: Cellpose's flows, offsets to the centre (spatial embeddings).

- :func:`flow_to_rgb`: a field as colours, hue = direction, brightness = length (the picture of
  the Cellpose paper);
- :func:`draw_arrows`: a field as arrows over an image, in pixel units.

Image axes point down (``imshow`` puts row 0 at the top), so an arrow must be drawn in data
coordinates (``angles="xy"``): a vector with ``dy > 0`` points to a larger row, *down* the
picture. (Matplotlib's default, ``angles="uv"``, draws ``+v`` up the screen whatever the axes;
a field drawn that way over an image needs ``-dy``, and mixing the two conventions flips every
arrow vertically.)
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import hsv_to_rgb
from matplotlib.quiver import Quiver

__all__ = ["flow_to_rgb", "draw_arrows"]

#: Which component comes first in a ``(2, H, W)`` field: Cellpose's flows are ``(dy, dx)``,
#: segedu's ``center_offsets`` are ``(dx, dy)``.
ORDERS = ("yx", "xy")


def _field(field: torch.Tensor | np.ndarray, order: str) -> tuple[np.ndarray, np.ndarray]:
    """``(dy, dx)``, two ``(H, W)`` float arrays, from a ``(2, H, W)`` field in ``order``."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if isinstance(field, torch.Tensor):
        field = field.detach().cpu().numpy()
    field = np.asarray(field, dtype=float)
    if field.ndim != 3 or field.shape[0] != 2:
        raise ValueError(f"the field must have shape (2, H, W), got {field.shape}")
    return (field[0], field[1]) if order == "yx" else (field[1], field[0])


def flow_to_rgb(flows: torch.Tensor | np.ndarray, *, norm: float = 1.0,
                order: str = "yx") -> np.ndarray:
    """A field ``(2, H, W)`` as an ``(H, W, 3)`` RGB image: hue = direction, value = length /
    ``norm`` (capped at 1), full saturation.

    The hue is the angle of ``(dx, dy)`` in image coordinates divided by a full turn: right is
    red (0), down (``dy > 0``) is 0.25 of the way round the colour wheel, left 0.5, up 0.75.
    """
    if norm <= 0:
        raise ValueError(f"norm must be positive, got {norm}")
    dy, dx = _field(flows, order)
    hue = (np.arctan2(dy, dx) / (2 * math.pi)) % 1  # direction as a fraction of a turn
    value = np.clip(np.hypot(dy, dx) / norm, 0, 1)
    return hsv_to_rgb(np.stack([hue, np.ones_like(hue), value], -1))


def draw_arrows(ax: Axes, field: torch.Tensor | np.ndarray, *, order: str = "yx",
                step: int = 3, length: float = 1.0, color: str = "white",
                width: float = 0.003) -> Quiver:
    """Arrows of a field ``(2, H, W)`` over an image drawn with ``imshow``, one every ``step``
    pixels, each from its pixel to the pixel plus ``length`` times its vector (in pixels).

    Args:
        ax: an axis showing the ``(H, W)`` image.
        field: the vectors, ``(dy, dx)`` first for ``order="yx"`` (Cellpose's flows), ``(dx, dy)``
            for ``order="xy"`` (``center_offsets``).
        step: draw every ``step``-th row and column.
        length: arrow length per unit of the field, in pixels (1 for offsets in pixels; about 2.5
            for Cellpose's unit flows).
        color, width: of the arrows.

    Returns:
        matplotlib's ``Quiver``: its ``X, Y`` are the arrows' pixels (column, row) and ``U, V``
        their ``(dx, dy)`` in pixels; pixels where the field is zero get no arrow.
    """
    if not isinstance(step, int) or step < 1:
        raise ValueError(f"step must be a positive int, got {step!r}")
    dy, dx = _field(field, order)
    rows, cols = np.mgrid[0:dy.shape[0]:step, 0:dy.shape[1]:step]
    dy, dx = dy[::step, ::step], dx[::step, ::step]
    moving = (dy != 0) | (dx != 0)  # no arrow (matplotlib would draw a dot) where the field is 0
    # data coordinates: +dy points down the image, as the rows do
    return ax.quiver(cols[moving], rows[moving], length * dx[moving], length * dy[moving],
                     angles="xy", scale_units="xy", scale=1, color=color, width=width)
