r"""The dynamic convolution of SOLOv2: each instance's mask is the shared mask features
convolved with that instance's own, predicted, 1x1 kernel.

For a grid cell :math:`(i, j)` with kernel :math:`G_{i,j} \in \mathbb{R}^{E}` (the kernel
branch's output there) and the mask features :math:`F \in \mathbb{R}^{E \times h \times w}`,
the paper's central equation is

.. math:: M_{i,j} = G_{i,j} * F, \qquad M_{i,j}[y, x] = \sum_{e=1}^{E} G_{i,j}[e]\, F[e, y, x],

a 1x1 convolution whose weights were *made for this instance* (a "dynamic kernel"): at every
pixel, the dot product of the kernel with the pixel's :math:`E` features. For ``n`` kernels
at once this is one matrix product, ``(n, E) @ (E, h * w)``: the same arithmetic as
``F.conv2d(features[None], kernels[:, :, None, None])``, which the tests use to check it. The
paper's published models use 1x1 kernels with :math:`E = 256`; this module keeps to 1x1.
"""

from __future__ import annotations

import torch

__all__ = ["dynamic_masks"]


def dynamic_masks(mask_features: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Mask logits ``(n, h, w)`` of ``n`` dynamic 1x1 kernels ``(n, E)`` applied to one image's
    mask features ``(E, h, w)``."""
    if mask_features.ndim != 3 or kernels.ndim != 2 or kernels.shape[1] != mask_features.shape[0]:
        raise ValueError(f"need mask_features (E, h, w) and kernels (n, E) with the same E, got "
                         f"{tuple(mask_features.shape)} and {tuple(kernels.shape)}")
    channels, height, width = mask_features.shape
    # every pixel's E features as a column: (E, h * w); one row of weights per kernel
    masks = kernels @ mask_features.reshape(channels, height * width)  # (n, h * w)
    return masks.reshape(len(kernels), height, width)
