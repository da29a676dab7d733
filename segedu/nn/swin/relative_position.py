"""Swin's relative position bias: a learned scalar per head for each *offset* between two tokens
of a window.

Liu et al., ICCV 2021, section 3.2 ("Relative position bias"): attention inside an ``M x M``
window adds ``B`` to the scores, ``softmax(Q K^T / sqrt(d) + B) V``. Two tokens of a window are
at most ``M - 1`` rows and ``M - 1`` columns apart, so there are ``(2M - 1)^2`` offsets; a table
``B_hat`` of that many rows (one column per head) is learned, and ``B`` is read from it by the
index below. Both the index and the table's layout are the paper's code's (and torchvision's).
"""

from __future__ import annotations

import torch

__all__ = ["relative_position_index"]


def relative_position_index(window_size: tuple[int, int]) -> torch.Tensor:
    """``(Mh * Mw, Mh * Mw)`` long tensor: entry ``(i, j)`` is the row of the bias table that
    holds the offset from token ``j`` to token ``i`` of a window (tokens in row-major order)."""
    mh, mw = window_size
    coords = torch.stack(torch.meshgrid(torch.arange(mh), torch.arange(mw), indexing="ij"))
    coords = coords.flatten(1)  # (2, Mh*Mw): the (row, column) of each token
    offsets = coords[:, :, None] - coords[:, None, :]  # (2, N, N): row and column offsets
    offsets = offsets.permute(1, 2, 0)  # (N, N, 2)
    rows = offsets[..., 0] + mh - 1  # in [0, 2Mh - 2]
    cols = offsets[..., 1] + mw - 1  # in [0, 2Mw - 2]
    return rows * (2 * mw - 1) + cols  # (N, N): a row-major index into the (2Mh-1)(2Mw-1) table
