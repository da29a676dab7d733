"""Classical (pre-deep-learning) segmentation methods, the baselines of the course.

Each takes an image as numpy ``(H, W)`` / ``(H, W, 3)`` or torch ``(H, W)`` / ``(C, H, W)`` in
``[0, 1]`` and returns an int64 ``(H, W)`` numpy label image:

- :func:`kmeans`, :func:`kmeans_plusplus`, :func:`kmeans_segmentation` (``kmeans.py``): Lloyd's
  k-means with k-means++ seeding; colour (+ position) clustering, labels ``1..k``;
- :func:`watershed`, :func:`distance_transform_watershed` (``watershed.py``): priority-flood
  watershed (equal to scikit-image's) and the distance-transform split of touching nuclei,
  0 background;
- :func:`graph_cut`, :func:`graph_cut_segmentation`, :func:`binary_energy`,
  :func:`potts_weights`, :func:`intensity_unaries` (``graph_cut.py``): Boykov-Jolly s-t min-cut,
  1 foreground, 0 background;
- :func:`pixel_affinity`, :func:`superpixel_affinity`, :func:`ncut_eigenvector`,
  :func:`ncut_value`, :func:`best_split`, :func:`recursive_ncut`,
  :func:`normalized_cut_segmentation` (``normalized_cut.py``): Shi-Malik normalized cut on
  superpixels, labels ``1..K``;
- :func:`mean_shift`, :func:`mean_shift_segmentation` (``mean_shift.py``): flat-kernel mean
  shift (as scikit-learn's) and Comaniciu-Meer joint spatial-range segmentation, labels ``1..K``.
"""

from .graph_cut import (
    binary_energy,
    graph_cut,
    graph_cut_segmentation,
    intensity_unaries,
    potts_weights,
)
from .kmeans import kmeans, kmeans_plusplus, kmeans_segmentation
from .mean_shift import mean_shift, mean_shift_segmentation
from .normalized_cut import (
    best_split,
    ncut_eigenvector,
    ncut_value,
    normalized_cut_segmentation,
    pixel_affinity,
    recursive_ncut,
    superpixel_affinity,
)
from .watershed import distance_transform_watershed, watershed

__all__ = [
    "kmeans",
    "kmeans_plusplus",
    "kmeans_segmentation",
    "watershed",
    "distance_transform_watershed",
    "graph_cut",
    "graph_cut_segmentation",
    "binary_energy",
    "potts_weights",
    "intensity_unaries",
    "pixel_affinity",
    "superpixel_affinity",
    "ncut_eigenvector",
    "ncut_value",
    "best_split",
    "recursive_ncut",
    "normalized_cut_segmentation",
    "mean_shift",
    "mean_shift_segmentation",
]
