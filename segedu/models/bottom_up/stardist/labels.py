"""Checking the label images that every StarDist function takes.

A label image is an ``(H, W)`` integer array (numpy) or tensor (torch): 0 is background, every other
value the id of one object. Ids need not be consecutive (``{0, 3, 17}`` is fine).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_label_image"]


def as_label_image(instances: torch.Tensor | np.ndarray, name: str = "instances") -> np.ndarray:
    """Return ``instances`` as an ``(H, W)`` int64 numpy array, or raise a ``ValueError`` naming
    the problem.

    Accepts numpy arrays and torch tensors of any integer dtype (and bool); rejects other ranks,
    float dtypes (a float "label" image is usually a probability map passed by mistake) and
    negative ids.
    """
    if isinstance(instances, torch.Tensor):
        if instances.is_floating_point() or instances.is_complex():
            raise ValueError(f"{name} must be an integer label image, got a tensor of dtype "
                             f"{instances.dtype}")
        array = instances.detach().cpu().numpy()
    elif isinstance(instances, np.ndarray):
        if not (np.issubdtype(instances.dtype, np.integer) or instances.dtype == np.bool_):
            raise ValueError(f"{name} must be an integer label image, got an array of dtype "
                             f"{instances.dtype}")
        array = instances
    else:
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got "
                        f"{type(instances).__name__}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) label image, got shape {tuple(array.shape)}")
    array = array.astype(np.int64, copy=False)
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must not contain negative ids, found {int(array.min())}")
    return array
