r"""CLIPSeg's decoder: a few CLIP activations, conditioned on the prompt, become a mask.

Lüddecke & Ecker, "Image Segmentation Using Text and Image Prompts", CVPR 2022 (Sec. 3, Fig. 2).
CLIP stays frozen; only this decoder (about 1 M weights at ``reduce_dim=64``) is trained. With
the activations :math:`a_3, a_6, a_9` of three of CLIP's image layers (``(B, 1 + N, 768)`` each)
and the prompt's embedding :math:`c` (``(B, 512)``)::

    x = reduce_0(a_9)                       # the deepest first; linear 768 -> 64 per token
    x = FiLM(x, c)                          # the prompt scales and shifts every channel
    x = layer_0(x)                          # a transformer layer (post-norm, ReLU MLP)
    x = layer_1(x + reduce_1(a_6))          # each shallower activation joins by addition
    x = layer_2(x + reduce_2(a_3))
    x -> drop the class token -> (B, 64, h, w) -> up-sampling -> logits (B, H, W)

The transformer layers are post-norm layers with a ReLU MLP, PyTorch's
``nn.TransformerEncoderLayer`` in the original code: exactly the
:class:`~segedu.nn.transformer_layers.SelfAttentionLayer` of DETR and Mask2Former (without a
position code: the position is already in CLIP's tokens) followed by their ``FFNLayer``.

Up-sampling from the patch grid to the image: one transposed convolution with kernel and stride
``p`` (``rd64``), or, for the *refined* checkpoint (``use_complex_transposed_convolution`` in
``transformers``), a 3 x 3 convolution and two transposed convolutions of kernel and stride
``p / 4`` with ReLUs between them: a factor ``(p / 4)^2`` in two steps, with more capacity. That
is ``p`` for CLIP's 16-pixel patches, and only for them (8-pixel patches would give masks at half
the image's size, in ``transformers`` as here): a model with other patches should use the plain
up-sampling.

The reference reshapes the tokens into a square grid (``sqrt(N)`` per side); here the image's grid
``(h, w)`` is passed in, so non-square images work as well (the same numbers on square ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ....nn.transformer_layers import FFNLayer, SelfAttentionLayer
from .film import FiLM

__all__ = ["CLIPSegDecoderLayer", "CLIPSegDecoder", "upsampling"]


class CLIPSegDecoderLayer(nn.Module):
    """``x = LN(x + MHA(x)); x = LN(x + MLP(x))``: ``(B, T, D) -> (B, T, D)``."""

    def __init__(self, *, dim: int, num_heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.self_attention = SelfAttentionLayer(dim=dim, num_heads=num_heads)
        self.ffn = FFNLayer(dim=dim, ffn_dim=mlp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.self_attention(x, None))


def upsampling(*, dim: int, patch_size: int, refined: bool) -> nn.Module:
    """``(B, dim, h, w)`` -> ``(B, 1, p h, p w)`` logits (module docstring)."""
    if not refined:
        return nn.ConvTranspose2d(dim, 1, kernel_size=patch_size, stride=patch_size)
    if patch_size % 4:
        raise ValueError(f"the refined up-sampling needs a patch size divisible by 4, got "
                         f"{patch_size}")
    step = patch_size // 4
    return nn.Sequential(
        nn.Conv2d(dim, dim, kernel_size=3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(dim, dim // 2, kernel_size=step, stride=step), nn.ReLU(),
        nn.ConvTranspose2d(dim // 2, 1, kernel_size=step, stride=step),
    )


class CLIPSegDecoder(nn.Module):
    """Activations and a prompt embedding -> mask logits (module docstring).

    Args (keyword-only):
        width: ``D``, the token width of the image encoder.
        condition_dim: ``P``, the width of the prompt embedding.
        num_layers: how many activations are extracted (one reduction and one layer each).
        reduce_dim: the decoder's width (64 in ``rd64``).
        num_heads: attention heads of the decoder layers (4).
        mlp_dim: MLP width of the decoder layers (2048, PyTorch's default in the original).
        patch_size: ``p``, the up-sampling factor.
        refined: the refined (two-step) up-sampling.
        conditional_layer: before which layer FiLM applies (0: the first).
    """

    def __init__(self, *, width: int = 768, condition_dim: int = 512, num_layers: int = 3,
                 reduce_dim: int = 64, num_heads: int = 4, mlp_dim: int = 2048,
                 patch_size: int = 16, refined: bool = False, conditional_layer: int = 0) -> None:
        super().__init__()
        if not 0 <= conditional_layer < num_layers:
            raise ValueError(f"conditional_layer must be in 0..{num_layers - 1}, got "
                             f"{conditional_layer}")
        self.conditional_layer = conditional_layer
        self.film = FiLM(condition_dim=condition_dim, dim=reduce_dim)
        self.reduces = nn.ModuleList(nn.Linear(width, reduce_dim) for _ in range(num_layers))
        self.layers = nn.ModuleList(
            CLIPSegDecoderLayer(dim=reduce_dim, num_heads=num_heads, mlp_dim=mlp_dim)
            for _ in range(num_layers))
        self.upsample = upsampling(dim=reduce_dim, patch_size=patch_size, refined=refined)

    def forward(self, activations: Sequence[torch.Tensor], condition: torch.Tensor,
                grid: tuple[int, int]) -> torch.Tensor:
        """``activations``: the extracted layers' tokens ``(B, 1 + h w, D)``, shallowest first;
        ``condition (B, P)``; ``grid = (h, w)`` -> logits ``(B, p h, p w)``."""
        if len(activations) != len(self.layers):
            raise ValueError(f"the decoder takes {len(self.layers)} activations, got "
                             f"{len(activations)}")
        x = None
        # the deepest activation first, each shallower one added before the next layer
        for i, (activation, reduce, layer) in enumerate(
                zip(reversed(activations), self.reduces, self.layers, strict=True)):
            # 1. reduce the CLIP tokens to the decoder's width and join them: (B, 1 + N, R)
            x = reduce(activation) if x is None else x + reduce(activation)
            # 2. the prompt modulates the channels (once)
            if i == self.conditional_layer:
                x = self.film(x, condition)
            # 3. a transformer layer
            x = layer(x)
        # 4. drop the class token, tokens back onto the patch grid: (B, R, h, w)
        b, n, r = x.shape
        h, w = grid
        if n != 1 + h * w:
            raise ValueError(f"activations have {n} tokens, the grid {grid} needs {1 + h * w}")
        x = x[:, 1:].transpose(1, 2).reshape(b, r, h, w)
        # 5. up-sample to the image: (B, 1, p h, p w) -> (B, p h, p w)
        return self.upsample(x)[:, 0]
