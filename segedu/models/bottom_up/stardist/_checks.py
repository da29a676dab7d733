"""Argument checks shared by the modules of :mod:`segedu.models.bottom_up.stardist` (private to
the package)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["_check_n_rays", "_numpy"]


def _check_n_rays(n_rays: int) -> int:
    if isinstance(n_rays, bool) or not isinstance(n_rays, int | np.integer) or n_rays < 3:
        raise ValueError(
            f"n_rays must be an integer >= 3 (a polygon needs 3 vertices), got {n_rays!r}")
    return int(n_rays)


def _numpy(x: torch.Tensor | np.ndarray | Sequence, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as error:  # e.g. ragged lists
        raise TypeError(f"{name} must be an array or a tensor ({error})") from None
