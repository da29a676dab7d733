"""EoMT's input tokens: patch embedding, class token, registers and learned positions.

``images (B, 3, H, W) -> [class token; R registers; h w patches] (B, 1 + R + h w, D)``, where
each patch token is the projection of its ``p x p`` patch (:class:`segedu.nn.vit.PatchEmbed`)
plus a learned position embedding.

How this differs from DINOv2's embeddings (``transformers``' ``Dinov2Embeddings`` and
``Dinov2WithRegistersEmbeddings``, segedu's :mod:`segedu.models.foundation.dinov2`): EoMT's
ViT is timm's DINOv2 (``vit_*_patch14_reg4_dinov2`` with ``no_embed_class``), whose position
embeddings cover the *patches only* (none for the class token), and fine-tuned at one fixed
image size, so they are never interpolated: images must have the size the model was built for.
``transformers``' ``EomtEmbeddings`` is the same (``position_embeddings`` of ``h w`` rows).
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.vit import PatchEmbed

__all__ = ["EomtEmbeddings"]


class EomtEmbeddings(nn.Module):
    """Images ``(B, 3, S, S)`` (normalised) -> tokens ``(B, 1 + R + (S / p)^2, D)``.

    Args:
        image_size: ``S``, the only accepted height and width.
        patch_size: ``p`` (``S`` must be a multiple of it).
        dim: token width ``D``.
        num_register_tokens: ``R`` (0: none).
    """

    def __init__(self, *, image_size: int, patch_size: int, dim: int,
                 num_register_tokens: int = 0) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size ({image_size}) must be a multiple of patch_size "
                             f"({patch_size})")
        self.image_size = image_size
        self.grid_size = (image_size // patch_size, image_size // patch_size)
        self.num_prefix_tokens = 1 + num_register_tokens
        self.patch_embed = PatchEmbed(patch_size=patch_size, in_chans=3, embed_dim=dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_tokens = nn.Parameter(torch.zeros(1, num_register_tokens, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid_size[0] * self.grid_size[1], dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"images must be {self.image_size} x {self.image_size} (EoMT's "
                             "position embeddings are not interpolated), got "
                             f"{tuple(images.shape[-2:])}")
        batch = images.shape[0]
        # 1. one token per patch, plus its position: (B, h w, D)
        patches = self.patch_embed(images) + self.pos_embed
        # 2. the class token and the registers in front (no position embedding)
        return torch.cat([self.cls_token.expand(batch, -1, -1),
                          self.register_tokens.expand(batch, -1, -1), patches], dim=1)
