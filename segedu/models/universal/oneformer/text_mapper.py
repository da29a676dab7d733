r"""OneFormer's text mapper: the training-time text list of an image -> text queries ``Q_text``.

OneFormer (Jain et al., CVPR 2023, section 3.3) makes the queries tell tasks and classes apart
with a contrastive loss against text. For each training image the data pipeline writes a
**text list** of ``T = Q - N_ctx`` entries: ``"a photo with a {class}"`` for every ground-truth
segment of the drawn task (per class for semantic, per thing instance for instance, per segment
for panoptic), grouped by class in the dataset's class order, then ``"a semantic photo"``,
``"an instance photo"`` or ``"a panoptic photo"`` repeated to fill the list (the original's
``OneFormerUnifiedDatasetMapper``; ``transformers``' image processor writes "an panoptic
photo"). The text mapper encodes it::

    text ids (B, T, L)
      -> text encoder, each text alone        (B T, W)     (:mod:`.text_encoder`)
      -> projector MLP W -> C -> C            (B, T, C)
      -> + N_ctx learned context vectors      (B, T + N_ctx, C) = (B, Q, C)   Q_text

The ``N_ctx`` context vectors (``prompt_ctx``, 16) are learned text entries shared by all images
(a learned prompt, as CoOp's). ``Q_text`` is compared with the queries by
:mod:`.contrastive_loss`; at inference the mapper is not run and may be left out of the model.

Relation to ``transformers``' ``OneFormerTextMapper``: the same parameters (``text_encoder``,
``text_projector.layers.{j}``, ``prompt_ctx``) and arithmetic. The context vectors have the text
encoder's width but are concatenated to the projected texts, of the query width, so the two
widths must be equal when ``N_ctx > 0`` (256 and 256 in every published model).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ....nn.mlp import MLP
from .text_encoder import TextEncoder

__all__ = ["TextMapper", "text_list"]


def text_list(labels: Sequence[int], *, class_names: Sequence[str], task: str,
              num_texts: int) -> list[str]:
    """The text list of one image (the original's): ``"a photo with a {name}"`` for each of its
    target segments, whose class indices are ``labels``, grouped by class in the order of
    ``class_names``; then the task's filler (``"a semantic photo"``, ``"an instance photo"``,
    ``"a panoptic photo"``) up to ``num_texts`` entries; segments beyond ``num_texts`` are
    dropped."""
    filler = {"semantic": "a semantic photo", "instance": "an instance photo",
              "panoptic": "a panoptic photo"}
    if task not in filler:
        raise ValueError(f"task must be one of {tuple(filler)}, got {task!r}")
    labels = [int(c) for c in labels]
    if any(not 0 <= c < len(class_names) for c in labels):
        raise ValueError(f"labels must index class_names (0 .. {len(class_names) - 1}), got "
                         f"{labels}")
    texts = [f"a photo with a {class_names[c]}" for c in sorted(labels)][:num_texts]
    return texts + [filler[task]] * (num_texts - len(texts))


class TextMapper(nn.Module):
    """Text ids ``(B, T, L)`` -> text queries ``(B, T + N_ctx, C)`` (module docstring).

    Args (keyword-only):
        dim: ``C``, the query width.
        width: ``W``, the text encoder's width (must equal ``C`` when ``num_ctx > 0``).
        context_length: ``L`` (77).
        num_layers: text encoder layers (6).
        vocab_size: 49,408 (CLIP's).
        proj_layers: layers of the projector MLP (2).
        num_ctx: ``N_ctx``, learned context entries (16; 0 for none).
        causal: the text encoder's causal mask (the original; ``False`` for ``transformers``'
            port, see :mod:`.text_encoder`).
    """

    def __init__(self, *, dim: int = 256, width: int = 256, context_length: int = 77,
                 num_layers: int = 6, vocab_size: int = 49408, proj_layers: int = 2,
                 num_ctx: int = 16, causal: bool = True) -> None:
        super().__init__()
        if num_ctx > 0 and width != dim:
            raise ValueError(f"the context entries (width {width}) join the projected texts "
                             f"(width {dim}): they must be equal when num_ctx > 0")
        self.text_encoder = TextEncoder(context_length=context_length, width=width,
                                        num_layers=num_layers, vocab_size=vocab_size,
                                        causal=causal)
        self.text_projector = MLP(input_dim=width, hidden_dim=dim, output_dim=dim,
                                  num_layers=proj_layers)
        self.prompt_ctx = nn.Embedding(num_ctx, width) if num_ctx > 0 else None

    def forward(self, text_ids: torch.Tensor) -> torch.Tensor:
        if text_ids.ndim != 3:
            raise ValueError(f"text ids must be (B, T, L), got {tuple(text_ids.shape)}")
        batch, num_texts, length = text_ids.shape
        # 1. encode every text on its own, then project it to the query width: (B, T, C)
        encoded = self.text_encoder(text_ids.reshape(batch * num_texts, length))
        queries = self.text_projector(encoded).reshape(batch, num_texts, -1)
        # 2. append the learned context entries, the same for every image: (B, T + N_ctx, C)
        if self.prompt_ctx is not None:
            context = self.prompt_ctx.weight.unsqueeze(0).expand(batch, -1, -1)
            queries = torch.cat([queries, context], dim=1)
        return queries
