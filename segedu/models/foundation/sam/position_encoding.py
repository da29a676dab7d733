r"""Random Fourier feature positional encoding (Tancik et al., NeurIPS 2020), as used by SAM's
prompt encoder and mask decoder.

A position :math:`p \in [0, 1]^2` (normalised by the image size) is mapped to

.. math::
    \gamma(p) = [\sin(2\pi\, (2p - 1) G),\ \cos(2\pi\, (2p - 1) G)] \in \mathbb{R}^{2F},

with :math:`G` a fixed ``(2, F)`` matrix of Gaussian samples (``scale`` times standard normal).
Unlike the sinusoids of a standard transformer, the frequencies are random and mix the two axes,
which lets the decoder resolve fine positions. The same map encodes the prompt points
(:meth:`PositionEmbeddingRandom.forward_with_coords`) and the centres of the image embedding's
cells (:meth:`PositionEmbeddingRandom.forward`), so a point and the pixels around it have
similar codes.

:math:`G` is not learned but is part of the checkpoint: it is a buffer named
``positional_encoding_gaussian_matrix``, as in segment-anything's ``PositionEmbeddingRandom``;
the operations are done in segment-anything's order (same results, tested).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PositionEmbeddingRandom"]


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier features of 2-D positions: ``(..., 2)`` in ``[0, 1]`` ->
    ``(..., 2 * num_pos_feats)``.

    Args (keyword-only):
        num_pos_feats: ``F``, the number of random frequencies (half the output width).
        scale: standard deviation of the frequencies (``None`` or <= 0 means 1, as in SAM).
    """

    def __init__(self, *, num_pos_feats: int = 64, scale: float | None = None) -> None:
        super().__init__()
        if scale is None or scale <= 0.0:
            scale = 1.0
        self.register_buffer(
            "positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats))
        )

    def _pe_encoding(self, coords: torch.Tensor) -> torch.Tensor:
        """``coords (..., 2)`` as ``(x, y)`` in ``[0, 1]`` -> ``(..., 2F)``: ``[sin, cos]``."""
        # to [-1, 1], project on the random frequencies, to radians
        coords = 2 * coords - 1
        coords = coords @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: tuple[int, int]) -> torch.Tensor:
        """Encoding of the centres of an ``(h, w)`` grid of cells: ``(2F, h, w)``."""
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        # cell centres (j + 0.5) / w across and (i + 0.5) / h down
        x = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        y = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        grid = torch.stack([x[None, :].expand(h, w), y[:, None].expand(h, w)], dim=-1)  # (h, w, 2)
        return self._pe_encoding(grid).permute(2, 0, 1)

    def forward_with_coords(
        self, coords_input: torch.Tensor, image_size: tuple[int, int]
    ) -> torch.Tensor:
        """Encoding of points ``(B, N, 2)`` given in pixels ``(x, y)`` of an image of size
        ``image_size = (H, W)``: ``(B, N, 2F)``."""
        # normalise x by the width and y by the height
        coords = torch.stack(
            [coords_input[..., 0] / image_size[1], coords_input[..., 1] / image_size[0]], dim=-1
        )
        return self._pe_encoding(coords.to(torch.float))
