"""From class activation maps to pseudo-masks a segmentation network can learn from.

A CAM (:mod:`.cam`) is a score map per class, on no common scale. The usual recipe of weakly
supervised segmentation (Kolesnikov and Lampert's SEC, ECCV 2016; Ahn and Kwak's AffinityNet,
CVPR 2018, start from it):

1. **normalise** each CAM of each image to ``[0, 1]``: negative scores to 0, divided by the map's
   maximum (:func:`normalize_cams`);
2. keep only the classes the image-level label says are **present** (an absent class cannot win,
   whatever its map shows);
3. each pixel takes the present class with the highest normalised score;
4. a pixel where even that score is below ``threshold`` is left out (``ignore_index``): no class
   claims it clearly, so no label beats a wrong one.
"""

from __future__ import annotations

import torch

__all__ = ["normalize_cams", "cam_pseudo_masks"]


def normalize_cams(cams: torch.Tensor, *, eps: float = 1e-5) -> torch.Tensor:
    """``relu(M) / max(M)`` per image and class: CAMs ``(N, K, H, W)`` -> ``[0, 1]`` (a map with
    no positive score stays 0)."""
    if cams.dim() != 4:
        raise ValueError(f"cams must be (N, K, H, W), got shape {tuple(cams.shape)}")
    positive = cams.float().clamp(min=0)
    return positive / (positive.amax(dim=(2, 3), keepdim=True) + eps)


def cam_pseudo_masks(cams: torch.Tensor, present: torch.Tensor, *, threshold: float,
                     ignore_index: int = 255) -> torch.Tensor:
    """Pseudo-masks ``(N, H, W)`` int64 from CAMs ``(N, K, H, W)`` (at the image's size) and the
    image-level labels ``present (N, K)`` (1 for a class in the image), steps 1-4 above."""
    if present.shape != cams.shape[:2]:
        raise ValueError(f"present must be (N, K) = {tuple(cams.shape[:2])}, got "
                         f"{tuple(present.shape)}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    scores = normalize_cams(cams)  # step 1: (N, K, H, W) in [0, 1]
    # step 2: an absent class scores -1, below any present one
    scores = scores.masked_fill(~present.bool()[:, :, None, None], -1.0)
    best, labels = scores.max(dim=1)  # step 3: (N, H, W)
    return labels.masked_fill(best < threshold, ignore_index)  # step 4
