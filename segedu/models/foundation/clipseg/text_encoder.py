r"""CLIP's text encoder: token ids -> one embedding per prompt.

Radford et al., ICML 2021 (Sec. 2.4): a GPT-2-style transformer over byte-pair-encoded text::

    input_ids (B, L)
      -> token_embedding + position_embedding        (B, L, D)
      -> CLIPLayer x depth, causal mask              each token reads itself and the tokens
                                                     before it (and no padding)
      -> final_norm                                  LayerNorm
      -> pool: the token at the end-of-text position (B, D)
      -> projection                                  (B, P), no bias: the joint image-text space

The *causal* mask is a leftover of CLIP's language-model origins (it keeps the option of a
language-modelling objective open): token ``i`` attends only to tokens ``j <= i``. So the last
token, end-of-text, is the only one that has read the whole prompt, and its output is the
prompt's embedding ("EOS pooling").

**Which position is end-of-text.** OpenAI's CLIP takes ``input_ids.argmax(-1)``: its
end-of-text token has the highest id of the vocabulary (49407). ``transformers`` does the same for
configurations that say ``eos_token_id == 2`` (the value that configurations written before its
PR #24773 carry, as its code comment explains), and otherwise takes the first position that holds
``eos_token_id``. Both rules are here: ``eos_token_id=None`` is the argmax rule, an integer the
first-occurrence rule. For CLIP's tokenizer they pick the same position.

**Tokens.** This module takes token ids; it does not tokenize. The official weights need CLIP's
byte-pair tokenizer, which ``transformers`` provides (:func:`.tokenizer.clip_tokenize`); the
zoo's tiny model uses a toy word vocabulary (:mod:`.vocabulary`). Padding must be on the right
(``attention_mask`` 1 for the real tokens, then 0), as both give it.
"""

from __future__ import annotations

import torch
from torch import nn

from .clip_layer import CLIPLayer

__all__ = ["CLIPTextEncoder", "causal_mask"]


def causal_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """``attention_mask (B, L)`` (1 for a real token, 0 for padding) -> bool ``(B, 1, L, L)``,
    True where query ``i`` may read key ``j``: ``j <= i`` and ``j`` is a real token."""
    length = attention_mask.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=attention_mask.device).tril()
    return causal[None, None] & attention_mask.bool()[:, None, None, :]


class CLIPTextEncoder(nn.Module):
    """Token ids ``(B, L)`` -> prompt embeddings ``(B, P)`` (see the module docstring).

    Args (keyword-only):
        vocab_size: number of token ids.
        context_length: the longest prompt ``L`` (77 in CLIP): the number of position embeddings.
        width: token width ``D``; depth: layers; num_heads: attention heads; mlp_dim: MLP width.
        embed_dim: ``P``, the width of the joint image-text space.
        eos_token_id: ``None`` (the end-of-text token is the highest id: argmax) or its id.
        eps: LayerNorm's epsilon.
    """

    def __init__(self, *, vocab_size: int = 49408, context_length: int = 77, width: int = 512,
                 depth: int = 12, num_heads: int = 8, mlp_dim: int = 2048, embed_dim: int = 512,
                 eos_token_id: int | None = None, eps: float = 1e-5) -> None:
        super().__init__()
        self.context_length = context_length
        self.eos_token_id = eos_token_id
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Parameter(torch.empty(context_length, width))
        self.layers = nn.ModuleList(CLIPLayer(dim=width, num_heads=num_heads, mlp_dim=mlp_dim,
                                              eps=eps) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width, eps=eps)
        self.projection = nn.Linear(width, embed_dim, bias=False)
        nn.init.normal_(self.token_embedding.weight, std=0.02)  # CLIP's initialisation
        nn.init.normal_(self.position_embedding, std=0.01)

    def check(self, input_ids: object, attention_mask: object) -> torch.Tensor:
        """Check the ids ``(B, L)`` and the mask; return the mask (all ones when ``None``)."""
        if not isinstance(input_ids, torch.Tensor) or input_ids.dtype not in (torch.int64,
                                                                              torch.int32):
            raise TypeError("input_ids must be an int64 (or int32) tensor (B, L) of token ids, "
                            f"got {getattr(input_ids, 'dtype', type(input_ids).__name__)}")
        if input_ids.ndim != 2 or not 1 <= input_ids.shape[1] <= self.context_length:
            raise ValueError(f"input_ids must have shape (B, L) with 1 <= L <= "
                             f"{self.context_length}, got {tuple(input_ids.shape)}")
        vocab = self.token_embedding.num_embeddings
        if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= vocab):
            raise ValueError(f"token ids must be in 0..{vocab - 1}, got "
                             f"{int(input_ids.min())}..{int(input_ids.max())}")
        if attention_mask is None:
            return torch.ones_like(input_ids)
        if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != input_ids.shape:
            raise ValueError(f"attention_mask must be a tensor of input_ids' shape "
                             f"{tuple(input_ids.shape)}, got "
                             f"{tuple(getattr(attention_mask, 'shape', ()))}")
        if not bool((attention_mask[:, 0] != 0).all()):
            raise ValueError("attention_mask must start with a real token (1) in every row: "
                             "pad on the right")
        return attention_mask

    def end_of_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The position ``(B,)`` of each prompt's end-of-text token (module docstring)."""
        if self.eos_token_id is None:
            return input_ids.argmax(dim=-1)
        is_eos = input_ids == self.eos_token_id
        if not bool(is_eos.any(dim=-1).all()):
            raise ValueError(f"every prompt must contain the end-of-text token "
                             f"{self.eos_token_id}")
        return is_eos.int().argmax(dim=-1)  # the first occurrence

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        attention_mask = self.check(input_ids, attention_mask)
        length = input_ids.shape[1]
        # 1. token and position embeddings: (B, L, D)
        x = self.token_embedding(input_ids) + self.position_embedding[:length]
        # 2. the layers, each token reading only itself and the real tokens before it
        mask = causal_mask(attention_mask)
        for layer in self.layers:
            x = layer(x, mask=mask)
        x = self.final_norm(x)
        # 3. the end-of-text token has read the whole prompt: it is the prompt's summary (B, D)
        pooled = x[torch.arange(x.shape[0], device=x.device), self.end_of_text(input_ids)]
        # 4. into the joint image-text space: (B, P)
        return self.projection(pooled)
