r"""The pixel coordinate map :math:`x_i` to which the offsets are added.

Neven et al. (CVPR 2019) write each pixel's embedding as :math:`e_i = x_i + o_i`, with
:math:`o_i = \tanh(\cdot) \in (-1, 1)^2`. The authors' code does not normalise :math:`x_i` per
image: it slices one *fixed* coordinate map, ``x = linspace(0, 2, 2048)`` by
``y = linspace(0, 1, 1024)``, at the top left of every image or crop. One pixel is therefore
about ``1/1023`` coordinate units in every image, whatever its size, so that an offset or a
bandwidth means the same number of pixels in a crop, a full image or a larger image, and the
``tanh`` range of ``+-1`` reaches ~1000 pixels. EmbedSeg (Lalit et al., 2021) does the same with
``linspace(0, 1, 1024)`` on both axes. segedu takes that spacing, :data:`PIXEL_SIZE` ``= 1/1023``
on both axes (the reference's x spacing, ``2/2047``, differs by 0.05 %).

Channel order: channel 0 is x (the column), channel 1 is y (the row), as in the reference.
"""

from __future__ import annotations

import torch

__all__ = ["PIXEL_SIZE", "coordinate_map"]

PIXEL_SIZE = 1.0 / 1023.0  # coordinate units per pixel (the reference's linspace(0, 1, 1024))


def coordinate_map(
    height: int,
    width: int,
    *,
    pixel_size: float = PIXEL_SIZE,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The coordinates ``(2, H, W)``: ``[0, c, r] = c * pixel_size`` (x),
    ``[1, c, r] = r * pixel_size`` (y).

    Pixel ``(row, col)`` has coordinate ``(col, row) * pixel_size``; the top-left pixel is at 0.
    """
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be >= 1, got {height} x {width}")
    if not pixel_size > 0:
        raise ValueError(f"pixel_size must be positive, got {pixel_size}")
    rows = torch.arange(height, dtype=dtype, device=device) * pixel_size  # (H,)
    cols = torch.arange(width, dtype=dtype, device=device) * pixel_size  # (W,)
    y, x = torch.meshgrid(rows, cols, indexing="ij")  # (H, W) each
    return torch.stack([x, y])  # (2, H, W): x first, as the reference's xym
