r"""Marker-controlled watershed, and the distance-transform watershed that splits touching nuclei.

**Watershed as a priority flood** (Beucher & Meyer 1993, "The morphological approach to
segmentation: the watershed transformation"; Meyer's flooding algorithm). Think of the
``surface`` as a landscape and of each marker as a spring. Water rises from all springs at
once; where two floods meet, a basin boundary forms. With a priority queue:

1. push every marker pixel onto the queue with priority ``(surface height, age 0)``;
2. pop the pixel with the lowest priority;
3. each of its neighbours (4-connectivity by default, 8 with ``connectivity=2``) that lies in
   the ``mask`` and has no label yet takes the popped pixel's label *now* and is pushed with
   priority ``(max(its own height, the popped priority), age)``, ``age`` a counter that grows
   with every push. The ``max`` is the water level: a pixel lower than the pass through which
   the flood reached it is flooded at the pass's level, not at its own (a flood never goes
   down hill in the queue);
4. repeat from 2 until the queue is empty.

A pixel is labelled when it is first *reached*: the flood comes from whichever labelled
neighbour leaves the queue first. Pixels outside the ``mask`` stay 0; so do pixels that no
marker can reach.

**Ties** (equal heights, plateaus). The queue orders first by height, then by age: among equal
heights, the pixel pushed first leaves first (first in, first out), so on a plateau the floods
advance in rings at the same speed and meet half way. This is scikit-image's rule (its
``watershed`` orders by ``(value, age)`` in ``_watershed_cy.pyx``, raises a pushed value to the
value of the pixel it came from, labels at push time, and visits
the neighbours in the order up, left, right, down, then the diagonals up-left, up-right,
down-left, down-right). One more detail matters to get *exactly* its result: every marker has
age 0, so markers of equal height tie completely, and which one leaves the queue first is
decided by the layout of the binary heap (pushes in raster order, sift-up and sift-down with
strict comparisons), not by insertion order. :func:`watershed` therefore writes that binary
heap out (``_Heap``) instead of using Python's ``heapq``, whose sift-down visits equal items
in another order; the tests show the results are then identical to scikit-image's, pixel for
pixel, on surfaces with many ties.

**Distance-transform watershed** (the classical way to split touching nuclei; e.g. Malpica et
al. 1997, "Applying watershed algorithms to the segmentation of clustered nuclei", Cytometry):

1. foreground: the given mask, or Otsu's threshold (Otsu 1979) of the intensity image;
2. Euclidean distance transform :math:`d(p)` = distance from foreground pixel ``p`` to the
   nearest background pixel (large in the middle of a nucleus, small at a neck between two);
3. markers: local maxima of :math:`d` at least ``min_distance`` pixels apart
   (``skimage.feature.peak_local_max``), one label per connected group of peaks;
4. watershed of :math:`-d` from those markers, restricted to the foreground.

:func:`distance_transform_watershed` uses scikit-image's compiled watershed on this hot path
(``implementation="skimage"``, proven equal to :func:`watershed` in the tests) and the readable
one with ``implementation="reference"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import threshold_otsu
from skimage.segmentation import watershed as skimage_watershed

from ._checks import _to_numpy, as_grey, as_mask

__all__ = ["watershed", "distance_transform_watershed", "IMPLEMENTATIONS"]

IMPLEMENTATIONS = ("skimage", "reference")

# neighbour offsets (row, col) in scikit-image's order: the 4 nearest, then the diagonals
_NEIGHBOURS = {
    1: [(-1, 0), (0, -1), (0, 1), (1, 0)],
    2: [(-1, 0), (0, -1), (0, 1), (1, 0), (-1, -1), (-1, 1), (1, -1), (1, 1)],
}


class _Heap:
    """A binary min-heap of ``(height, age, pixel)`` items compared on ``(height, age)``.

    Written out (rather than ``heapq``) to break complete ties exactly as scikit-image's heap
    does: push appends and sifts up while the item is *strictly* smaller than its parent; pop
    takes the root, moves the last item to the root and sifts it down, swapping with the left
    child if strictly smaller, then with the right child if strictly smaller than that.
    """

    def __init__(self) -> None:
        self.items: list[tuple[float, int, int]] = []

    def __len__(self) -> int:
        return len(self.items)

    def push(self, item: tuple[float, int, int]) -> None:
        items = self.items
        items.append(item)
        child = len(items) - 1
        # sift up: swap with the parent while strictly smaller
        while child > 0:
            parent = (child - 1) // 2
            if items[child][:2] < items[parent][:2]:
                items[child], items[parent] = items[parent], items[child]
                child = parent
            else:
                break

    def pop(self) -> tuple[float, int, int]:
        items = self.items
        top = items[0]
        last = items.pop()
        if not items:
            return top
        # move the last item to the root, then sift it down
        items[0] = last
        i, n = 0, len(items)
        while True:
            left, right, smallest = 2 * i + 1, 2 * i + 2, i
            if left >= n:
                break
            if items[left][:2] < items[i][:2]:
                smallest = left
            if right < n and items[right][:2] < items[smallest][:2]:
                smallest = right
            if smallest == i:
                break
            items[i], items[smallest] = items[smallest], items[i]
            i = smallest
        return top


def watershed(
    surface: Any, markers: Any, mask: Any = None, *, connectivity: int = 1
) -> np.ndarray:
    """Marker-controlled watershed by priority flood (readable version, see the module docstring).

    Args:
        surface: ``(H, W)`` heights (numpy or torch, any real dtype); low is flooded first.
        markers: ``(H, W)`` integer labels, nonzero at the springs (any ids, negative too).
        mask: optional ``(H, W)`` bool; only pixels in it are labelled (markers outside are
            dropped, as in scikit-image).
        connectivity: 1 for the 4-neighbourhood (scikit-image's default), 2 for 8.

    Returns:
        int64 ``(H, W)`` label image, equal to ``skimage.segmentation.watershed(surface,
        markers, mask=mask, connectivity=connectivity)``.
    """
    heights = _to_numpy("surface", surface)
    if heights.ndim != 2:
        raise ValueError(f"surface must be 2-D (H, W), got shape {tuple(heights.shape)}")
    if not (np.issubdtype(heights.dtype, np.number) or heights.dtype == np.bool_):
        raise TypeError(f"surface must hold real numbers, got dtype {heights.dtype}")
    heights = heights.astype(np.float64)
    labels = _to_numpy("markers", markers)
    if labels.shape != heights.shape:
        raise ValueError(
            f"markers must have the shape of surface {tuple(heights.shape)}, got "
            f"{tuple(labels.shape)}"
        )
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise TypeError(f"markers must hold integer labels, got dtype {labels.dtype}")
    inside = np.ones(heights.shape, bool) if mask is None else as_mask(mask)
    if inside.shape != heights.shape:
        raise ValueError(
            f"mask must have the shape of surface {tuple(heights.shape)}, got {tuple(inside.shape)}"
        )
    if connectivity not in _NEIGHBOURS:
        raise ValueError("connectivity must be 1 (4-neighbours) or 2 (8-neighbours), got "
                         f"{connectivity}")
    h, w = heights.shape
    output = labels.astype(np.int64) * inside  # markers outside the mask are dropped
    heap = _Heap()
    # 1. every marker pixel enters the queue with age 0, in raster order
    for pixel in np.flatnonzero(output):
        heap.push((heights.flat[pixel], 0, int(pixel)))
    age = 1
    while len(heap):
        # 2. the lowest pixel (then the oldest) leaves the queue; `level` is its water level
        level, _, pixel = heap.pop()
        r, c = divmod(pixel, w)
        for dr, dc in _NEIGHBOURS[connectivity]:
            rr, cc = r + dr, c + dc
            # 3. an unlabelled neighbour in the mask takes the label and joins the queue at
            #    its own height, or at the water level if that is higher
            if 0 <= rr < h and 0 <= cc < w and inside[rr, cc] and output[rr, cc] == 0:
                age += 1
                output[rr, cc] = output[r, c]
                heap.push((max(heights[rr, cc], level), age, rr * w + cc))
    return output


def distance_transform_watershed(
    image: Any,
    *,
    min_distance: int = 3,
    threshold: float | None = None,
    footprint: np.ndarray | None = None,
    connectivity: int = 1,
    implementation: str = "skimage",
) -> np.ndarray:
    """Split a foreground into objects: watershed of the negated distance transform.

    Args:
        image: a bool ``(H, W)`` foreground mask, used as it is; or an intensity image (numpy
            ``(H, W)`` / ``(H, W, 3)``, torch ``(H, W)`` / ``(C, H, W)`` in ``[0, 1]``; colour is
            converted to grey) whose foreground is the pixels brighter than ``threshold``.
        min_distance: the least distance in pixels between two markers (``peak_local_max``).
        threshold: intensity threshold; ``None`` uses Otsu's threshold of the image.
        footprint: optional bool window of ``peak_local_max`` (overrides ``min_distance``'s
            square window for the maximum filter).
        connectivity: of the watershed flood, 1 (4-neighbours) or 2 (8-neighbours).
        implementation: ``"skimage"`` (compiled, default) or ``"reference"`` (:func:`watershed`).

    Returns:
        int64 ``(H, W)`` label image: 0 background, objects ``1..K``.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    if isinstance(min_distance, bool) or not isinstance(min_distance, int) or min_distance < 1:
        raise ValueError(f"min_distance must be a positive integer, got {min_distance!r}")
    raw = _to_numpy("image", image)
    if raw.dtype == np.bool_:
        # 1a. a mask is the foreground itself
        foreground = as_mask(raw, name="image")
    else:
        # 1b. an intensity image: foreground = brighter than the (Otsu) threshold
        grey = as_grey(image)
        if threshold is None:
            threshold = float(threshold_otsu(grey)) if grey.min() < grey.max() else grey.max()
        foreground = grey > threshold
    if not foreground.any():
        return np.zeros(foreground.shape, np.int64)
    # 2. Euclidean distance from each foreground pixel to the background
    distance = ndi.distance_transform_edt(foreground)
    # 3. markers: local maxima of the distance, min_distance apart, in every component
    components, _ = ndi.label(foreground)
    peaks = peak_local_max(
        distance, min_distance=min_distance, footprint=footprint, labels=components,
        exclude_border=False,
    )
    peak_image = np.zeros(foreground.shape, bool)
    peak_image[tuple(peaks.T)] = True
    markers, _ = ndi.label(peak_image, structure=np.ones((3, 3)))  # touching peaks: one marker
    # 4. flood -distance from the markers, inside the foreground only
    if implementation == "reference":
        return watershed(-distance, markers, foreground, connectivity=connectivity)
    labels = skimage_watershed(-distance, markers, mask=foreground, connectivity=connectivity)
    return labels.astype(np.int64)

