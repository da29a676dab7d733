r"""DINOv2's input tokens: patch embedding, class token, register tokens and positions.

Oquab et al., "DINOv2", TMLR 2024 (https://arxiv.org/abs/2304.07193) and Darcet et al., "Vision
Transformers Need Registers", ICLR 2024 (https://arxiv.org/abs/2309.16588). For images
``(B, C, H, W)`` with ``H, W`` multiples of the patch size ``p``::

    patch_embed        p x p patches -> tokens                     (B, N, D), N = (H / p)(W / p)
    [mask_token]       masked patches replaced (iBOT's masked image modelling, optional)
    [cls; patches]     the learned class token in front            (B, 1 + N, D)
    + pos_embed        one learned position per token, the patch part interpolated
                       bicubically to the (H / p, W / p) grid       (B, 1 + N, D)
    [cls; regs; ...]   R learned register tokens after the class token, WITHOUT positions
                                                                    (B, 1 + R + N, D)

Registers are extra tokens that take part in attention but are read by nobody: Darcet et al.
found that large ViTs recycle uninformative background patches as global "scratch" memory, which
shows up as high-norm artefacts in their attention maps; giving the network R = 4 dedicated tokens
for that removes the artefacts. ``num_register_tokens=0`` is plain DINOv2.

Position interpolation follows transformers (the reference of the equality tests), in float32:
``Dinov2Model`` resizes the ``(D, 37, 37)`` grid of the 518-pixel training size with plain bicubic
to exactly ``(H / p, W / p)`` (``mode="transformers"`` of
:func:`segedu.nn.vit.interpolate_pos_embed`); ``Dinov2WithRegistersModel`` does the same with
``antialias=True`` (``mode="timm"``), as DINOv2's own code does for its register models. For the
plain models DINOv2's own code uses a scale factor with ``interpolate_offset=0.1`` (as DINO v1,
``mode="dino"``) instead, which gives other embeddings at other sizes; at the training size all
agree. Images whose side is not a multiple of ``p`` are refused (``ValueError``), where transformers
silently drops the last rows and columns. Parameter names are DINOv2's (``cls_token``,
``register_tokens``, ``mask_token``, ``pos_embed``, ``patch_embed.proj``).
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.vit import PatchEmbed, interpolate_pos_embed

__all__ = ["Dinov2Embeddings"]


class Dinov2Embeddings(nn.Module):
    """Images ``(B, C, H, W)`` -> tokens ``(B, 1 + R + N, D)``: class, registers, patches.

    Args:
        img_size: training image side; fixes ``pos_embed`` to ``1 + (img_size / p)^2`` entries
            (518 in DINOv2: a 37 x 37 grid).
        patch_size: ``p`` (14 in DINOv2).
        in_chans: image channels ``C``.
        embed_dim: token dimension ``D``.
        num_register_tokens: ``R`` (0: plain DINOv2; 4 in the register models).
        antialias: interpolate the positions with the anti-aliased bicubic kernel (transformers'
            registers models) instead of plain bicubic (its plain DINOv2 models).
    """

    def __init__(
        self, *, img_size: int = 518, patch_size: int = 14, in_chans: int = 3,
        embed_dim: int = 768, num_register_tokens: int = 0, antialias: bool = False,
    ) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"img_size ({img_size}) must be a multiple of patch_size "
                             f"({patch_size})")
        if num_register_tokens < 0:
            raise ValueError(f"num_register_tokens must be >= 0, got {num_register_tokens}")
        self.patch_size = patch_size
        self.num_register_tokens = num_register_tokens
        self.antialias = antialias
        self.grid_size = (img_size // patch_size, img_size // patch_size)  # the grid of pos_embed
        self.patch_embed = PatchEmbed(patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        # R learned registers (None without: plain DINOv2's state dict has no such entry)
        self.register_tokens = (nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim))
                                if num_register_tokens else None)
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))
        num_patches = self.grid_size[0] * self.grid_size[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_patches, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    @property
    def num_prefix_tokens(self) -> int:
        """Tokens in front of the patches: the class token and the registers, ``1 + R``."""
        return 1 + self.num_register_tokens

    def patch_grid(self, x: torch.Tensor) -> tuple[int, int]:
        """The patch grid ``(H / p, W / p)`` of images ``x (B, C, H, W)`` (checked)."""
        return self.patch_embed.grid_size(x)

    def positions(self, grid: tuple[int, int]) -> torch.Tensor:
        """Position embeddings ``(1, 1 + h w, D)`` for the patch grid ``(h, w)``, interpolated in
        float32 as transformers does."""
        mode = "timm" if self.antialias else "transformers"
        pos = interpolate_pos_embed(self.pos_embed.float(), grid, old_grid_size=self.grid_size,
                                    mode=mode)
        return pos.to(self.pos_embed.dtype)

    def forward(self, x: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask`` (optional) ``(B, h, w)`` bool: the patches replaced by ``mask_token``."""
        grid = self.patch_grid(x)
        b = x.shape[0]
        # 1. one token per p x p patch: (B, N, D)
        tokens = self.patch_embed(x)
        # 1b. masked image modelling: the learned mask token instead of a masked patch
        if mask is not None:
            if mask.shape != (b, *grid) or mask.dtype != torch.bool:
                raise ValueError(f"mask must be a bool tensor of shape {(b, *grid)}, got "
                                 f"{mask.dtype} {tuple(mask.shape)}")
            tokens = torch.where(mask.flatten(1)[..., None], self.mask_token.to(tokens.dtype),
                                 tokens)
        # 2. the class token in front: (B, 1 + N, D)
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)
        # 3. positions, interpolated to this grid
        tokens = tokens + self.positions(grid)
        # 4. the registers after the class token, without positions: (B, 1 + R + N, D)
        if self.register_tokens is None:
            return tokens
        registers = self.register_tokens.expand(b, -1, -1)
        return torch.cat([tokens[:, :1], registers, tokens[:, 1:]], dim=1)
