"""Pseudo-labels (self-training): a trained model labels the images nobody labelled.

Lee ("Pseudo-Label", ICML workshop 2013) and, for segmentation, most semi-supervised methods
since: a *teacher* trained on the labelled images predicts the unlabelled ones; each pixel takes
the teacher's most likely class as its label, but only where the teacher is confident (its
softmax probability at least ``threshold``). The other pixels get ``ignore_index`` and teach
nothing. A *student* then trains on the labelled images and the pseudo-labelled ones together; it
can label the unlabelled images again, better, for a next *round* (Xie et al.'s "Noisy Student",
CVPR 2020, repeats this).

A wrong pseudo-label is learned as if it were true (confirmation bias), so the threshold trades
how many pixels are labelled (coverage) against how many of them are right (accuracy):
:func:`pseudo_label_quality` measures both where the true labels are known.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["pseudo_labels", "label_images", "pseudo_label_quality"]


def pseudo_labels(logits: torch.Tensor, *, threshold: float,
                  ignore_index: int = 255) -> torch.Tensor:
    """The confident pixels' classes: ``logits (N, C, H, W)`` -> labels ``(N, H, W)`` int64.

    A pixel's label is ``argmax_c softmax(logits)_c``, or ``ignore_index`` where that largest
    probability is below ``threshold`` (``0``: keep every pixel; ``1``: only certain ones).
    """
    if logits.dim() != 4:
        raise ValueError(f"logits must be (N, C, H, W), got shape {tuple(logits.shape)}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold}")
    if 0 <= ignore_index < logits.shape[1]:
        raise ValueError(f"ignore_index {ignore_index} is a class index (C = {logits.shape[1]})")
    confidence, labels = logits.float().softmax(dim=1).max(dim=1)  # (N, H, W) each
    return labels.masked_fill(confidence < threshold, ignore_index)


@torch.no_grad()
def label_images(model: nn.Module, images: torch.Tensor, *, threshold: float,
                 ignore_index: int = 255, batch: int = 50,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """:func:`pseudo_labels` of a semantic model (``model(x)["out"]``) on ``images (N, 3, H, W)``,
    ``batch`` images at a time, in eval mode; returns ``(N, H, W)`` int64 on the CPU."""
    if images.dim() != 4:
        raise ValueError(f"images must be (N, 3, H, W), got shape {tuple(images.shape)}")
    model.eval()
    return torch.cat([
        pseudo_labels(model(images[i:i + batch].to(device))["out"], threshold=threshold,
                      ignore_index=ignore_index).cpu()
        for i in range(0, len(images), batch)])


def pseudo_label_quality(labels: torch.Tensor, truth: torch.Tensor, *,
                         ignore_index: int = 255) -> dict[str, float]:
    """How good pseudo-labels are, against the true labels of the same pixels.

    Returns ``coverage`` (the fraction of pixels that got a label) and ``accuracy`` (the fraction
    of those labels that are right; NaN when no pixel got one).
    """
    if labels.shape != truth.shape:
        raise ValueError(f"labels {tuple(labels.shape)} and truth {tuple(truth.shape)} differ "
                         "in shape")
    kept = labels != ignore_index
    count = int(kept.sum())
    accuracy = int((labels[kept] == truth[kept]).sum()) / count if count else float("nan")
    return {"coverage": count / labels.numel(), "accuracy": accuracy}
