r"""CLIP's image encoder: a Vision Transformer whose intermediate layers CLIPSeg reads.

Radford et al., ICML 2021 (Sec. 2.4, the ViT variant)::

    images (B, 3, H, W)
      -> patch_embed                    conv p x p, stride p, no bias: (B, N, D), N = (H/p)(W/p)
      -> [class_embedding; .]           (B, 1 + N, D)
      -> + position_embedding           interpolated to the patch grid
      -> pre_norm                       a LayerNorm *before* the first layer (CLIP's addition)
      -> CLIPLayer x depth              activations of layers 3, 6, 9 go to CLIPSeg's decoder
      -> post_norm(class token)         (B, D)
      -> projection                     (B, P), no bias: the image embedding

Compared with segedu's :class:`~segedu.nn.vit.VisionTransformer` (timm's and DINO's ViT): a
LayerNorm before the layers, a patch projection without bias, LayerNorm ``eps`` ``1e-5``,
QuickGELU, and the final norm applied to the class token only, then projected.

**Positional embeddings at other sizes.** CLIP learnt one embedding per patch of a 224-pixel
image (14 x 14 patches of 16 pixels for ViT-B/16); CLIPSeg feeds 352-pixel images (22 x 22). The
patch embeddings are resized bicubically to the new grid exactly as ``transformers'``
``CLIPSegVisionEmbeddings.interpolate_pos_encoding`` does: :func:`segedu.nn.vit.
interpolate_pos_embed` with ``mode="transformers"`` (plain bicubic to the exact size, nothing when
the grid is the training grid).

:meth:`CLIPVisionEncoder.layer_outputs` stops after the deepest layer that is asked for, as the
original CLIPSeg does (its ``visual_forward(..., skip=True)``): the later layers do not change the
mask. ``transformers`` runs them all; the logits are the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ....nn.vit import check_images, interpolate_pos_embed
from .clip_layer import CLIPLayer

__all__ = ["CLIPVisionEncoder"]


class CLIPVisionEncoder(nn.Module):
    """Images ``(B, C, H, W)`` -> image embeddings ``(B, P)``, or the tokens of chosen layers.

    Args (keyword-only):
        img_size: the training image side (224 in CLIP): fixes ``position_embedding``.
        patch_size: ``p``; in_chans: image channels.
        width: token width ``D``; depth: layers; num_heads: attention heads; mlp_dim: MLP width.
        embed_dim: ``P``, the width of the joint image-text space.
        eps: LayerNorm's epsilon.
    """

    def __init__(self, *, img_size: int = 224, patch_size: int = 16, in_chans: int = 3,
                 width: int = 768, depth: int = 12, num_heads: int = 12, mlp_dim: int = 3072,
                 embed_dim: int = 512, eps: float = 1e-5) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"img_size ({img_size}) must be a multiple of patch_size "
                             f"({patch_size})")
        self.patch_size, self.in_chans = patch_size, in_chans
        self.grid_size = (img_size // patch_size,) * 2  # the grid of position_embedding
        self.patch_embed = nn.Conv2d(in_chans, width, kernel_size=patch_size, stride=patch_size,
                                     bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) * width ** -0.5)  # CLIP's init
        self.position_embedding = nn.Parameter(
            torch.randn(1, 1 + self.grid_size[0] * self.grid_size[1], width) * width ** -0.5)
        self.pre_norm = nn.LayerNorm(width, eps=eps)
        self.layers = nn.ModuleList(CLIPLayer(dim=width, num_heads=num_heads, mlp_dim=mlp_dim,
                                              eps=eps) for _ in range(depth))
        self.post_norm = nn.LayerNorm(width, eps=eps)
        self.projection = nn.Linear(width, embed_dim, bias=False)

    def patch_grid(self, images: torch.Tensor) -> tuple[int, int]:
        """The patch grid ``(H / p, W / p)`` of ``images`` (checked: a float ``(B, C, H, W)``
        tensor, sides multiples of ``p``)."""
        return check_images(images, in_chans=self.in_chans, patch_size=self.patch_size)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> the first layer's input ``(B, 1 + N, D)``."""
        grid = self.patch_grid(images)
        # 1. one token per patch: (B, D, h, w) -> (B, N, D), row by row
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        # 2. the class token in front: (B, 1 + N, D)
        cls = self.class_embedding.expand(x.shape[0], 1, -1).to(x.dtype)
        x = torch.cat([cls, x], dim=1)
        # 3. positional embeddings, resized to this image's grid
        x = x + interpolate_pos_embed(self.position_embedding, grid, old_grid_size=self.grid_size,
                                      mode="transformers")
        # 4. CLIP normalises before the first layer
        return self.pre_norm(x)

    def layer_outputs(self, images: torch.Tensor, layers: Sequence[int]) -> list[torch.Tensor]:
        """The outputs ``(B, 1 + N, D)`` of layers ``layers`` (0-based, increasing), in that
        order; the layers after the deepest one asked for are not run."""
        layers = list(layers)
        if not layers or layers != sorted(set(layers)) or not 0 <= layers[0] <= layers[-1] < len(
                self.layers):
            raise ValueError(f"layers must be increasing indices in 0..{len(self.layers) - 1}, "
                             f"got {layers}")
        x, outputs = self.tokens(images), []
        for i, layer in enumerate(self.layers[:layers[-1] + 1]):
            x = layer(x)
            if i in layers:
                outputs.append(x)
        return outputs

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> image embeddings ``(B, P)``: all layers, the class token
        normalised and projected."""
        x = self.tokens(images)
        for layer in self.layers:
            x = layer(x)
        return self.projection(self.post_norm(x[:, 0]))
