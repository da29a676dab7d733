r"""Point sampling: compare masks on a few thousand points instead of every pixel.

Mask2Former (Cheng et al., "Masked-attention Mask Transformer for Universal Image Segmentation",
CVPR 2022, section 3.3) computes its mask losses on ``K = 112 * 112 = 12544`` points per mask
instead of the full high-resolution mask, which cuts the training memory threefold. The idea
comes from PointRend (Kirillov et al., CVPR 2020):

- :func:`point_sample` reads a feature map at real-valued points: a point is ``(x, y)`` in
  ``[0, 1]^2`` (``x`` across the width, ``(0, 0)`` the top-left corner of the top-left pixel,
  ``(1, 1)`` the bottom-right corner of the bottom-right one), and its value is the *bilinear*
  interpolation of the four nearest pixel centres (zero outside the image). Because the
  coordinates are relative, a ``(H/4, W/4)`` prediction and an ``(H, W)`` ground-truth mask are
  compared at the same places without resizing either.
- :func:`sample_uncertain_points` (the *importance sampling* of the loss) draws
  ``oversample_ratio * K`` uniform random points, keeps the ``importance_sample_ratio * K``
  most **uncertain** of them, the points where the predicted logit is closest to 0
  (uncertainty :math:`-|\ell|`, :func:`calculate_uncertainty`), and adds
  ``(1 - importance_sample_ratio) * K`` fresh uniform points so that the whole mask keeps being
  seen. With Mask2Former's 3 and 0.75, the loss concentrates on the mask's boundary, where the
  prediction is unsure.

This follows ``point_sample`` and ``get_uncertain_point_coords_with_randomness`` of detectron2's
PointRend (used by facebookresearch/Mask2Former) and draws the same random numbers in the same
order, so that with the same seed it returns the same points as transformers' ``sample_point``
and ``Mask2FormerLoss.sample_points_using_uncertainty`` (tested).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["point_sample", "calculate_uncertainty", "sample_uncertain_points"]


def point_sample(input: torch.Tensor, point_coords: torch.Tensor, *,
                 align_corners: bool = False) -> torch.Tensor:
    """Bilinear values of ``input (N, C, H, W)`` at points ``point_coords`` in ``[0, 1]^2``.

    Args:
        input: ``(N, C, H, W)`` feature maps (float).
        point_coords: ``(N, P, 2)`` or ``(N, Hg, Wg, 2)`` points ``(x, y)`` in ``[0, 1]``, one set
            per map.
        align_corners: as ``F.grid_sample``; ``False`` (Mask2Former) puts ``0`` and ``1`` on the
            outer edges of the border pixels.

    Returns:
        ``(N, C, P)`` (or ``(N, C, Hg, Wg)``) the sampled values.
    """
    if input.ndim != 4:
        raise ValueError(f"input must be (N, C, H, W), got shape {tuple(input.shape)}")
    if (point_coords.ndim not in (3, 4) or point_coords.shape[-1] != 2
        or point_coords.shape[0] != input.shape[0]):
        raise ValueError("point_coords must be (N, P, 2) or (N, Hg, Wg, 2) with N = "
                         f"{input.shape[0]}, got shape {tuple(point_coords.shape)}")
    if not point_coords.is_floating_point():
        raise TypeError(f"point_coords must be float, got {point_coords.dtype}")
    flat = point_coords.ndim == 3
    grid = point_coords[:, :, None, :] if flat else point_coords  # grid_sample wants (N, Hg, Wg, 2)
    # grid_sample reads coordinates in [-1, 1]: map [0, 1] onto it
    values = F.grid_sample(input, 2.0 * grid.to(input.dtype) - 1.0, mode="bilinear",
                           padding_mode="zeros",
                           align_corners=align_corners)  # (N, C, Hg, Wg)
    return values[..., 0] if flat else values


def calculate_uncertainty(logits: torch.Tensor) -> torch.Tensor:
    """Uncertainty ``-|logit|`` of class-agnostic mask logits, any shape: highest (0) where the
    predicted probability is 0.5."""
    return -logits.abs()


def sample_uncertain_points(
    logits: torch.Tensor,
    *,
    num_points: int,
    oversample_ratio: float = 3.0,
    importance_sample_ratio: float = 0.75,
    uncertainty: Callable[[torch.Tensor], torch.Tensor] = calculate_uncertainty,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``num_points`` points per mask, most of them where ``logits (N, 1, H, W)`` is uncertain.

    Args:
        logits: ``(N, 1, H, W)`` mask logits (one mask per row).
        num_points: ``K``, the number of points per mask.
        oversample_ratio: ``k >= 1``: ``int(k K)`` uniform candidates are scored.
        importance_sample_ratio: ``beta`` in ``[0, 1]``: ``int(beta K)`` points are the most
            uncertain candidates, the other ``K - int(beta K)`` are uniform.
        uncertainty: maps sampled logits ``(N, 1, P)`` to scores, higher = more uncertain.
        generator: random generator (default: PyTorch's global one, as the reference).

    Returns:
        ``(N, K, 2)`` float32 points ``(x, y)`` in ``[0, 1]`` (drawn in float32 whatever the
        logits' dtype, as the reference, so that a seed gives the same points): the uncertain ones
        first, in decreasing uncertainty order as ``torch.topk`` returns them, then the uniform
        ones.
    """
    if logits.ndim != 4 or logits.shape[1] != 1:
        raise ValueError(f"logits must be (N, 1, H, W), got shape {tuple(logits.shape)}")
    if oversample_ratio < 1:
        raise ValueError(f"oversample_ratio must be >= 1, got {oversample_ratio}")
    if not 0 <= importance_sample_ratio <= 1:
        raise ValueError("importance_sample_ratio must lie in [0, 1], got "
                         f"{importance_sample_ratio}")
    num_masks = logits.shape[0]
    num_candidates = int(num_points * oversample_ratio)
    num_uncertain = int(importance_sample_ratio * num_points)
    num_random = num_points - num_uncertain
    # 1. oversample: uniform candidates (N, kK, 2), and the prediction there (N, 1, kK)
    candidates = torch.rand(num_masks, num_candidates, 2, device=logits.device, generator=generator)
    scores = uncertainty(point_sample(logits, candidates, align_corners=False))
    # 2. keep the beta K most uncertain candidates of each mask
    top = torch.topk(scores[:, 0, :], k=num_uncertain, dim=1).indices  # (N, beta K)
    points = torch.gather(candidates, 1, top[..., None].expand(-1, -1, 2))  # (N, beta K, 2)
    # 3. add (1 - beta) K uniform points: coverage of the whole mask
    if num_random > 0:
        uniform = torch.rand(num_masks, num_random, 2, device=logits.device, generator=generator)
        points = torch.cat([points, uniform], dim=1)
    return points
