r"""The DINOv2 backbone: a ViT with LayerScale, optional registers, and a final LayerNorm.

Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision", TMLR 2024,
https://arxiv.org/abs/2304.07193; registers: Darcet et al., "Vision Transformers Need Registers",
ICLR 2024, https://arxiv.org/abs/2309.16588.

Forward pass (:meth:`Dinov2.forward_features`)::

    images (B, 3, H, W), H and W multiples of p = 14
      -> embeddings     class token, R registers, patch tokens + positions   (B, 1 + R + N, D)
      -> blocks x depth pre-norm attention and MLP, each scaled by LayerScale (block.py)
      -> norm           final LayerNorm: the "final normalised tokens"       (B, 1 + R + N, D)

:meth:`~Dinov2.forward` returns the normalised class token ``(B, D)``. These are transformers'
``Dinov2Model`` / ``Dinov2WithRegistersModel`` outputs ``last_hidden_state`` and ``pooler_output``
(proven equal in ``tests/models/foundation/dinov2``, with the state dict converted by
:mod:`.convert`). :meth:`~Dinov2.patch_tokens` gives the patch tokens on their grid
``(B, h, w, D)``, the dense features a linear probe reads (:mod:`.linear_probe`).

Inputs are images normalised with the ImageNet mean and standard deviation
(:data:`segedu.data.IMAGENET_MEAN`, :data:`segedu.data.IMAGENET_STD`), as transformers'
``BitImageProcessor`` does for the published models. Initialisation is DINOv2's for a random
model: ``trunc_normal_(std=0.02)`` for the positions and the linear weights, zero biases,
``normal_(std=1e-6)`` for the class and register tokens, a zero mask token.
"""

from __future__ import annotations

import torch
from torch import nn

from .block import Dinov2Block
from .embeddings import Dinov2Embeddings

__all__ = ["Dinov2"]


class Dinov2(nn.Module):
    """DINOv2 ViT: images ``(B, C, H, W)`` -> tokens ``(B, 1 + R + N, D)`` (class, registers,
    patches).

    Args:
        img_size: training image side (518), which fixes the positional grid (37 x 37).
        patch_size: ``p`` (14).
        in_chans: image channels.
        embed_dim: token dimension ``D``.
        depth: number of blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden size as a multiple of ``D``.
        layerscale_init: initial LayerScale gains of a random model.
        swiglu: SwiGLU feed-forward networks (ViT-g) instead of GELU MLPs.
        num_register_tokens: ``R`` (0: plain DINOv2; 4: "with registers").
        antialias: interpolate positions with the anti-aliased bicubic kernel; ``None`` (default)
            does what transformers does: anti-aliased with registers, plain without.
        drop_path_rate: stochastic depth of every block (DINOv2 uses one rate for all blocks).
    """

    def __init__(
        self, *, img_size: int = 518, patch_size: int = 14, in_chans: int = 3,
        embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
        layerscale_init: float = 1e-5, swiglu: bool = False, num_register_tokens: int = 0,
        antialias: bool | None = None, drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.num_register_tokens = num_register_tokens
        self.embeddings = Dinov2Embeddings(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim,
            num_register_tokens=num_register_tokens,
            antialias=num_register_tokens > 0 if antialias is None else antialias,
        )
        self.blocks = nn.ModuleList(
            Dinov2Block(dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio,
                        layerscale_init=layerscale_init, swiglu=swiglu, drop_path=drop_path_rate)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        """DINOv2's initialisation (see the module docstring)."""
        nn.init.normal_(self.embeddings.cls_token, std=1e-6)
        if self.embeddings.register_tokens is not None:
            nn.init.normal_(self.embeddings.register_tokens, std=1e-6)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    @property
    def num_prefix_tokens(self) -> int:
        """Tokens in front of the patches: the class token and the registers, ``1 + R``."""
        return self.embeddings.num_prefix_tokens

    def patch_grid(self, x: torch.Tensor) -> tuple[int, int]:
        """The patch grid ``(H / p, W / p)`` of images ``x (B, C, H, W)``; ``TypeError`` or
        ``ValueError`` for a non-float tensor, a wrong shape or a size not a multiple of ``p``."""
        return self.embeddings.patch_grid(x)

    def forward_features(self, x: torch.Tensor, *,
                         mask: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> final normalised tokens ``(B, 1 + R + N, D)``
        (transformers' ``last_hidden_state``); ``mask`` ``(B, h, w)`` bool: the patches replaced
        by the mask token."""
        return self.get_intermediate_layers(x, 1, mask=mask)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> the normalised class token ``(B, D)`` (transformers'
        ``pooler_output``)."""
        return self.forward_features(x)[:, 0]

    def get_intermediate_layers(self, x: torch.Tensor, n: int = 1, *, norm: bool = True,
                                mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The outputs of the last ``n`` blocks, in order, each ``(B, 1 + R + N, D)``, each
        through the final ``norm`` unless ``norm=False`` (as DINO's and DINOv2's method; the
        linear evaluation of DINOv2 reads the last 4)."""
        depth = len(self.blocks)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= depth:
            raise ValueError(f"n must be an integer in 1..{depth} (the number of blocks), got "
                             f"{n!r}")
        # 1. class token, registers and patch tokens with their positions
        tokens = self.embeddings(x, mask=mask)
        outputs = []
        # 2. the blocks; keep (the normalised) outputs of the last n
        for i, block in enumerate(self.blocks):
            tokens = block(tokens)
            if i >= depth - n:
                outputs.append(self.norm(tokens) if norm else tokens)
        return outputs

    def patch_tokens(self, x: torch.Tensor, n: int = 1) -> torch.Tensor:
        """Normalised patch tokens on their grid, ``(B, h, w, n D)``: the last ``n`` blocks'
        outputs (class token and registers dropped) concatenated channel-wise, oldest first."""
        h, w = self.patch_grid(x)
        layers = self.get_intermediate_layers(x, n)
        patches = torch.cat([t[:, self.num_prefix_tokens:] for t in layers], dim=-1)
        return patches.reshape(x.shape[0], h, w, -1)
