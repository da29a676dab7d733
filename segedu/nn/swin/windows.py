"""Cutting a grid of tokens into non-overlapping windows, and putting it back together.

Liu et al., ICCV 2021, section 3.2: self-attention is computed inside each ``Mh x Mw`` window
only, so its cost grows linearly with the image area instead of quadratically. The grid's sides
must be multiples of the window's (:class:`~segedu.nn.swin.window_attention.WindowAttention`
pads them first).
"""

from __future__ import annotations

import torch

__all__ = ["window_partition", "window_reverse"]


def window_partition(x: torch.Tensor, window_size: tuple[int, int]) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B * nW, Mh * Mw, C)``, windows in row-major order per image
    (``nW = (H / Mh) (W / Mw)``), tokens row-major inside a window."""
    b, h, w, c = x.shape
    mh, mw = window_size
    x = x.view(b, h // mh, mh, w // mw, mw, c)  # (B, H/Mh, Mh, W/Mw, Mw, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, H/Mh, W/Mw, Mh, Mw, C): window index first
    return x.reshape(b * (h // mh) * (w // mw), mh * mw, c)


def window_reverse(windows: torch.Tensor, window_size: tuple[int, int], height: int,
                   width: int) -> torch.Tensor:
    """The inverse of :func:`window_partition`: ``(B * nW, Mh * Mw, C)`` -> ``(B, H, W, C)``."""
    mh, mw = window_size
    c = windows.shape[-1]
    x = windows.view(-1, height // mh, width // mw, mh, mw, c)  # (B, H/Mh, W/Mw, Mh, Mw, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, H/Mh, Mh, W/Mw, Mw, C)
    return x.reshape(-1, height, width, c)
