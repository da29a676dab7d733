r"""Matrix NMS (Wang et al., "SOLOv2: Dynamic and Fast Instance Segmentation", NeurIPS 2020):
decay the scores of overlapping masks, all at once, instead of removing them one by one.

Greedy NMS (:mod:`.nms`) is sequential: each kept box removes its overlaps before the next one
is visited. Matrix NMS lowers every mask's score by how much it overlaps a *better* mask, with
one matrix of IoUs and no loop. Sort the masks by score, best first. Mask :math:`j` is decayed
by every better mask :math:`i` (same class, :math:`s_i > s_j`) through a decreasing function
:math:`f` of their IoU. But if :math:`i` was itself decayed (it overlapped an even better mask
:math:`k`), its own suppression should count less: the paper divides by
:math:`f(\mathrm{iou}_{\cdot,i})`, where :math:`\mathrm{iou}_{\cdot,i} = \max_{s_k > s_i}
\mathrm{iou}_{k,i}` is the largest overlap of :math:`i` with a better mask (0 for the best):

.. math::
    \mathrm{decay}_j = \min_{\forall s_i > s_j}
        \frac{f(\mathrm{iou}_{i,j})}{f(\mathrm{iou}_{\cdot,i})}, \qquad
    s_j \leftarrow s_j \cdot \mathrm{decay}_j

(the paper's Matrix NMS formula; ``1`` when no better mask exists), with

- the **linear** decay :math:`f(\mathrm{iou}) = 1 - \mathrm{iou}`;
- the **Gaussian** decay :math:`f(\mathrm{iou}) = \exp(-\sigma\,\mathrm{iou}^2)`.

Nothing is removed: a caller keeps the masks whose decayed score stays above a threshold
(SOLOv2 uses 0.05), which is why Matrix NMS needs no IoU threshold.

**Where segedu follows the official code, and where it differs.** The official code (mmdetection's
``mask_matrix_nms``, read for this) agrees with the formula, with three details that this
function keeps:

1. the Gaussian is written ``exp(-sigma * iou**2)`` with ``sigma = 2.0``; the paper prints
   :math:`\exp(-\mathrm{iou}^2 / \sigma)`. ``sigma`` here is the code's (it multiplies), so
   ``sigma=2.0`` gives the published results (the paper's :math:`\sigma` would be 0.5);
2. only masks of the **same class** decay each other (``labels``), also in
   :math:`\mathrm{iou}_{\cdot,i}`; pass no labels for class-agnostic decay;
3. "better" is the position in a sort by score, highest first; among equal scores the lower
   index counts as better (a stable sort).

One difference: with the linear decay a mask :math:`i` that is *identical* to a better mask has
:math:`f(\mathrm{iou}_{\cdot,i}) = 0`; mmdetection then divides :math:`0/0` for the next identical
mask and returns NaN. Here a fully suppressed mask suppresses nothing (its ratio is taken as
:math:`+\infty`, the limit of :math:`f(\mathrm{iou}_{i,j})/f(\mathrm{iou}_{\cdot,i})` for any
:math:`\mathrm{iou}_{i,j} < 1`), so the third of three identical masks gets 0 from the first, as the
second does.

The IoU of two masks is that of their pixel sets: :math:`|A \cap B| / |A \cup B|` (0 when both
are empty).
"""

from __future__ import annotations

import torch

__all__ = ["matrix_nms", "pairwise_mask_iou", "DECAY_KERNELS"]

DECAY_KERNELS = ("linear", "gaussian")


def pairwise_mask_iou(masks: torch.Tensor, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """IoU of every pair of binary masks ``(N, H, W)`` (bool or 0/1): ``(N, N)`` of ``dtype``,
    0 for a pair of empty masks."""
    flat = masks.reshape(len(masks), -1).to(dtype)  # (N, H * W)
    intersection = flat @ flat.T  # (N, N): pixels in both
    area = flat.sum(dim=1)  # (N,)
    union = area[:, None] + area[None, :] - intersection  # (N, N)
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.zeros_like(union))


