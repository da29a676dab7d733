r"""The text that OneFormer reads, as CLIP token ids: the task prompt and the training-time text
list.

OneFormer (Jain, Li, Chiu, Hassani, Orlov & Shi, "OneFormer: One Transformer to Rule Universal
Image Segmentation", CVPR 2023) tokenises its texts with CLIP's lower-cased byte-pair encoding
(Radford et al. 2021; 49,408 tokens): ``<|startoftext|>`` (49406), the words' tokens,
``<|endoftext|>`` (49407), then **zeros** up to a fixed length (77). The original's ``Tokenize``
pads with zeros; ``transformers``' ``OneFormerProcessor`` pads with ``<|endoftext|>`` and then
multiplies by the attention mask, which gives the same zeros. A text longer than the length is cut
and its last id made ``<|endoftext|>``, as both do.

CLIP's vocabulary and merges (1.3 MB) do not ship with segedu and tests never download, so this
module holds the byte-pair tokens of the few words that OneFormer's prompts and segedu's synthetic
scenes use (:data:`CLIP_WORD_TOKENS`, read off CLIP's ``bpe_simple_vocab_16e6`` merges: "semantic"
is ``seman`` + ``tic``, "panoptic" ``pan`` + ``optic``, "rectangle" ``rec`` + ``tangle``). Any other
word raises ``ValueError`` naming it; pass ``tokenizer=`` (e.g. ``transformers``' ``CLIPTokenizer``
with the checkpoint's files) to tokenise arbitrary class names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = ["START_OF_TEXT", "END_OF_TEXT", "CLIP_WORD_TOKENS", "clip_token_ids"]

START_OF_TEXT, END_OF_TEXT = 49406, 49407
# word -> its CLIP byte-pair token ids (each word ends with "</w>" in CLIP's vocabulary)
CLIP_WORD_TOKENS: dict[str, tuple[int, ...]] = {
    # the task prompt "the task is {task}" and the text list's "a photo with a {class}",
    # "a semantic photo", "an instance photo", "an panoptic photo"
    "the": (518,), "task": (10549,), "is": (533,), "a": (320,), "an": (550,), "photo": (1125,),
    "with": (593,), "semantic": (29119, 1550), "instance": (34572,), "panoptic": (1072, 24755),
    # the classes of segedu's synthetic scenes
    "sky": (2390,), "grass": (5922,), "water": (1573,), "circle": (7117,),
    "rectangle": (1020, 36568), "triangle": (14615,),
}


def _word_tokens(text: str) -> list[int]:
    """``text`` (lower-cased, split at spaces) -> its words' CLIP tokens."""
    ids = []
    for word in text.lower().split():
        if word not in CLIP_WORD_TOKENS:
            raise ValueError(f"no CLIP tokens known for the word {word!r} (known: "
                             f"{', '.join(sorted(CLIP_WORD_TOKENS))}); pass tokenizer= for others")
        ids.extend(CLIP_WORD_TOKENS[word])
    return ids


def clip_token_ids(texts: Sequence[str], *, length: int = 77,
                   tokenizer: Callable[[str], list[int]] | None = None) -> torch.Tensor:
    """Texts -> ``(N, length)`` int64: ``[49406, tokens..., 49407, 0, 0, ...]`` per text.

    Args:
        texts: ``N`` strings.
        length: the fixed length (OneFormer: 77 for the task and for the text list).
        tokenizer: ``text -> token ids`` without the start and end tokens; default: the words of
            :data:`CLIP_WORD_TOKENS`.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    if length < 2:
        raise ValueError(f"length must leave room for the start and end tokens, got {length}")
    out = torch.zeros(len(texts), length, dtype=torch.int64)  # zero padding
    for i, text in enumerate(texts):
        ids = [START_OF_TEXT, *(tokenizer or _word_tokens)(text), END_OF_TEXT]
        if len(ids) > length:  # cut, keeping the end-of-text token last
            ids = ids[:length - 1] + [END_OF_TEXT]
        out[i, :len(ids)] = torch.tensor(ids)
    return out
