"""Segmentation by k-means on DINO's patch features, one image or several at once (co-segmentation).

Caron et al., ICCV 2021 (the self-attention and features of DINO separate objects without labels);
Amir et al., "Deep ViT Features as Dense Visual Descriptors", ECCVW 2022 (k-means on the keys of
the last layer, jointly over a set of images, segments their common object and its parts).

1. the descriptors ``(h, w, D)`` of every patch are L2-normalised (``normalize=True``), so that
   the Euclidean k-means groups them by cosine similarity, the similarity DINO's features are
   made for;
2. k-means (:func:`segedu.classical.kmeans.kmeans`: Lloyd's algorithm, k-means++ seeding) groups
   the patches into ``k`` clusters; in :func:`cosegment` the patches of *all* images are clustered
   together, so a label means the same thing in every image;
3. the clusters are renumbered by decreasing size (label 0 is the cluster with the most patches,
   ties to the lower k-means index), which makes the labels deterministic for a seed;
4. the label grid is upsampled to the image size by nearest neighbour: each patch's label fills
   its ``p x p`` pixels when the size is ``p`` times the grid.

Amir et al. further pick the clusters that are salient in most images (from the class token's
attention) to get a foreground mask; that step is left to the lecture.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ....classical.kmeans import kmeans

__all__ = ["feature_kmeans", "cosegment"]


def _check_one(features: torch.Tensor, name: str) -> torch.Tensor:
    """One image's features ``(h, w, D)`` (a leading batch of 1 is accepted)."""
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (h, w, D), got {type(features).__name__}")
    if not features.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype {features.dtype}")
    if features.ndim == 4 and features.shape[0] == 1:
        features = features[0]
    if features.ndim != 3:
        raise ValueError(f"{name} must have shape (h, w, D) for one image, got "
                         f"{tuple(features.shape)}")
    return features


def _upsample(labels: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Label grid ``(h, w)`` -> ``size (H, W)`` by nearest neighbour (``None``: unchanged)."""
    if size is None:
        return labels
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be (H, W) with positive entries, got {size}")
    grid = labels[None, None].to(torch.float64)
    return F.interpolate(grid, size=tuple(size), mode="nearest")[0, 0].to(torch.int64)


def _cluster(points: torch.Tensor, k: int, *, normalize: bool, seed: int) -> np.ndarray:
    """k-means labels ``(M,)`` of ``points (M, D)``, renumbered by decreasing cluster size."""
    if normalize:  # 1. cosine geometry: descriptors on the unit sphere
        points = F.normalize(points, dim=-1)
    # 2. k-means on all the patches
    _, assignments = kmeans(points.detach().cpu().to(torch.float64).numpy(), k, seed=seed)
    # 3. label 0 = the largest cluster (a stable sort keeps ties in k-means order)
    counts = np.bincount(assignments, minlength=k)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return rank[assignments]


def feature_kmeans(
    features: torch.Tensor, k: int, *, size: tuple[int, int] | None = None, normalize: bool = True,
    seed: int = 0
) -> torch.Tensor:
    """Segment one image into ``k`` clusters of its patch features.

    Args:
        features: ``(h, w, D)`` patch features of one image.
        k: number of segments.
        size: output size ``(H, W)`` (e.g. the image's); ``None`` keeps the patch grid ``(h, w)``.
        normalize: L2-normalise the descriptors first (cosine k-means).
        seed: seed of the k-means++ initialisation.

    Returns:
        int64 labels ``(H, W)`` in ``0..k-1``, 0 the largest segment.
    """
    features = _check_one(features, "features")
    h, w, d = features.shape
    labels = _cluster(features.reshape(-1, d), k, normalize=normalize, seed=seed)
    return _upsample(torch.from_numpy(labels).reshape(h, w), size)


def cosegment(
    features_list: Sequence[torch.Tensor] | torch.Tensor,
    k: int,
    *,
    sizes: Sequence[tuple[int, int]] | tuple[int, int] | None = None,
    normalize: bool = True,
    seed: int = 0,
) -> list[torch.Tensor]:
    """Joint k-means over the patches of several images: the same label means the same cluster
    in all.

    Args:
        features_list: ``(h_i, w_i, D)`` features per image, or one ``(B, h, w, D)`` tensor.
        k: number of clusters.
        sizes: output size per image, one ``(H, W)`` for all, or ``None`` (the patch grids).
        normalize: L2-normalise the descriptors first (cosine k-means).
        seed: seed of the k-means++ initialisation.

    Returns:
        a list of int64 label maps ``(H_i, W_i)`` in ``0..k-1``, 0 the largest cluster overall.
    """
    if isinstance(features_list, torch.Tensor):
        if features_list.ndim != 4:
            raise ValueError("a features tensor must be (B, h, w, D), got "
                             f"{tuple(features_list.shape)}")
        features_list = list(features_list)
    items = [_check_one(f, f"features_list[{i}]") for i, f in enumerate(features_list)]
    if not items:
        raise ValueError("features_list is empty")
    dims = {f.shape[-1] for f in items}
    if len(dims) != 1:
        raise ValueError(f"all images need the same descriptor size D, got {sorted(dims)}")
    if sizes is None or (len(sizes) == 2 and all(isinstance(s, int) for s in sizes)):
        sizes = [sizes] * len(items)  # type: ignore[list-item]
    if len(sizes) != len(items):
        raise ValueError(f"got {len(sizes)} sizes for {len(items)} images")
    # one k-means over the patches of all the images
    points = torch.cat([f.reshape(-1, f.shape[-1]) for f in items])
    labels = torch.from_numpy(_cluster(points, k, normalize=normalize, seed=seed))
    # split the labels back per image, onto each patch grid, and upsample
    out, start = [], 0
    for f, size in zip(items, sizes, strict=True):
        h, w = f.shape[:2]
        out.append(_upsample(labels[start:start + h * w].reshape(h, w), size))
        start += h * w
    return out
