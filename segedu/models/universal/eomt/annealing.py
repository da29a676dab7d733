r"""Mask annealing: masked attention while training starts, none at inference (EoMT, section 3.3).

EoMT (Kerssies et al., "Your ViT is Secretly an Image Segmentation Model", CVPR 2025) lets each
query attend only to the patches inside its own predicted mask in the last ``L2`` blocks, as
Mask2Former's decoder does. Masked attention helps training, but it needs a mask prediction
before every one of those blocks, which costs time at inference. So the masks are *annealed*:
in block ``i`` each query's mask is applied with probability :math:`P_i`, which decays during
training from 1 to 0,

.. math:: P_i(t) = \begin{cases} 1 & t < s_i \\
          \bigl(1 - \frac{t - s_i}{e_i - s_i}\bigr)^{p} & s_i \le t < e_i \\
          0 & t \ge e_i \end{cases}

with a polynomial power :math:`p = 0.9` (the paper's learning-rate schedule's), one window
:math:`[s_i, e_i)` of training steps per block. The windows are staggered: the *first* masked
block is released first, so that at each moment the later blocks can still rely on their masks.
The trained network needs no mask, so inference skips the intermediate predictions.

The schedule is ``mask_annealing`` of the authors' ``training/lightning_module.py``
(tue-mps/eomt), which writes ``attn_mask_probs[i]`` after every training batch from
``global_step``. Their COCO configurations (4 masked blocks, 12 epochs) put the windows at
``[1/6, 2/6), [2/6, 3/6), [3/6, 4/6), [4/6, 5/6)`` of training: :func:`staggered_windows` gives
that pattern for any number of blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["mask_probability", "staggered_windows", "annealed_probabilities"]


def mask_probability(step: float, *, start: float, end: float, power: float = 0.9) -> float:
    """:math:`P(t)` of one block at training step (or fraction of training) ``step``: 1 before
    ``start``, 0 from ``end`` on, ``(1 - progress) ** power`` between."""
    if not end > start:
        raise ValueError(f"need start < end, got start={start!r}, end={end!r}")
    if step < start:
        return 1.0
    if step >= end:
        return 0.0
    progress = (step - start) / (end - start)
    return (1.0 - progress) ** power


def staggered_windows(num_blocks: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The annealing windows of ``num_blocks`` masked blocks as fractions of training: block
    ``i`` (0 = the first masked block) from ``(i + 1) / (n + 2)`` to ``(i + 2) / (n + 2)``.
    For ``n = 4`` this is the authors' COCO ViT-L configuration (sixths); for other ``n`` it is
    this pattern carried over, not theirs (their 3- and 5-block configurations keep windows of a
    sixth and spread the starts from 1/6 to 4/6). Returns ``(starts, ends)``."""
    if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 1:
        raise ValueError(f"num_blocks must be a positive int, got {num_blocks!r}")
    n = num_blocks
    return (tuple((i + 1) / (n + 2) for i in range(n)),
            tuple((i + 2) / (n + 2) for i in range(n)))


def annealed_probabilities(progress: float, *, starts: Sequence[float], ends: Sequence[float],
                           power: float = 0.9) -> list[float]:
    """Each masked block's :math:`P_i` at ``progress`` (training step over total steps, in
    ``[0, 1]``), windows ``starts[i] .. ends[i]`` in the same unit."""
    if len(starts) != len(ends):
        raise ValueError(f"starts and ends must have one entry per block, got {len(starts)} and "
                         f"{len(ends)}")
    return [mask_probability(progress, start=s, end=e, power=power)
            for s, e in zip(starts, ends, strict=True)]
