"""Cellpose's whole post-processing: network outputs of one image -> instance label image.

Reference: Stringer et al., "Cellpose: a generalist algorithm for cellular segmentation", Nature
Methods 2021; reference implementation ``cellpose.dynamics.compute_masks`` followed by
``cellpose.utils.fill_holes_and_remove_small_masks`` (what ``CellposeModel.eval`` runs on a 2D
image, through ``resize_and_compute_masks``), cellpose 4.2.1.1.

1. foreground: the pixels whose cell-probability logit exceeds ``cellprob_threshold`` (0.0, i.e.
   probability 0.5);
2. follow the flows ``flows * foreground / 5`` from the foreground pixels for ``n_iter`` steps
   (:func:`.follow.follow_flows`; the network was trained on 5x unit flows);
3. cluster the end points into masks (:func:`.masks.masks_from_positions`);
4. remove the masks whose flow error exceeds ``flow_threshold``
   (:func:`.masks.remove_bad_flow_masks`, on the network's flows, not zeroed;
   ``flow_threshold <= 0`` or ``None`` skips this step);
5. fill holes and remove masks below ``min_size`` pixels
   (:func:`.masks.fill_holes_and_remove_small`).

Not reproduced: Cellpose's image normalisation, rescaling by cell diameter, tiling and test-time
augmentation, which happen before the network, not in the post-processing.
"""

from __future__ import annotations

import torch

from .follow import follow_flows
from .masks import fill_holes_and_remove_small, masks_from_positions, remove_bad_flow_masks

__all__ = ["compute_masks"]


def compute_masks(
    flows: torch.Tensor,
    cellprob: torch.Tensor,
    *,
    n_iter: int = 200,
    cellprob_threshold: float = 0.0,
    flow_threshold: float | None = 0.4,
    min_size: int = 15,
    max_size_fraction: float = 0.4,
) -> torch.Tensor:
    """Masks ``(H, W)`` int64 from the network's ``flows`` ``(2, H, W)`` and ``cellprob`` ``(H, W)``
    logits (see the module docstring for the steps)."""
    if not isinstance(flows, torch.Tensor) or flows.dim() != 3 or flows.shape[0] != 2:
        raise ValueError("flows must be a (2, H, W) tensor, got "
                         f"{tuple(getattr(flows, 'shape', ()))}")
    if not isinstance(cellprob, torch.Tensor) or cellprob.shape != flows.shape[1:]:
        raise ValueError(
            f"cellprob must be an (H, W) tensor of the flows' size {tuple(flows.shape[1:])}, "
            f"got {tuple(getattr(cellprob, 'shape', ()))}"
        )
    flows = flows.detach().float().cpu()
    # 1. the foreground
    foreground = cellprob.detach().cpu() > cellprob_threshold
    if not foreground.any():
        return torch.zeros(foreground.shape, dtype=torch.long)
    # 2. follow the flows (zeroed outside the foreground, back to unit scale)
    positions = follow_flows(flows * foreground / 5.0, foreground, n_iter=n_iter)
    # 3. cluster the end points
    labels = masks_from_positions(positions, foreground, max_size_fraction=max_size_fraction)
    # 4. quality control: masks that do not fit the flows go
    if labels.max() > 0 and flow_threshold is not None and flow_threshold > 0:
        labels = remove_bad_flow_masks(labels, flows, threshold=flow_threshold)
    # 5. clean-up
    return fill_holes_and_remove_small(labels, min_size=min_size)
