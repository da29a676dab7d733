r"""The Vision Transformer (ViT) backbone, state-dict compatible with timm's ViT and DINO's.

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
ICLR 2021, https://arxiv.org/abs/2010.11929; as used by DINO (Caron et al., "Emerging Properties in
Self-Supervised Vision Transformers", ICCV 2021, https://arxiv.org/abs/2104.14294).

Forward pass (:meth:`VisionTransformer.forward_features`)::

    images (B, 3, H, W)
      -> patch_embed        patch tokens (B, N, D), N = (H / p) (W / p)
      -> [cls_token; .]     (B, 1 + N, D): a learned class token in front
      -> + pos_embed        positional embeddings, interpolated to the patch grid (pos_embed.py)
      -> blocks x depth     pre-norm transformer blocks (block.py)
      -> norm               final LayerNorm: the "final normalised tokens" (B, 1 + N, D)

:meth:`~VisionTransformer.forward` returns the class token of that output, ``(B, D)``: the image
embedding of DINO's ``VisionTransformer`` with ``num_classes=0`` and of timm's with
``num_classes=0, global_pool="token"``.

Relation to the references. Parameter names and shapes are those of timm's
``VisionTransformer`` (``class_token=True``, no LayerScale, no registers) and of DINO's
``vision_transformer.py``: ``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.{i}.norm1``,
``.attn.qkv``, ``.attn.proj``, ``.norm2``, ``.mlp.fc1``, ``.mlp.fc2``, ``norm``, so that DINO's
official backbone checkpoints load strictly (there is no classification head). The methods
:meth:`~VisionTransformer.get_last_selfattention` and
:meth:`~VisionTransformer.get_intermediate_layers` are DINO's (timm's ``get_intermediate_layers``
defaults to ``norm=False`` and splits off the class token); positional embeddings are interpolated
DINO's way unless ``pos_embed_mode="timm"`` (see :mod:`segedu.nn.vit.pos_embed`). Images must be a
multiple of the patch size (``ValueError``). Initialisation is DINO's: ``trunc_normal_(std=0.02)``
for the tokens, embeddings and linear weights (truncated at DINO's bounds -2 and 2, that is 100
standard deviations: a normal in practice), zero biases, unit LayerNorms.
"""

from __future__ import annotations

import torch
from torch import nn

from .block import Block
from .patch_embed import PatchEmbed
from .pos_embed import POS_EMBED_MODES, interpolate_pos_embed

__all__ = ["VisionTransformer"]


