r"""Per-pixel regression targets from a label image: signed distance maps and centre offsets.

Both are computed on the CPU with NumPy/SciPy from an ``(H, W)`` instance label image (0 is
background, objects have any positive ids, not necessarily consecutive).

**Signed distance map** (:func:`signed_distance_map`). Touching objects share a boundary, so a
single distance transform of the foreground would run across it; the map is made per object:

- *inside* object :math:`k`, pixel :math:`i` gets :math:`d_k(i)`, the Euclidean distance (in
  pixels) to the nearest pixel of the image that is *not* in :math:`k` (background or another
  object). It is at least 1 and is largest at the object's "centre". With ``normalise=True`` it
  is divided by its maximum over the object, giving values in :math:`(0, 1]` with 1 at the
  centre: StarDist's object probabilities (``stardist.edt_prob``), the same for small and large
  objects.
- *outside* (background pixel :math:`i`): :math:`-d(i)`, minus the distance to the nearest pixel
  of any object, optionally clipped at ``clip`` pixels. With ``normalise=True`` it is divided by
  ``clip``, or without a clip by the largest background distance of the image, giving values in
  :math:`[-1, 0)`.

So the sign tells inside from outside and the map never takes the value 0, except in one case:
an image without objects has no distance to an object, and its map is all zeros (the convention
of Xue et al.'s ``compute_sdf`` for SDM regression, AAAI 2020).

The image border is *not* a boundary: an object cut by the border is assumed to go on beyond it
(as in StarDist), so its inside distances count only pixels of the image. An image filled by one
object has no pixel outside it; then, as StarDist does, it is taken as surrounded by background.

**Centre offsets** (:func:`center_offsets`). Pixel :math:`i` of object :math:`k` gets the vector
:math:`c_k - x_i` (pixels) from itself to the object's centroid :math:`c_k` (the mean of its
pixel coordinates), and background pixels get 0: the target of the offset regression of spatial
embeddings (Neven et al., CVPR 2019), Panoptic-DeepLab or EmbedSeg. Channel 0 is x (columns),
channel 1 is y (rows), as the coordinate map of :mod:`.coordinates`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import ndimage as ndi

__all__ = ["signed_distance_map", "center_offsets"]


def _label_array(instances: Any) -> np.ndarray:
    """The ``(H, W)`` int64 NumPy copy of a label image (tensor or array), checked."""
    if isinstance(instances, torch.Tensor):
        array = instances.detach().cpu().as_subclass(torch.Tensor).numpy()
    elif isinstance(instances, np.ndarray):
        array = instances
    else:
        raise TypeError("instances must be a tensor or a NumPy array, got "
                        f"{type(instances).__name__}")
    if array.ndim != 2:
        raise ValueError(f"instances must be an (H, W) label image, got shape {tuple(array.shape)}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"instances must hold integer instance ids (0 = background), got dtype {array.dtype}; "
            "label a binary mask first (e.g. scipy.ndimage.label)"
        )
    if array.size and array.min() < 0:
        raise ValueError(f"instance ids must be >= 0 (0 = background), got {array.min()}")
    return array.astype(np.int64, copy=False)


def _like(result: np.ndarray, instances: Any) -> Any:
    """Return a tensor when the input was a tensor, a NumPy array otherwise."""
    return torch.from_numpy(result) if isinstance(instances, torch.Tensor) else result


def signed_distance_map(instances: Any, *, normalise: bool = True,
                        clip: float | None = None) -> Any:
    """The signed distance map of an instance label image (definition in the module docstring).

    Args:
        instances: ``(H, W)`` integer label image (tensor or NumPy array), 0 = background.
        normalise: divide the inside distances by their maximum per object (to ``(0, 1]``) and the
            outside ones by ``clip`` or by their maximum (to ``[-1, 0)``).
        clip: largest outside distance, in pixels (``None``: no clip).

    Returns:
        ``(H, W)`` float32, a tensor for a tensor input and an array for an array.
    """
    lab = _label_array(instances)
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be a positive distance in pixels or None, got {clip}")
    if not lab.any():  # no object: no distance to one (all zeros, see the module docstring)
        return _like(np.zeros(lab.shape, dtype=np.float32), instances)

    # 1. inside: per object, the distance to the nearest pixel of the image outside it
    padded = bool(lab.min() > 0 and lab.min() == lab.max())  # one object fills the image
    work = np.pad(lab, 1) if padded else lab  # then: background around it, as StarDist
    sdm = np.zeros(work.shape, dtype=np.float64)
    for k, box in enumerate(ndi.find_objects(work), start=1):
        if box is None:  # id k is not in the image
            continue
        # Grow the bounding box by one pixel where it is not at the image border: the grown
        # ring lies outside the object, so the nearest outside pixel of every object pixel is
        # in the grown box, and the distance transform of the small box is exact.
        grown = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n))
                      for s, n in zip(box, work.shape, strict=True))
        mask = work[grown] == k  # (h, w) the object in its grown box
        inside = ndi.distance_transform_edt(mask)  # distance to the nearest non-object pixel
        if normalise:
            inside = inside / inside.max()  # 1 at the object's farthest-from-boundary pixel
        sdm[grown][mask] = inside[mask]
    if padded:
        sdm = sdm[1:-1, 1:-1]

    # 2. outside: minus the distance to the nearest object pixel (of any object)
    background = lab == 0
    if background.any():
        outside = ndi.distance_transform_edt(background)  # 0 on objects, >= 1 on the background
        if clip is not None:
            outside = np.minimum(outside, clip)
        if normalise:
            outside = outside / (clip if clip is not None else outside.max())
        sdm[background] = -outside[background]
    return _like(sdm.astype(np.float32), instances)


def center_offsets(instances: Any) -> Any:
    """Per pixel, the vector (pixels) to the centroid of its object; 0 on the background.

    Args:
        instances: ``(H, W)`` integer label image (tensor or NumPy array), 0 = background.

    Returns:
        ``(2, H, W)`` float32 ``(dx, dy)``: ``[0]`` along the columns (x), ``[1]`` along the rows
        (y); a tensor for a tensor input and an array for an array.
    """
    lab = _label_array(instances)
    offsets = np.zeros((2, *lab.shape), dtype=np.float64)
    ids, index = np.unique(lab, return_inverse=True)  # index: each pixel's position in ids
    index = index.reshape(lab.shape)
    rows, cols = np.indices(lab.shape, dtype=np.float64)  # (H, W) each
    # 1. centroids: the mean row and column of each id's pixels (one bincount per axis)
    counts = np.bincount(index.ravel(), minlength=len(ids))
    center_x = np.bincount(index.ravel(), weights=cols.ravel(), minlength=len(ids)) / counts
    center_y = np.bincount(index.ravel(), weights=rows.ravel(), minlength=len(ids)) / counts
    # 2. each pixel's vector to its own object's centroid; none on the background
    offsets[0] = center_x[index] - cols
    offsets[1] = center_y[index] - rows
    offsets[:, lab == 0] = 0.0
    return _like(offsets.astype(np.float32), instances)
