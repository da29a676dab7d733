"""Patch embedding: cut the image into ``p x p`` patches and project each one to a token.

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
ICLR 2021, https://arxiv.org/abs/2010.11929 (Eq. 1: ``x_p E``, the linear projection of the
flattened patches). A convolution with kernel size = stride = ``p`` computes exactly that linear
projection for every non-overlapping patch at once, which is how timm's and DINO's ``PatchEmbed``
do it; the parameter is called ``proj`` as there, so their state dicts load as they are.

Unlike timm (which silently drops the last rows and columns, or pads with ``dynamic_img_pad``),
an image whose height or width is not a multiple of ``p`` raises a ``ValueError``: crop or pad it
yourself, as DINO's ``visualize_attention.py`` does.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PatchEmbed", "check_images"]


def check_images(x: object, *, in_chans: int, patch_size: int) -> tuple[int, int]:
    """Check a batch of images ``(B, C, H, W)``; return its patch grid ``(H / p, W / p)``.

    Raises ``TypeError`` for a non-tensor or a non-floating tensor, ``ValueError`` for a wrong
    number of dimensions or channels, or a size that is not a positive multiple of ``patch_size``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor (B, C, H, W), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"images must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"images must have shape (B, C, H, W), got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    if c != in_chans:
        raise ValueError(f"images must have {in_chans} channels (B, {in_chans}, H, W), got shape "
                         f"{tuple(x.shape)}")
    if h < patch_size or w < patch_size or h % patch_size or w % patch_size:
        raise ValueError(
            f"image height and width must be positive multiples of the patch size {patch_size}, "
            f"got {h} x {w}; crop or pad the images first"
        )
    return h // patch_size, w // patch_size


class PatchEmbed(nn.Module):
    """Images ``(B, C, H, W)`` -> patch tokens ``(B, N, D)``, ``N = (H / p) (W / p)`` in row-major
    order.

    Args:
        patch_size: ``p``, the side of a square patch (kernel size and stride of ``proj``).
        in_chans: number of image channels ``C``.
        embed_dim: token dimension ``D``.
    """

    def __init__(self, *, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        if patch_size < 1:
            raise ValueError(f"patch_size must be positive, got {patch_size}")
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def grid_size(self, x: torch.Tensor) -> tuple[int, int]:
        """The patch grid ``(h, w) = (H / p, W / p)`` of images ``x (B, C, H, W)`` (checked)."""
        return check_images(x, in_chans=self.in_chans, patch_size=self.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grid_size(x)  # clear errors for a wrong shape or size
        # 1. one linear projection per p x p patch: (B, C, H, W) -> (B, D, h, w)
        x = self.proj(x)
        # 2. the grid of patches becomes a sequence, row by row: (B, D, h, w) -> (B, h w, D)
        return x.flatten(2).transpose(1, 2)
