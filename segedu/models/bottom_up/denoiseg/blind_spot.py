r"""Noise2Void's blind-spot masking: the self-supervised half of DenoiSeg.

Reference: A. Krull, T.-O. Buchholz, F. Jug, "Noise2Void - learning denoising from single noisy
images", CVPR 2019; used unchanged by DenoiSeg (Buchholz, Prakash, Schmidt, Krull, Jug,
"DenoiSeg: joint denoising and segmentation", ECCV BioImage Computing workshop 2020); reference
implementation ``n2v.internals.N2V_DataWrapper`` with its pixel manipulators (``n2v`` 0.3).

A network that sees a pixel cannot be trained to predict it from itself: it would learn the
identity, noise included. Noise2Void hides a few pixels: each chosen pixel's value is replaced by
the value of a random *other* pixel of its neighbourhood, the network predicts the whole image, and
the loss scores only the chosen pixels against their original (noisy) values. Pixel noise that is
independent between pixels cannot be predicted from the neighbours, so the network learns the
clean signal (the expected value given the surroundings).

1. **Positions** (stratified, as N2V): the image is cut into boxes of ``box x box`` pixels with
   ``box = round(1 / sqrt(fraction))`` (8 for N2V's 1.5 %); one uniformly random pixel per box;
2. **Replacement**: each chosen pixel takes the value of a pixel drawn uniformly from the
   ``(2 radius + 1)^2`` window around it, cut at the image border, *excluding the pixel itself*
   (the paper's rule; N2V's code default ``uniform_withCP`` may draw the pixel itself, with
   probability 1 / 121 for ``radius = 5``). All channels of a pixel are replaced together.
"""

from __future__ import annotations

import math

import torch

__all__ = ["blind_spot_positions", "blind_spot_mask"]


def blind_spot_positions(height: int, width: int, *, fraction: float,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """``(H, W)`` bool: one random pixel in every ``box x box`` box (step 1)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    box = max(1, round(1 / math.sqrt(fraction)))
    rows = torch.arange(0, height, box)  # the boxes' top-left corners
    cols = torch.arange(0, width, box)
    dy = torch.randint(0, box, (len(rows), len(cols)), generator=generator)
    dx = torch.randint(0, box, (len(rows), len(cols)), generator=generator)
    ys, xs = rows[:, None] + dy, cols[None, :] + dx  # (R, C) each
    inside = (ys < height) & (xs < width)  # boxes cut by the border may miss
    mask = torch.zeros((height, width), dtype=torch.bool)
    mask[ys[inside], xs[inside]] = True
    return mask


def blind_spot_mask(images: torch.Tensor, *, fraction: float = 0.015, radius: int = 5,
                    generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(masked images (N, C, H, W), mask (N, 1, H, W) bool)``: the chosen pixels of every image
    replaced by a random other pixel of their neighbourhood; every other pixel is unchanged."""
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if radius < 1:
        raise ValueError(f"radius must be >= 1, got {radius}")
    N, _, H, W = images.shape
    if H * W < 2:
        raise ValueError(f"an image needs at least 2 pixels to hide one, got {(H, W)}")
    masked = images.clone()
    mask = torch.zeros((N, 1, H, W), dtype=torch.bool)
    for n in range(N):
        chosen = blind_spot_positions(H, W, fraction=fraction, generator=generator)
        ys, xs = torch.nonzero(chosen, as_tuple=True)
        # 2. a random offset in the window cut at the border, drawn again while it is (0, 0)
        low_y, high_y = (ys - radius).clamp(min=0), (ys + radius).clamp(max=H - 1)
        low_x, high_x = (xs - radius).clamp(min=0), (xs + radius).clamp(max=W - 1)
        ny, nx = ys.clone(), xs.clone()
        redraw = torch.ones(len(ys), dtype=torch.bool)
        while redraw.any():
            k = int(redraw.sum())
            u = torch.rand((2, k), generator=generator)
            ny[redraw] = low_y[redraw] + (u[0] * (high_y - low_y + 1)[redraw]).long()
            nx[redraw] = low_x[redraw] + (u[1] * (high_x - low_x + 1)[redraw]).long()
            redraw = (ny == ys) & (nx == xs)
        masked[n, :, ys, xs] = images[n, :, ny, nx]
        mask[n, 0, ys, xs] = True
    return masked, mask
