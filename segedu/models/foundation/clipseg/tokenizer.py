"""CLIP's tokenizer for the official CLIPSeg weights, through ``transformers`` (not reimplemented).

CLIP's text encoder was trained on a lower-cased byte-pair encoding (Sennrich et al. 2016) of
49,408 tokens, with ``<|startoftext|>`` (49406) first and ``<|endoftext|>`` (49407) last, padded
with ``<|endoftext|>``. Its vocabulary and merges ship with the published checkpoint
(``vocab.json``, ``merges.txt`` of ``CIDAS/clipseg-rd64-refined``), so this helper needs
``transformers`` installed and the internet the first time (``huggingface_hub`` caches the files).
The zoo's tiny model reads a toy vocabulary instead (:class:`.vocabulary.WordVocabulary`).

The official processor also resizes images to 352 x 352 and normalises them with CLIP's
:data:`CLIP_MEAN` and :data:`CLIP_STD`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["clip_tokenize", "CLIP_MEAN", "CLIP_STD", "TOKENIZER_REPO"]

TOKENIZER_REPO = "CIDAS/clipseg-rd64-refined"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # CLIP's image normalisation (its processor)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_tokenize(texts: Iterable[str], *,
                  repo: str = TOKENIZER_REPO) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts -> ``input_ids``, ``attention_mask`` ``(B, L)`` with ``transformers``'
    ``CLIPTokenizer`` of ``repo`` (downloaded once), padded to the longest text."""
    try:
        from transformers import CLIPTokenizer
    except ImportError:
        raise ImportError("clip_tokenize needs the transformers package (pip install "
                          "transformers): CLIP's byte-pair tokenizer is not reimplemented "
                          "in segedu") from None
    tokenizer = CLIPTokenizer.from_pretrained(repo)
    encoded = tokenizer([texts] if isinstance(texts, str) else list(texts), padding=True,
                        return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]
