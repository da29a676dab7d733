"""Input checks shared by the classical segmentation methods.

Every method of :mod:`segedu.classical` takes an image in one of the forms a course notebook
has at hand, and turns it into a float64 numpy array with :func:`as_float_image`:

- a numpy array ``(H, W)`` (grey) or ``(H, W, 3)`` (colour, channels last, as scikit-image);
- a torch tensor ``(H, W)`` or ``(C, H, W)`` with ``C`` in {1, 3} (channels first, as the rest
  of segedu and torchvision), values in ``[0, 1]``.

Floats are kept as they are; unsigned and signed integers are scaled to ``[0, 1]`` as
``skimage.util.img_as_float`` does (``uint8`` divided by 255); ``bool`` becomes 0/1. A wrong
type or dtype raises ``TypeError``; a wrong shape, an empty image or a non-finite value raises
``ValueError``. Parameters are checked here too (``k >= 1``, positive bandwidths).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from skimage.color import rgb2gray, rgb2lab
from skimage.util import img_as_float

__all__ = [
    "as_float_image",
    "as_grey",
    "as_mask",
    "as_points",
    "check_k",
    "check_positive",
    "colour_features",
]


def _to_numpy(name: str, image: Any) -> np.ndarray:
    """A numpy array or a torch tensor as numpy (a torch ``(C, H, W)`` becomes ``(H, W, C)``)."""
    if isinstance(image, torch.Tensor):
        array = image.detach().cpu().as_subclass(torch.Tensor).numpy()
        if array.ndim == 3:
            if array.shape[0] not in (1, 3):
                raise ValueError(
                    f"{name}: a 3-D torch tensor must be (C, H, W) with C = 1 or 3 channels first, "
                    f"got shape {tuple(array.shape)}"
                )
            array = np.moveaxis(array, 0, -1)  # (C, H, W) -> (H, W, C)
        return array
    if isinstance(image, np.ndarray):
        return image
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(image).__name__}")


def as_float_image(image: Any, *, name: str = "image") -> np.ndarray:
    """The image as float64 numpy: ``(H, W)`` grey or ``(H, W, 3)`` colour.

    Args:
        image: numpy ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``; or torch ``(H, W)`` or
            ``(C, H, W)`` with ``C`` in {1, 3}, in ``[0, 1]``. Integer dtypes are scaled to
            ``[0, 1]`` (``uint8 / 255``), ``bool`` becomes 0/1.
        name: the argument's name, for error messages.

    Returns:
        float64 ``(H, W)`` or ``(H, W, 3)`` (a single channel is squeezed).
    """
    array = _to_numpy(name, image)
    if array.dtype == np.bool_:
        array = array.astype(np.float64)
    elif np.issubdtype(array.dtype, np.integer):
        array = img_as_float(array).astype(np.float64)  # uint8 / 255, uint16 / 65535, ...
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    else:
        raise TypeError(f"{name} must hold real numbers (float, int or bool), got dtype "
                        f"{array.dtype}")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]  # (H, W, 1) -> (H, W)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(
            f"{name} must be grey (H, W) or colour (H, W, 3) (torch: (C, H, W)), "
            f"got shape {tuple(array.shape)}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(array.shape)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def as_grey(image: Any, *, name: str = "image") -> np.ndarray:
    """float64 ``(H, W)``: the image itself if grey, its luminance (``rgb2gray``) if colour."""
    array = as_float_image(image, name=name)
    return rgb2gray(array) if array.ndim == 3 else array


def colour_features(image: np.ndarray) -> np.ndarray:
    """Per-pixel colour in CIELAB, ``(H, W, C)`` float64 with ``C`` = 3 (colour) or 1 (grey).

    CIELAB is (nearly) perceptually uniform: a Euclidean distance in it means about the same
    visible difference everywhere, which is what k-means and mean shift measure. A colour image
    gives ``(L, a, b)`` with ``L`` in ``[0, 100]``; a grey image gives ``L = 100 * intensity``,
    the lightness on the same scale, so bandwidths mean the same for both.
    """
    if image.ndim == 3:
        return rgb2lab(np.clip(image, 0.0, 1.0))
    return 100.0 * image[..., None]


def as_mask(mask: Any, *, name: str = "mask") -> np.ndarray:
    """A binary mask as bool numpy ``(H, W)``: bool, or integers holding only 0 and 1."""
    array = _to_numpy(name, mask)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D mask (H, W), got shape {tuple(array.shape)}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: shape {tuple(array.shape)}")
    if array.dtype == np.bool_:
        return array
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must be bool (or 0/1 integers), got dtype {array.dtype}")
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1; use a bool array for a mask")
    return array.astype(bool)


def as_points(points: Any, *, name: str = "points") -> np.ndarray:
    """Points as float64 numpy ``(N, D)`` with ``N >= 1``, ``D >= 1``, all finite."""
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    if not isinstance(points, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got "
                        f"{type(points).__name__}")
    if not (np.issubdtype(points.dtype, np.floating) or np.issubdtype(points.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {points.dtype}")
    if points.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {tuple(points.shape)}")
    if points.shape[0] == 0 or points.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(points.shape)}")
    points = points.astype(np.float64)
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return points


def check_k(k: Any, *, n: int | None = None, name: str = "k") -> int:
    """``k`` is an integer ``>= 1`` (and ``<= n`` when the number of points ``n`` is given)."""
    if isinstance(k, bool) or not isinstance(k, Integral):
        raise TypeError(f"{name} must be an integer, got {k!r}")
    if k < 1:
        raise ValueError(f"{name} must be >= 1, got {k}")
    if n is not None and k > n:
        raise ValueError(f"{name} = {k} is larger than the number of points ({n})")
    return int(k)


def check_positive(name: str, value: Any) -> float:
    """``value`` is a finite real number ``> 0`` (a bandwidth, a sigma, a radius)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return float(value)
