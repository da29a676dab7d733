"""CoordConv's two coordinate channels (Liu et al., NeurIPS 2018), as SOLO and SOLOv2 use them.

A convolution is translation-invariant: the same pattern gives the same response wherever it is.
SOLO's outputs must depend on *where* an object is (the grid cell owns it), so the kernel branch
and the deepest level of the mask-feature branch get two extra input channels: the normalised
``x`` and ``y`` of each position, from -1 (left / top) to 1 (right / bottom),

.. math:: x_j = -1 + \\frac{2j}{W - 1}, \\qquad y_i = -1 + \\frac{2i}{H - 1}

(``torch.linspace(-1, 1, n)``; ``x`` first, then ``y``, as in mmdetection's SOLO code).
"""

from __future__ import annotations

import torch

__all__ = ["coordinate_channels", "with_coordinates"]


def coordinate_channels(features: torch.Tensor) -> torch.Tensor:
    """``(N, 2, H, W)``: channel 0 is ``x`` in ``[-1, 1]`` along the width, channel 1 is ``y``
    along the height, for a map ``features (N, C, H, W)`` (same device and dtype)."""
    n, _, height, width = features.shape
    kw = dict(device=features.device, dtype=features.dtype)
    y, x = torch.meshgrid(torch.linspace(-1, 1, height, **kw), torch.linspace(-1, 1, width, **kw),
                          indexing="ij")  # (H, W) each
    return torch.stack([x, y])[None].expand(n, -1, -1, -1)


def with_coordinates(features: torch.Tensor) -> torch.Tensor:
    """``features (N, C, H, W)`` with the two coordinate channels appended: ``(N, C + 2, H, W)``."""
    return torch.cat([features, coordinate_channels(features)], dim=1)
