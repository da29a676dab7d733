"""Label-image helpers of the Cellpose post-processing: input checks and renumbering.

Cellpose renumbers its masks with ``fastremap.renumber``: the ids ``1, 2, ...`` are given in the
order in which the objects are *first met* in a row-major scan of the image (``0`` stays
background). :func:`renumber` does the same, so that segedu's masks are equal to Cellpose's, not
only equal up to a relabelling.
"""

from __future__ import annotations

import torch

__all__ = ["check_instances", "renumber"]


def check_instances(instances: torch.Tensor, name: str = "instances") -> torch.Tensor:
    """Check that ``instances`` is an ``(H, W)`` integer label image with ids >= 0; return it."""
    if not isinstance(instances, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (H, W), got "
                        f"{type(instances).__name__}")
    if instances.dim() != 2:
        raise ValueError(f"{name} must be an (H, W) label image, got shape "
                         f"{tuple(instances.shape)}")
    if (instances.dtype.is_floating_point or instances.dtype.is_complex
        or instances.dtype == torch.bool):
        raise TypeError(
            f"{name} must have an integer dtype (0 background, 1..K objects), got {instances.dtype}"
        )
    if instances.numel() and int(instances.min()) < 0:
        raise ValueError(f"{name} must be >= 0 (0 is background), got a minimum of "
                         f"{int(instances.min())}")
    return instances


def renumber(labels: torch.Tensor) -> torch.Tensor:
    """Relabel ``labels`` (any shape, ints >= 0) to ``1..K`` in order of first appearance.

    The first object met in a row-major scan becomes 1, the next new one 2, ...; 0 stays 0
    (``fastremap.renumber``'s order). Returns an int64 tensor of the same shape.
    """
    flat = labels.reshape(-1).long()
    ids, inverse = torch.unique(flat, return_inverse=True)  # sorted ids, and each pixel's slot
    # first position of every id in the scan
    first = torch.full((len(ids),), flat.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(flat.numel()), reduce="amin")
    # objects (id > 0) ranked by first position get 1..K; the background keeps 0
    new_ids = torch.zeros(len(ids), dtype=torch.long)
    objects = (ids > 0).nonzero().squeeze(1)
    order = objects[torch.argsort(first[objects])]
    new_ids[order] = torch.arange(1, len(order) + 1)
    return new_ids[inverse].reshape(labels.shape)
