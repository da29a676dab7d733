"""SAM's image encoder: a plain ViT with windowed and global attention and a convolutional neck
(Kirillov et al., "Segment Anything", ICCV 2023, section 3 and appendix A; the backbone is
ViTDet's, Li et al., ECCV 2022).

::

    image (B, 3, 1024, 1024)
      -> patch embedding: a 16 x 16 convolution with stride 16     (B, 64, 64, D)
      -> + absolute position embedding (learned, one per token)
      -> depth x Block: pre-norm multi-head attention (windowed 14 x 14, or global in the
         blocks listed in ``global_attn_indexes``), decomposed relative positions, then an MLP
      -> neck: 1 x 1 conv to out_chans, LayerNorm2d, 3 x 3 conv, LayerNorm2d
    image embedding (B, 256, 64, 64)

The tokens stay on a ``(B, H, W, D)`` grid throughout (channels last), which the window
partition and the relative positions need. The encoder runs once per image; prompts are then
answered from its embedding by the light prompt encoder and mask decoder.

Module and parameter names are those of segment-anything's ``ImageEncoderViT`` (``patch_embed``,
``pos_embed``, ``blocks.i.attn.qkv``, ``rel_pos_h``, ``neck``, ...), so official checkpoints load
directly, and every operation is done in the same order, which makes the outputs agree to float
rounding (tested). As in segment-anything, ``pos_embed`` and the relative position tables start
at zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import nn

from ....nn.layer_norm_2d import LayerNorm2d
from ....nn.mlp_block import MLPBlock
from .relative_position import add_decomposed_rel_pos
from .windows import window_partition, window_unpartition

__all__ = ["ImageEncoderViT", "Block", "Attention", "PatchEmbed"]


class PatchEmbed(nn.Module):
    """Cut the image into ``patch_size`` squares and project each to ``embed_dim``: one strided
    convolution, ``(B, C, H, W)`` -> ``(B, H / p, W / p, embed_dim)`` (channels last)."""

    def __init__(self, *, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class Attention(nn.Module):
    """Multi-head self-attention over a grid of tokens ``(B, H, W, dim)`` -> ``(B, H, W, dim)``,
    with decomposed relative position biases when ``use_rel_pos`` (tables sized for
    ``input_size``: the window, or the whole grid for a global block)."""

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        use_rel_pos: bool = False,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide dim ({dim})")
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            if input_size is None:
                raise ValueError("input_size is needed for relative position embeddings")
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        # project to queries, keys, values: (3, B * heads, H * W, head_dim)
        qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * self.num_heads, h * w, -1).unbind(0)
        # scaled dot-product logits (B * heads, HW, HW)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        # relative position bias (computed from the unscaled queries)
        if self.use_rel_pos:
            attn = add_decomposed_rel_pos(attn, q, self.rel_pos_h, self.rel_pos_w, (h, w), (h, w))
        # softmax over the keys, weighted sum of values, heads back together, output projection
        attn = attn.softmax(dim=-1)
        x = (attn @ v).view(b, self.num_heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
        return self.proj(x)


class Block(nn.Module):
    """Pre-norm transformer block on ``(B, H, W, dim)``: ``x + attn(norm1(x))`` then
    ``x + mlp(norm2(x))``, the attention windowed when ``window_size > 0``, global when 0."""

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        norm_layer: type[nn.Module] | partial = nn.LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
        use_rel_pos: bool = False,
        window_size: int = 0,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(
            dim=dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            use_rel_pos=use_rel_pos,
            input_size=input_size if window_size == 0 else (window_size, window_size),
        )
        self.norm2 = norm_layer(dim)
        self.mlp = MLPBlock(embedding_dim=dim, mlp_dim=int(dim * mlp_ratio), act=act_layer)
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        # windowed block: cut the grid into windows, which become extra batch entries
        if self.window_size > 0:
            h, w = x.shape[1], x.shape[2]
            x, pad_hw = window_partition(x, self.window_size)
        x = self.attn(x)
        # put the windows back together and drop the padding
        if self.window_size > 0:
            x = window_unpartition(x, self.window_size, pad_hw, (h, w))
        # residual connections around the attention and the MLP
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class ImageEncoderViT(nn.Module):
    """ViT image encoder (module docstring): ``(B, in_chans, img_size, img_size)`` ->
    ``(B, out_chans, img_size / patch_size, img_size / patch_size)``.

    Args (keyword-only):
        img_size: side of the square input (1024 in SAM); images are padded to it.
        patch_size: side of a patch (16).
        in_chans: image channels (3).
        embed_dim: token width ``D`` (768 / 1024 / 1280 for ViT-B / L / H).
        depth: number of blocks (12 / 24 / 32).
        num_heads: attention heads (12 / 16 / 16).
        mlp_ratio: MLP hidden width / ``D`` (4).
        out_chans: channels of the image embedding (256, the prompt embedding width).
        qkv_bias: biases in the query/key/value projection.
        norm_layer: the token normalisation (SAM: ``LayerNorm`` with ``eps=1e-6``).
        act_layer: the MLP activation (GELU).
        use_abs_pos: learn an absolute position embedding per token.
        use_rel_pos: decomposed relative position biases in every attention.
        window_size: window side of the windowed blocks (14); 0 makes every block global.
        global_attn_indexes: the blocks with global attention (ViT-B: 2, 5, 8, 11).
    """

    def __init__(
        self,
        *,
        img_size: int = 1024,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        out_chans: int = 256,
        qkv_bias: bool = True,
        norm_layer: type[nn.Module] | partial = nn.LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
        use_abs_pos: bool = True,
        use_rel_pos: bool = False,
        window_size: int = 0,
        global_attn_indexes: Sequence[int] = (),
    ) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(
                f"img_size ({img_size}) must be a multiple of patch_size ({patch_size})"
            )
        self.img_size = img_size
        grid = img_size // patch_size
        self.patch_embed = PatchEmbed(patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim)
        self.pos_embed: nn.Parameter | None = None
        if use_abs_pos:  # one learned vector per token of the pretraining grid
            self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim))
        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                norm_layer=norm_layer,
                act_layer=act_layer,
                use_rel_pos=use_rel_pos,
                window_size=0 if i in global_attn_indexes else window_size,
                input_size=(grid, grid),
            )
            for i in range(depth)
        )
        # the neck: project to out_chans and mix neighbours, each followed by a LayerNorm2d
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(num_channels=out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(num_channels=out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, in_chans, img_size, img_size)`` (normalised, padded) ->
        ``(B, out_chans, h, w)``."""
        # patches to tokens on a grid (B, h, w, D)
        x = self.patch_embed(x)
        # absolute position embedding
        if self.pos_embed is not None:
            x = x + self.pos_embed
        # transformer blocks (windowed or global)
        for block in self.blocks:
            x = block(x)
        # neck on the channels-first map
        return self.neck(x.permute(0, 3, 1, 2))
