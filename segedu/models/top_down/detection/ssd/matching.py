"""SSD's matching strategy (Liu et al., ECCV 2016, section 2.2 "Matching strategy"): which
default boxes learn which ground-truth box.

1. each default box takes the ground truth of highest IoU if that IoU is at least 0.5 (several
   default boxes may match one object: the network may score several overlapping boxes high
   instead of having to pick the single best);
2. each ground-truth box also takes its single best default box, however low its IoU, so that
   no object goes unmatched.

No IoU band is ignored: everything else is background. Equals torchvision's ``SSDMatcher``.
"""

from __future__ import annotations

import torch

from ..matcher import Matcher

__all__ = ["DefaultBoxMatcher"]


class DefaultBoxMatcher:
    """``matcher(iou)`` with ``iou (G, R)`` -> int64 ``(R,)``: a ground-truth index or ``-1``.

    Args (keyword-only):
        iou_thresh: the IoU from which a default box is positive (0.5).
    """

    def __init__(self, *, iou_thresh: float = 0.5) -> None:
        self.threshold_matcher = Matcher(high_threshold=iou_thresh, low_threshold=iou_thresh)

    def __call__(self, iou: torch.Tensor) -> torch.Tensor:
        # 1. IoU >= threshold: the best ground truth; below: background (-1)
        matches = self.threshold_matcher(iou)
        # 2. every ground truth keeps its best default box (the first, on ties)
        best_box_per_gt = iou.max(dim=1).indices  # (G,)
        matches[best_box_per_gt] = torch.arange(len(best_box_per_gt), dtype=torch.int64,
                                                device=iou.device)
        return matches
