"""The attention mask of a *shifted* window: tokens that the cyclic shift brought together from
opposite borders of the image must not attend to each other.

Liu et al., ICCV 2021, section 3.2 and Figure 4 ("Efficient batch computation for shifted
configuration"). Every other Swin block shifts its window grid by ``(M/2, M/2)`` so that windows
straddle the previous layer's window borders: information crosses windows. Instead of padding the
extra, smaller windows at the border, the feature map is rolled (``torch.roll``) up and left by
the shift, and the regular grid is used; the windows along the bottom and right edges then mix
pixels from distant parts of the image. The grid is split into 3 x 3 regions (the bulk, the strip
that is a window wide minus the shift, and the strip of ``shift`` that wrapped around), each
numbered; two tokens of a window may attend to each other only when they lie in the same region.
The others get ``-100`` added to their score (the paper's code's value and torchvision's; after the
softmax that weight is about ``exp(-100) = 4e-44`` of the others, nothing).
"""

from __future__ import annotations

import torch

from .windows import window_partition

__all__ = ["shifted_window_mask", "MASKED_SCORE"]

MASKED_SCORE = -100.0  # added to the score of two tokens from different regions


def shifted_window_mask(height: int, width: int, window_size: tuple[int, int],
                        shift_size: tuple[int, int], *, device=None,
                        dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(nW, Mh * Mw, Mh * Mw)``: 0 where two tokens of a window (of the rolled ``height x
    width`` grid, sides multiples of the window's) may attend to each other, -100 elsewhere."""
    mh, mw = window_size
    sh, sw = shift_size
    regions = torch.zeros((1, height, width, 1), device=device, dtype=dtype)
    # the three row bands and three column bands of the rolled grid: bulk, seam, wrapped strip
    row_bands = ((0, -mh), (-mh, -sh), (-sh, None))
    col_bands = ((0, -mw), (-mw, -sw), (-sw, None))
    label = 0
    for r0, r1 in row_bands:
        for c0, c1 in col_bands:
            regions[:, r0:r1, c0:c1, :] = label  # one label per region
            label += 1
    labels = window_partition(regions, window_size).squeeze(-1)  # (nW, Mh*Mw): each token's region
    same = labels[:, None, :] - labels[:, :, None]  # (nW, N, N): 0 when both share a region
    return same.masked_fill(same != 0, MASKED_SCORE).masked_fill(same == 0, 0.0)
