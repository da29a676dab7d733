"""A toy word-level vocabulary: the "tokenizer" of the zoo's tiny CLIPSeg. It is *not* CLIP's.

CLIP reads text through a byte-pair encoding of 49,408 tokens learnt on web text
(:func:`.tokenizer.clip_tokenize` gives it, through ``transformers``, for the official weights).
With no pretrained CLIP offline, the zoo trains a tiny CLIPSeg from scratch on the synthetic
scenes, and its text encoder only ever reads a handful of phrases about six classes ("a circle",
"the water"). This vocabulary is exactly those words: one id per lower-case word, plus

- ``0``: padding (after the end of a shorter prompt; masked out);
- ``1``: start-of-text, put first;
- the highest id: end-of-text, put last, so that, as in CLIP, the end-of-text position is the
  argmax of the ids and the text encoder's summary is read there.

A word outside the vocabulary is an error naming the words it knows: the model never saw it and
could only guess (CLIP's byte pairs would still give it *some* tokens; this one cannot).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

__all__ = ["WordVocabulary"]


class WordVocabulary:
    """Texts -> ``input_ids (B, L)`` int64 and ``attention_mask (B, L)``, right-padded.

    Args (keyword-only):
        words: the words, in the order of their ids (``2, 3, ...``); lower-case, no spaces,
            no repeats.
    """

    PAD, START = 0, 1

    def __init__(self, *, words: Sequence[str]) -> None:
        words = list(words)
        if not words or len(set(words)) != len(words) or any(
                not w or w != w.lower() or " " in w for w in words):
            raise ValueError(f"words must be distinct, non-empty lower-case words, got {words}")
        self.words = words
        self.ids = {w: i + 2 for i, w in enumerate(words)}
        self.end = len(words) + 2  # the highest id

    def __len__(self) -> int:
        """The number of ids (the text encoder's ``vocab_size``)."""
        return self.end + 1

    def __call__(self, texts: Iterable[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``[start, words..., end]`` per text, padded with 0 to the longest: ``input_ids`` and
        ``attention_mask`` (1 on the real tokens), both ``(B, L)`` int64."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("no texts to encode")
        rows = []
        for text in texts:
            unknown = [w for w in text.lower().split() if w not in self.ids]
            if unknown:
                raise ValueError(f"{text!r}: {unknown} not in the vocabulary; it knows "
                                 f"{self.words}")
            rows.append([self.START, *(self.ids[w] for w in text.lower().split()), self.end])
        length = max(map(len, rows))
        input_ids = torch.full((len(rows), length), self.PAD, dtype=torch.int64)
        attention_mask = torch.zeros((len(rows), length), dtype=torch.int64)
        for i, row in enumerate(rows):
            input_ids[i, :len(row)] = torch.tensor(row)
            attention_mask[i, :len(row)] = 1
        return input_ids, attention_mask

    def decode(self, input_ids: torch.Tensor) -> list[str]:
        """``(B, L)`` ids -> the texts (special tokens left out)."""
        names = {i: w for w, i in self.ids.items()}
        return [" ".join(names[int(i)] for i in row if int(i) in names) for row in input_ids]
