"""The IoU matcher: which ground-truth box (if any) each anchor or proposal should learn from.

Faster R-CNN labels a predicted box by its best overlap with the ground truth. With the IoU matrix
``(M gt, N predicted)``, each prediction takes the ground truth of highest IoU, and then:

* IoU ``>= high_threshold``: a **positive**, matched to that ground truth;
* IoU ``< low_threshold``: a **negative** (background), marked ``BELOW_LOW_THRESHOLD = -1``;
* in between: **ignored** in the loss, marked ``BETWEEN_THRESHOLDS = -2``.

The RPN uses 0.7 / 0.3; the box head 0.5 / 0.5 (no ignored band). A small or oddly shaped object
may have no anchor with IoU >= 0.7; with ``allow_low_quality_matches`` the RPN also makes positive,
for every ground truth, the predictions of highest IoU with it (all of them when several tie),
as the Faster R-CNN paper's rule (i). Equals torchvision's ``det_utils.Matcher``.
"""

from __future__ import annotations

import torch

__all__ = ["Matcher"]


class Matcher:
    """Assign to each of ``N`` predictions the index of a ground truth, or -1 / -2.

    Args (keyword-only):
        high_threshold: the IoU from which a match is positive.
        low_threshold: the IoU below which a prediction is background.
        allow_low_quality_matches: also match each ground truth's best predictions.

    ``matcher(iou)`` with ``iou (M, N)`` returns int64 ``(N,)``: a ground-truth index in
    ``[0, M)``, ``BELOW_LOW_THRESHOLD`` or ``BETWEEN_THRESHOLDS``.
    """

    BELOW_LOW_THRESHOLD = -1
    BETWEEN_THRESHOLDS = -2

    def __init__(self, *, high_threshold: float, low_threshold: float,
                 allow_low_quality_matches: bool = False) -> None:
        if not 0 <= low_threshold <= high_threshold <= 1:
            raise ValueError(f"need 0 <= low_threshold <= high_threshold <= 1, got {low_threshold} "
                             f"and {high_threshold}")
        self.high_threshold = high_threshold
        self.low_threshold = low_threshold
        self.allow_low_quality_matches = allow_low_quality_matches

    def __call__(self, iou: torch.Tensor) -> torch.Tensor:
        if iou.ndim != 2:
            raise ValueError("iou must be an (M ground truth, N predictions) matrix, got "
                             f"{tuple(iou.shape)}")
        if iou.shape[0] == 0:
            raise ValueError("no ground-truth boxes to match (an image of the training batch has "
                             "none)")
        if iou.shape[1] == 0:
            raise ValueError("no predicted boxes to match")
        # 1. each prediction's best ground truth
        best_iou, matches = iou.max(dim=0)  # (N,), (N,)
        best_of_all = matches.clone() if self.allow_low_quality_matches else None
        # 2. too low: background; in between: ignored
        below = best_iou < self.low_threshold
        between = (best_iou >= self.low_threshold) & (best_iou < self.high_threshold)
        matches[below] = self.BELOW_LOW_THRESHOLD
        matches[between] = self.BETWEEN_THRESHOLDS
        # 3. every ground truth keeps its best predictions (ties included), however low their IoU
        if best_of_all is not None:
            best_per_gt = iou.max(dim=1).values  # (M,)
            _, best_predictions = torch.where(iou == best_per_gt[:, None])
            matches[best_predictions] = best_of_all[best_predictions]
        return matches
