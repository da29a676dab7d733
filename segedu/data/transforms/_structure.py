"""Finding the target dicts inside whatever a ``transforms.v2`` pipeline is called with.

A ``transforms.v2`` transform may be called as ``t(image, target)``, ``t((image, target))`` or
``t(target)``. Most transforms only look at the tensors (the leaves); the few segedu transforms
that need to know *which* mask is the semantic one or the per-instance one (which ``v2`` cannot
tell, since both are ``tv_tensors.Mask``) find the target dicts with :func:`map_targets`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torchvision import tv_tensors

#: The keys of the common sample format (see :mod:`segedu.data.sample`).
TARGET_KEYS = ("semantic", "masks", "boxes", "labels", "panoptic", "instances", "iscrowd")

#: Keys whose value is a dense map moved by geometric transforms like the image.
MASK_KEYS = ("semantic", "masks", "panoptic", "instances")


def is_target(value: Any) -> bool:
    """True for a dict that holds at least one key of the common sample format."""
    return isinstance(value, Mapping) and any(key in value for key in TARGET_KEYS)


def map_targets(sample: Any, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """Rebuild ``sample`` (nested tuples / lists / dicts) with ``fn`` applied to each target dict.

    ``fn`` receives a shallow copy of the target, so it may replace entries freely; everything
    that is not a target dict is returned as it is.
    """
    # 1. a target dict: hand a copy to ``fn``
    if is_target(sample):
        return fn(dict(sample))
    # 2. a container: recurse into its elements, keeping its type
    if isinstance(sample, tuple | list):
        return type(sample)(map_targets(item, fn) for item in sample)
    if isinstance(sample, Mapping):
        return {key: map_targets(value, fn) for key, value in sample.items()}
    # 3. anything else (the image, a string, ...) is left alone
    return sample


def unpack(inputs: tuple[Any, ...]) -> Any:
    """``forward(*inputs)`` -> the sample, as ``transforms.v2`` does (one argument is unwrapped)."""
    return inputs if len(inputs) > 1 else inputs[0]


def canvas_size(flat_inputs: list[Any]) -> tuple[int, int]:
    """``(H, W)`` of the first image, video, mask or box set among ``flat_inputs``."""
    for inpt in flat_inputs:
        if isinstance(inpt, tv_tensors.BoundingBoxes):
            return tuple(inpt.canvas_size)
        if isinstance(inpt, torch.Tensor) and inpt.ndim >= 2:
            return tuple(inpt.shape[-2:])
    raise ValueError("the sample holds no image, mask or boxes to take the size (H, W) from")
