r"""PCA of patch features, shown as colours: the figure of DINOv2 (Oquab et al., 2023, Fig. 1).

All patches of all images are stacked into one matrix :math:`X \in \mathbb{R}^{M \times D}`, centred
on their mean, and projected on the first principal directions (the top right-singular vectors of
the centred matrix, via ``torch.linalg.svd``). Fitting *jointly* over the images gives them a common
colour code: matching parts get matching colours. Each of the 3 projections is rescaled to [0, 1]
by its minimum and maximum over all patches and used as R, G, B.

**Signs.** A principal direction is defined up to its sign. We fix it as scikit-learn's ``PCA``
(``svd_flip(..., u_based_decision=False)``): in each direction, the coordinate of largest absolute
value is made positive (the first such coordinate on ties). Our scores then equal
``sklearn.decomposition.PCA(n_components).fit_transform(X)`` (tested), signs included.

**Foreground only.** On DINO features the first component usually separates the object from the
background. With ``foreground_threshold``, :func:`pca_foreground_mask` keeps the patches whose
first component, rescaled to [0, 1], is above the threshold (below it with
``foreground_above=False``: which side is the object depends on the sign and on the images, so look
at the first component once); the PCA is then fitted again on those patches only and the
background is shown black, as in DINOv2's demonstration.
"""

from __future__ import annotations

import torch

__all__ = ["pca", "pca_rgb", "pca_foreground_mask"]


def _check_features(features: torch.Tensor) -> torch.Tensor:
    """Features must be a float tensor ``(B, h, w, D)`` (one image ``(h, w, D)`` is accepted)."""
    if not isinstance(features, torch.Tensor):
        raise TypeError("features must be a torch.Tensor (B, h, w, D), got "
                        f"{type(features).__name__}")
    if not features.is_floating_point():
        raise TypeError(f"features must be floating point, got dtype {features.dtype}")
    if features.ndim == 3:
        features = features[None]
    if features.ndim != 4 or features.shape[-1] < 1 or features.shape[0] < 1:
        raise ValueError(f"features must have shape (B, h, w, D), got {tuple(features.shape)}")
    return features


def pca(points: torch.Tensor, n_components: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of ``points (M, D)``: ``(scores (M, n), components (n, D), mean (D,))``.

    ``scores = (points - mean) @ components.T``; components are orthonormal, by decreasing
    variance, signs fixed as scikit-learn (see the module docstring).
    """
    if points.ndim != 2:
        raise ValueError(f"points must have shape (M, D), got {tuple(points.shape)}")
    m, d = points.shape
    if not 1 <= n_components <= min(m, d):
        raise ValueError(f"n_components must be in 1..min(M, D) = {min(m, d)}, got {n_components}")
    # 1. centre the points
    mean = points.mean(dim=0)
    centred = points - mean
    # 2. principal directions: the top right-singular vectors of the centred matrix
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)
    components = vt[:n_components]
    # 3. signs: the largest |coordinate| of each direction becomes positive
    largest = components.abs().argmax(dim=1)
    signs = torch.sign(components[torch.arange(n_components), largest])
    components = components * signs[:, None]
    # 4. coordinates of the points along the directions
    return centred @ components.T, components, mean


def _min_max(x: torch.Tensor) -> torch.Tensor:
    """Rescale each column of ``x (M, n)`` to [0, 1] by its minimum and maximum (constant: 0)."""
    low, high = x.min(dim=0).values, x.max(dim=0).values
    return (x - low) / torch.where(high > low, high - low, torch.ones_like(high))


def pca_foreground_mask(
    features: torch.Tensor, *, threshold: float = 0.5, foreground_above: bool = True
) -> torch.Tensor:
    """Boolean ``(B, h, w)``: patches whose first principal component, rescaled to [0, 1] over all
    patches of all images, is above ``threshold`` (below it if ``foreground_above=False``)."""
    features = _check_features(features)
    b, h, w, d = features.shape
    first = _min_max(pca(features.reshape(-1, d), 1)[0])[:, 0]
    mask = first > threshold if foreground_above else first < threshold
    return mask.reshape(b, h, w)


def pca_rgb(
    features: torch.Tensor,
    n_components: int = 3,
    *,
    foreground_threshold: float | None = None,
    foreground_above: bool = True,
) -> torch.Tensor:
    """Colours ``(B, h, w, n_components)`` in [0, 1] from patch features ``(B, h, w, D)``.

    Args:
        features: patch features of ``B`` images (e.g. :func:`~.patch_features.patch_features`).
        n_components: number of principal components, one per output channel (3 for RGB).
        foreground_threshold: if given, fit the PCA on the foreground patches only
            (:func:`pca_foreground_mask`) and return 0 (black) on the background.
        foreground_above: which side of the threshold is the foreground.
    """
    features = _check_features(features)
    b, h, w, d = features.shape
    points = features.reshape(-1, d)
    if foreground_threshold is None:
        keep = torch.ones(len(points), dtype=torch.bool, device=points.device)
    else:
        keep = pca_foreground_mask(
            features, threshold=foreground_threshold, foreground_above=foreground_above
        ).reshape(-1)
        if keep.sum() < n_components:
            raise ValueError(
                f"only {int(keep.sum())} foreground patches for {n_components} components; "
                f"change foreground_threshold ({foreground_threshold}) or foreground_above"
            )
    # 1. joint PCA over the kept patches of all images
    scores = pca(points[keep], n_components)[0]
    # 2. each component rescaled to [0, 1] over those patches: a colour channel
    colours = points.new_zeros(len(points), n_components)
    colours[keep] = _min_max(scores)
    # 3. back onto the patch grids (the background stays 0)
    return colours.reshape(b, h, w, n_components)