def _check(masks: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor | None,
           kernel: str, sigma: float) -> None:
    if not isinstance(masks, torch.Tensor) or masks.ndim != 3:
        raise ValueError(f"masks must be a (N, H, W) tensor, got "
                         f"{tuple(masks.shape) if isinstance(masks, torch.Tensor) else masks!r}")
    if masks.is_floating_point() and masks.numel() and not ((masks == 0) | (masks == 1)).all():
        raise ValueError("masks must be binary (bool or 0/1); threshold probabilities first")
    if not isinstance(scores, torch.Tensor) or scores.shape != (len(masks),):
        raise ValueError(f"scores must be a ({len(masks)},) tensor, one per mask, got "
                         f"{getattr(scores, 'shape', type(scores).__name__)}")
    if labels is not None and (not isinstance(labels, torch.Tensor)
                               or labels.shape != (len(masks),)):
        raise ValueError(f"labels must be None or a ({len(masks)},) tensor, got "
                         f"{getattr(labels, 'shape', type(labels).__name__)}")
    if kernel not in DECAY_KERNELS:
        raise ValueError(f"kernel must be one of {DECAY_KERNELS}, got {kernel!r}")
    if kernel == "gaussian" and not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")


def matrix_nms(masks: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor | None = None, *,
               kernel: str = "gaussian", sigma: float = 2.0) -> torch.Tensor:
    """The decayed scores of Matrix NMS (see the module docstring), in the input order.

    Args:
        masks: ``(N, H, W)`` binary masks (bool or 0/1).
        scores: ``(N,)`` their scores.
        labels: ``(N,)`` their classes (masks of different classes do not decay each other), or
            ``None`` (every mask decays every worse one).
        kernel: ``"gaussian"`` (:math:`f = \\exp(-\\sigma\\,iou^2)`) or ``"linear"``
            (:math:`f = 1 - iou`).
        sigma: the Gaussian's :math:`\\sigma` as the official code writes it (it multiplies).

    Returns:
        ``(N,)`` scores :math:`s_j \\cdot \\mathrm{decay}_j`, each at most the input score.
    """
    _check(masks, scores, labels, kernel, sigma)
    n = len(masks)
    if n == 0:
        return scores.clone()
    # 1. sort best first (stable: among equal scores the lower index is better)
    order = torch.sort(scores, descending=True, stable=True).indices  # (N,)
    # 2. iou[i, j] for i better than j (the strict upper triangle), same class only
    dtype = scores.dtype if scores.is_floating_point() else torch.float32
    iou = pairwise_mask_iou(masks[order], dtype=dtype).triu(diagonal=1)  # (N, N)
    if labels is not None:
        sorted_labels = labels[order]
        iou = iou * (sorted_labels[:, None] == sorted_labels[None, :])
    # 3. iou_{., i}: each mask's largest overlap with a better mask (a column maximum)
    compensate = iou.max(dim=0).values  # (N,)
    # 4. the decay of j: the minimum over the better masks i of f(iou_ij) / f(iou_.i)
    if kernel == "linear":
        decayed, denominator = 1 - iou, (1 - compensate)[:, None]  # (N, N), (N, 1)
    else:
        decayed = torch.exp(-sigma * iou**2)
        denominator = torch.exp(-sigma * compensate**2)[:, None]
    ratio = decayed / denominator.clamp(min=torch.finfo(decayed.dtype).tiny)
    ratio = torch.where(denominator > 0, ratio, torch.full_like(ratio, float("inf")))
    better = torch.ones(n, n, dtype=torch.bool, device=masks.device).triu(diagonal=1)
    ratio = torch.where(better, ratio, torch.full_like(ratio, float("inf")))  # only i better
    decay = ratio.min(dim=0).values.clamp(max=1.0)  # (N,): 1 for the best mask
    # 5. back to the input order
    out = torch.empty_like(scores)
    out[order] = scores[order] * decay.to(scores.dtype)
    return out
