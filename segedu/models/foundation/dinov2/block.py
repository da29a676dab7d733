r"""The DINOv2 transformer block: ViT's pre-norm block with LayerScale on both branches.

Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision", TMLR 2024,
https://arxiv.org/abs/2304.07193; https://github.com/facebookresearch/dinov2
(``dinov2/layers/block.py``). For tokens ``x (B, N, D)``::

    x = x + ls1(attn(norm1(x)))     multi-head self-attention, scaled per channel (LayerScale)
    x = x + ls2(mlp(norm2(x)))      GELU MLP (or SwiGLU in ViT-g), scaled per channel

The attention and the GELU MLP are ViT's (:mod:`segedu.nn.vit`: one fused ``qkv`` projection,
``proj``, ``fc1``/``fc2``); what DINOv2 adds is :class:`~.layer_scale.LayerScale` (``ls1``,
``ls2``) and, for the giant model, :class:`~.swiglu.SwiGLUFFN`. LayerNorm has ``eps=1e-6``.
Parameter names are DINOv2's (``norm1``, ``attn.qkv``, ``attn.proj``, ``ls1.gamma``, ``norm2``,
``mlp.fc1``, ``mlp.fc2`` or ``mlp.w12``, ``mlp.w3``, ``ls2.gamma``); :mod:`.convert` maps
transformers' ``Dinov2Layer`` onto them (its separate ``q_proj``, ``k_proj``, ``v_proj`` are
stacked into ``qkv``). transformers' ``EomtLayer`` is the same block, run with an attention mask
in its last layers.
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.vit import Attention, DropPath, Mlp
from .layer_scale import LayerScale
from .swiglu import SwiGLUFFN

__all__ = ["Dinov2Block"]


class Dinov2Block(nn.Module):
    """Tokens ``(B, N, D)`` -> ``(B, N, D)``; optionally also the attention ``(B, H, N, N)``.

    Args:
        dim: token dimension ``D``.
        num_heads: attention heads ``H`` (``D`` must be a multiple of it).
        mlp_ratio: hidden size of the MLP as a multiple of ``D`` (4 in DINOv2; SwiGLU derives its
            own hidden size from it, see :func:`~.swiglu.swiglu_hidden_features`).
        layerscale_init: initial value of the LayerScale gains (1e-5 in DINOv2's training; the
            published weights carry the learnt gains).
        swiglu: SwiGLU feed-forward network (ViT-g) instead of the GELU MLP.
        qkv_bias: bias of the query/key/value projection (True in DINOv2).
        drop_path: stochastic-depth probability of both residual branches.
        eps: the LayerNorms' epsilon.
    """

    def __init__(
        self, *, dim: int, num_heads: int, mlp_ratio: float = 4.0, layerscale_init: float = 1e-5,
        swiglu: bool = False, qkv_bias: bool = True, drop_path: float = 0.0, eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim=dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.ls1 = LayerScale(dim=dim, init_value=layerscale_init)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = (SwiGLUFFN(dim=dim, mlp_ratio=mlp_ratio) if swiglu
                    else Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio)))
        self.ls2 = LayerScale(dim=dim, init_value=layerscale_init)
        self.drop_path = DropPath(p=drop_path)

    def forward(
        self, x: torch.Tensor, *, attention_mask: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``attention_mask`` (optional) broadcasts to ``(B, H, N, N)``: bool (True = may attend)
        or float (added to the logits), as :class:`segedu.nn.vit.Attention` takes it."""
        if x.ndim != 3 or x.shape[-1] != self.norm1.normalized_shape[0]:
            raise ValueError(f"tokens must have shape (B, N, {self.norm1.normalized_shape[0]}), "
                             f"got {tuple(x.shape)}")
        # 1. attention on the normalised tokens, scaled per channel, added to the residual stream
        y, attention = self.attn(self.norm1(x), return_attention=True,
                                 attention_mask=attention_mask)
        x = x + self.drop_path(self.ls1(y))
        # 2. feed-forward network on the normalised tokens, scaled, added to the residual stream
        x = x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))
        return (x, attention) if return_attention else x
