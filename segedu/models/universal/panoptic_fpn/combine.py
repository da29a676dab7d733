"""Panoptic FPN's merge of instance and semantic predictions into one panoptic map.

A panoptic map gives every pixel one ``(category, instance)`` pair, so overlapping instance
masks and the semantic map must be reconciled. Panoptic FPN (Kirillov et al., CVPR 2019,
Sec. 4; the heuristics of the COCO panoptic baseline) does it in two passes:

1. **Things first, by score.** Detections are taken in decreasing score; one below
   ``score_thresh`` ends the pass. A detection whose mask already lies more than
   ``overlap_thresh`` on earlier instances is dropped (a duplicate); otherwise it takes the
   pixels of its mask that are still free, and gets the next instance id.
2. **Stuff in what is left.** Each stuff class of the semantic prediction (the "other" class 0
   excepted) takes its free pixels, unless they are fewer than ``stuff_area_thresh`` (noise).
3. Pixels still free are **void**.

This follows ``combine_semantic_and_instance_outputs`` of detectron2 (the authors' code) rule for
rule, with the same strict comparisons (a duplicate needs overlap ``>`` the threshold; a stuff
region survives with area ``>=`` the limit); it returns segedu's panoptic format instead of
detectron2's segment-id map and list. It is a method of
:class:`~segedu.models.universal.panoptic_fpn.model.PanopticFPN` (from :class:`PanopticMerge`),
which merges its outputs with its own categories and thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["PanopticMerge"]


class PanopticMerge:
    """Panoptic FPN's merge as a method (module docstring), inherited by
    :class:`~segedu.models.universal.panoptic_fpn.model.PanopticFPN`; it reads only its
    arguments (the model passes its own categories and thresholds)."""

    def combine_panoptic(self, semantic: torch.Tensor, masks: torch.Tensor, scores: torch.Tensor,
                         labels: torch.Tensor,
                         *, thing_categories: Sequence[int], stuff_categories: Sequence[int],
                         score_thresh: float = 0.5, overlap_thresh: float = 0.5,
                         stuff_area_thresh: int = 4096,
                         void: int = -1) -> torch.Tensor:
        """Merge one image's predictions into a panoptic map.

        Args:
            semantic: ``(H, W)`` int, the semantic branch's arg-max: 0 is "other" (things),
                ``k >= 1`` a stuff class.
            masks: ``(N, H, W)`` bool, the detections' binary masks.
            scores: ``(N,)`` float; labels: ``(N,)`` int detection labels (1.. ; 0 is background).
            thing_categories: category id of each detection label (``thing_categories[label]``).
            stuff_categories: category id of each semantic label (``stuff_categories[k]``,
                ``k >= 1``).
            score_thresh, overlap_thresh, stuff_area_thresh: the heuristics' thresholds (see above;
                detectron2's defaults).
            void: the category of pixels that nothing claims.

        Returns:
            ``(H, W, 2)`` int64 ``(category_id, instance_id)``: things get instance ids 1, 2, ...
            in the order they were placed; stuff and void pixels have instance id 0.
        """
        if semantic.ndim != 2:
            raise ValueError("semantic must be an (H, W) label map, got shape "
                             f"{tuple(semantic.shape)}")
        if masks.ndim != 3 or masks.shape[1:] != semantic.shape:
            raise ValueError(f"masks must be (N, {semantic.shape[0]}, {semantic.shape[1]}), got "
                             f"{tuple(masks.shape)}")
        if scores.shape != (len(masks),) or labels.shape != (len(masks),):
            raise ValueError(f"scores and labels must be ({len(masks)},), got "
                             f"{tuple(scores.shape)} and {tuple(labels.shape)}")
        if masks.dtype != torch.bool:
            raise TypeError("masks must be bool (threshold the probabilities first), got "
                            f"{masks.dtype}")
        height, width = semantic.shape
        category = torch.full((height, width), void, dtype=torch.int64, device=semantic.device)
        instance = torch.zeros((height, width), dtype=torch.int64, device=semantic.device)
        taken = torch.zeros((height, width), dtype=torch.bool, device=semantic.device)

        # 1. things, in decreasing score (a stable sort keeps the input order among ties)
        next_id = 1
        for i in torch.argsort(scores, descending=True, stable=True).tolist():
            if scores[i] < score_thresh:
                break  # the rest score lower still
            mask = masks[i]
            area = int(mask.sum())
            if area == 0:
                continue
            overlap = int((mask & taken).sum())
            if overlap / area > overlap_thresh:
                continue  # mostly hidden by better detections: a duplicate
            free = mask & ~taken
            category[free] = thing_categories[int(labels[i])]
            instance[free] = next_id
            taken |= free
            next_id += 1

        # 2. stuff, in the free pixels, class by class
        for k in torch.unique(semantic).tolist():
            if k == 0:
                continue  # "other": the thing pixels of the semantic branch
            free = (semantic == k) & ~taken
            if int(free.sum()) < stuff_area_thresh:
                continue  # too small: left void
            category[free] = stuff_categories[k]
            taken |= free

        # 3. what nothing claimed stays void
        return torch.stack([category, instance], dim=-1)
