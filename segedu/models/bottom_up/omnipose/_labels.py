"""Input checks and renumbering of label images for the Omnipose modules."""

from __future__ import annotations

import torch

__all__ = ["check_labels", "renumber_by_first_appearance"]


def check_labels(labels: torch.Tensor, name: str = "labels") -> torch.Tensor:
    """Check that ``labels`` is an ``(H, W)`` integer tensor with ids >= 0 (0 background)."""
    if not isinstance(labels, torch.Tensor) or labels.dim() != 2:
        raise ValueError(f"{name} must be an (H, W) tensor, got "
                         f"{tuple(getattr(labels, 'shape', ())) or type(labels).__name__}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"{name} must have an integer dtype (0 background, 1..K), got "
                        f"{labels.dtype}")
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f"{name} must be >= 0 (0 is background), got {int(labels.min())}")
    return labels


def renumber_by_first_appearance(labels: torch.Tensor) -> torch.Tensor:
    """Ids ``1..K`` in the order objects are first met in a row-major scan (0 stays 0), as
    ``fastremap.renumber``; int64, same shape."""
    flat = labels.reshape(-1).long()
    ids, inverse = torch.unique(flat, return_inverse=True)
    first = torch.full((len(ids),), flat.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(flat.numel()), reduce="amin")
    new = torch.zeros(len(ids), dtype=torch.long)
    objects = torch.nonzero(ids > 0).squeeze(1)
    new[objects[torch.argsort(first[objects])]] = torch.arange(1, len(objects) + 1)
    return new[inverse].reshape(labels.shape)
