"""Bringing images and label maps into the one layout matplotlib draws: numpy ``(H, W, 3)``.

PyTorch stores images channels-first ``(C, H, W)``; matplotlib's ``imshow`` wants channels-last
``(H, W, 3)``. Every drawing function of :mod:`segedu.viz` goes through :func:`to_numpy_image`
and :func:`to_numpy_labels`, so each accepts tensors and arrays alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["to_numpy_image", "to_numpy_labels"]


def _as_numpy(array: Any, name: str) -> np.ndarray:
    """A tensor (any subclass, any device) or an array -> numpy array."""
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().as_subclass(torch.Tensor).numpy()
    if isinstance(array, np.ndarray):
        return array
    raise TypeError(f"{name} must be a torch.Tensor or a numpy array, got {type(array).__name__}")


def to_numpy_image(image: Any) -> np.ndarray:
    """An image -> float64 ``(H, W, 3)`` RGB in ``[0, 1]``.

    Accepts a torch tensor ``(3, H, W)``, ``(1, H, W)`` or ``(H, W)``, or a numpy array
    ``(H, W, 3)``, ``(H, W, 1)`` or ``(H, W)``; float values must lie in ``[0, 1]``, uint8 values
    are divided by 255. Grey images are repeated into three channels.
    """
    is_tensor = isinstance(image, torch.Tensor)
    array = _as_numpy(image, "image")
    # 1. channels last: a tensor is (C, H, W), an array (H, W, C)
    if is_tensor and array.ndim == 3:
        if array.shape[0] not in (1, 3):
            raise ValueError(
                f"image tensor must be (3, H, W), (1, H, W) or (H, W), got {array.shape}"
            )
        array = array.transpose(1, 2, 0)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        layout = "(3, H, W), (1, H, W) or (H, W)" if is_tensor else "(H, W, 3), (H, W, 1) or (H, W)"
        raise ValueError(f"image must have shape {layout}, got {tuple(image.shape)}")
    # 2. values in [0, 1]
    if array.dtype == np.uint8:
        array = array / 255.0
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
            raise ValueError(
                f"image values must lie in [0, 1], got [{np.nanmin(array):.3g}, "
                f"{np.nanmax(array):.3g}] (undo a mean/std normalisation first)"
            )
    else:
        raise ValueError(f"image must be float in [0, 1] or uint8, got dtype {array.dtype}")
    # 3. grey -> RGB
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array


def to_numpy_labels(labels: Any, *, name: str = "labels", ndim: int | None = 2) -> np.ndarray:
    """An integer or bool label map (tensor or array) -> numpy array with ``ndim`` dims
    (any number when ``ndim`` is None); ``name`` is quoted in errors."""
    array = _as_numpy(labels, name)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise ValueError(f"{name} must hold integer or bool labels, got dtype {array.dtype}")
    return array
