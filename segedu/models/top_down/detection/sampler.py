"""The balanced sampler: a fixed-size mini-batch of positives and negatives per image.

An image has tens of thousands of anchors (hundreds or thousands of proposals), nearly all
background. Training on all of them would drown the few positives, so each image contributes
``batch_size_per_image`` samples (RPN: 256, box head: 512) of which at most
``positive_fraction`` (RPN: 1/2, box head: 1/4) are positives, drawn at random; negatives fill the
rest. Ignored elements are never drawn.

The random draws are torchvision's (``BalancedPositiveNegativeSampler``): one ``torch.randperm``
over the positives, then one over the negatives, per image in order, so the same
``torch.manual_seed`` picks the same samples in both libraries.
"""

from __future__ import annotations

import torch

__all__ = ["BalancedPositiveNegativeSampler"]


class BalancedPositiveNegativeSampler:
    """Pick positives and negatives for each image.

    Args (keyword-only):
        batch_size_per_image: samples per image (fewer when the image has fewer candidates).
        positive_fraction: the largest share of positives.

    ``sampler(labels)`` takes one tensor ``(K_i,)`` per image with labels ``>= 1`` for positives,
    ``0`` for negatives and ``< 0`` for ignored elements, and returns two lists of bool masks
    ``(K_i,)``: the sampled positives and the sampled negatives.
    """

    def __init__(self, *, batch_size_per_image: int, positive_fraction: float) -> None:
        if batch_size_per_image < 1 or not 0 <= positive_fraction <= 1:
            raise ValueError(f"need batch_size_per_image >= 1 and 0 <= positive_fraction <= 1, got "
                             f"{batch_size_per_image} and {positive_fraction}")
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction

    def __call__(self, labels: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        positive_masks, negative_masks = [], []
        for labels_per_image in labels:
            positive = torch.where(labels_per_image >= 1)[0]
            negative = torch.where(labels_per_image == 0)[0]
            # as many positives as allowed and available; negatives fill the batch
            num_pos = min(positive.numel(), int(self.batch_size_per_image * self.positive_fraction))
            num_neg = min(negative.numel(), self.batch_size_per_image - num_pos)
            # a random subset of each (the draws torchvision makes, in its order)
            chosen_pos = positive[
                torch.randperm(positive.numel(), device=positive.device)[:num_pos]]
            chosen_neg = negative[
                torch.randperm(negative.numel(), device=negative.device)[:num_neg]]
            # as masks over the image's elements
            pos_mask = torch.zeros_like(labels_per_image, dtype=torch.bool)
            neg_mask = torch.zeros_like(labels_per_image, dtype=torch.bool)
            pos_mask[chosen_pos] = True
            neg_mask[chosen_neg] = True
            positive_masks.append(pos_mask)
            negative_masks.append(neg_mask)
        return positive_masks, negative_masks