class VisionTransformer(nn.Module):
    """ViT backbone: images ``(B, C, H, W)`` -> tokens ``(B, 1 + N, D)`` (class token first).

    Args:
        img_size: training image side; fixes the size of ``pos_embed`` (``(img_size / p)^2 + 1``
            entries). Other sizes (multiples of ``patch_size``) work by interpolation.
        patch_size: ``p``.
        in_chans: image channels.
        embed_dim: token dimension ``D``.
        depth: number of transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden size as a multiple of ``D``.
        qkv_bias: bias of the query/key/value projections.
        drop_path_rate: stochastic depth of the last block; block ``i`` uses
            ``rate * i / (depth - 1)``.
        pos_embed_mode: ``"dino"`` (default) or ``"timm"``, how ``pos_embed`` is interpolated.
    """

    def __init__(
        self,
        *,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        pos_embed_mode: str = "dino",
    ) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"img_size ({img_size}) must be a multiple of patch_size "
                             f"({patch_size})")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if pos_embed_mode not in POS_EMBED_MODES:
            raise ValueError(f"pos_embed_mode must be one of {POS_EMBED_MODES}, got "
                             f"{pos_embed_mode!r}")
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.pos_embed_mode = pos_embed_mode
        self.grid_size = (img_size // patch_size, img_size // patch_size)  # the grid of pos_embed
        self.patch_embed = PatchEmbed(patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid_size[0] * self.grid_size[1],
                                                  embed_dim))
        # as torch.linspace(0, rate, depth)
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                  drop_path=rate)
            for rate in rates
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        """DINO's initialisation (see the module docstring)."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def patch_grid(self, x: torch.Tensor) -> tuple[int, int]:
        """The patch grid ``(h, w) = (H / p, W / p)`` of images ``x (B, C, H, W)``.

        Raises ``TypeError``/``ValueError`` for a non-float tensor, a wrong shape or a size that is
        not a multiple of the patch size.
        """
        return self.patch_embed.grid_size(x)

    def prepare_tokens(self, x: torch.Tensor, *, mask: torch.Tensor | None = None,
                       mask_token: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> input tokens of the first block ``(B, 1 + N, D)``.

        ``mask`` ``(B, h, w)`` bool with ``mask_token`` ``(D,)``: masked image modelling (iBOT,
        :mod:`segedu.models.foundation.dino.ibot`), the patch tokens where ``mask`` is True are
        replaced by ``mask_token`` before the positional embeddings are added.
        """
        grid = self.patch_grid(x)
        # 1. patch tokens (B, N, D)
        tokens = self.patch_embed(x)
        # 1b. masked patches: the (learned) mask token instead of the patch's content
        if mask is not None:
            if mask_token is None or mask.shape != (x.shape[0], *grid) or mask.dtype != torch.bool:
                raise ValueError(f"mask must be a bool (B, h, w) = {(x.shape[0], *grid)} tensor "
                                 "given with a "
                                 f"mask_token, got {tuple(mask.shape)} {mask.dtype} and "
                                 f"mask_token={mask_token is not None}")
            tokens = torch.where(mask.flatten(1).unsqueeze(-1), mask_token.to(tokens.dtype), tokens)
        # 2. the class token in front: (B, 1 + N, D)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], dim=1)
        # 3. add the positional embeddings, interpolated to this image's patch grid
        pos = interpolate_pos_embed(self.pos_embed, grid, old_grid_size=self.grid_size,
                                    mode=self.pos_embed_mode)
        return tokens + pos

    def forward_features(self, x: torch.Tensor, *, mask: torch.Tensor | None = None,
                         mask_token: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> final normalised tokens ``(B, 1 + N, D)``, as timm's
        ``forward_features`` (``mask``, ``mask_token``: see :meth:`prepare_tokens`)."""
        x = self.prepare_tokens(x, mask=mask, mask_token=mask_token)
        # the transformer blocks, then the final LayerNorm
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> the normalised class token ``(B, D)`` (DINO's
        image embedding)."""
        return self.forward_features(x)[:, 0]

    def get_last_selfattention(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's attention maps ``(B, heads, 1 + N, 1 + N)``, as DINO's method.

        Row 0 of each head, ``[:, :, 0, 1:]`` reshaped to the patch grid, is the class token's
        attention over the patches, DINO's famous figure.
        """
        x = self.prepare_tokens(x)
        # every block but the last as usual
        for block in self.blocks[:-1]:
            x = block(x)
        # the last block's attention, computed on its normalised input
        _, attention = self.blocks[-1](x, return_attention=True)
        return attention

    def get_last_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values of the last block's attention, each
        ``(B, heads, 1 + N, D / heads)``."""
        x = self.prepare_tokens(x)
        for block in self.blocks[:-1]:
            x = block(x)
        last = self.blocks[-1]
        return last.attn.qkv_heads(last.norm1(x))

    def get_intermediate_layers(self, x: torch.Tensor, n: int = 1, *,
                                norm: bool = True) -> list[torch.Tensor]:
        """The outputs of the last ``n`` blocks, in order, each ``(B, 1 + N, D)``.

        As DINO's method (used for its linear evaluation), each output goes through the final
        ``norm`` unless ``norm=False``.
        """
        depth = len(self.blocks)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= depth:
            raise ValueError(f"n must be an integer in 1..{depth} (the number of blocks), got "
                             f"{n!r}")
        x = self.prepare_tokens(x)
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i >= depth - n:  # one of the last n blocks
                outputs.append(self.norm(x) if norm else x)
        return outputs
