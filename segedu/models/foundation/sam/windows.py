"""Window partition for the windowed attention of SAM's image encoder (ViTDet, Li et al. 2022).

A windowed block attends only within non-overlapping ``window_size x window_size`` squares of the
token grid, so its cost grows linearly with the number of tokens instead of quadratically.
:func:`window_partition` zero-pads the ``(B, H, W, C)`` grid at the bottom and right up to a
multiple of ``window_size`` (ViT-B/L/H: 64 x 64 tokens, windows of 14, padded to 70 x 70) and
cuts it into windows, which the attention sees as a larger batch; :func:`window_unpartition`
undoes both steps. The padded tokens are zeros after the block's LayerNorm; they take part in
the attention of the windows at the border (as in segment-anything: nothing masks them out) and
are cut away afterwards.

Same results as segment-anything's ``window_partition`` / ``window_unpartition`` (pure reshapes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["window_partition", "window_unpartition"]


def window_partition(x: torch.Tensor, window_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Tokens ``(B, H, W, C)`` -> windows ``(B * nH * nW, window_size, window_size, C)`` and the
    padded size ``(Hp, Wp)``, with ``nH = Hp / window_size`` windows down and ``nW`` across.

    Windows are ordered image by image, then row by row of windows.
    """
    b, h, w, c = x.shape
    # zero-pad bottom and right to a multiple of the window size
    pad_h = (-h) % window_size
    pad_w = (-w) % window_size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    # (B, nH, ws, nW, ws, C) -> (B, nH, nW, ws, ws, C) -> one window per batch entry
    x = x.view(b, hp // window_size, window_size, wp // window_size, window_size, c)
    windows = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, c)
    return windows, (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window_size: int, pad_hw: tuple[int, int], hw: tuple[int, int]
) -> torch.Tensor:
    """Windows ``(B * nH * nW, ws, ws, C)`` -> tokens ``(B, H, W, C)``: the inverse of
    :func:`window_partition` (``pad_hw`` the padded size it returned, ``hw`` the size before)."""
    hp, wp = pad_hw
    h, w = hw
    n_h, n_w = hp // window_size, wp // window_size
    b = windows.shape[0] // (n_h * n_w)
    # (B, nH, nW, ws, ws, C) -> (B, nH, ws, nW, ws, C) -> (B, Hp, Wp, C)
    x = windows.view(b, n_h, n_w, window_size, window_size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    # drop the padding
    return x[:, :h, :w, :].contiguous()
