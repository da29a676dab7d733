"""Clustering of spatial embeddings: perfect outputs give the label image back; the seed rules."""

from __future__ import annotations

import math

import pytest
import torch

from segedu.data.synthetic_cells import SyntheticCells
from segedu.metrics import matching
from segedu.models.bottom_up.spatial_embedding import SpatialEmbedding, cluster_embeddings

PIXEL = 1.0 / 1023.0


def _q(sigma_pixels: float) -> float:
    """The raw sigma of a bandwidth in pixels: exp(10 q) = 1 / (2 sigma^2)."""
    return math.log(1.0 / (2.0 * (sigma_pixels * PIXEL) ** 2)) / 10.0


def _perfect_outputs(labels: torch.Tensor, sigma_pixels: float = 1.0) -> dict[str, torch.Tensor]:
    """Offsets pointing exactly at each object's centroid, a small constant bandwidth, seed = phi of
    the true instance (computed here, 1 at the exact centre), 0 on the background; (1, C, H, W)."""
    h, w = labels.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    emb = torch.stack([xs, ys]) * PIXEL
    seed = torch.zeros(h, w, dtype=torch.float64)
    s = 1.0 / (2.0 * (sigma_pixels * PIXEL) ** 2)
    for k in labels.unique()[1:]:
        mask = labels == k
        center = torch.stack([xs[mask].mean(), ys[mask].mean()]) * PIXEL
        emb[0][mask], emb[1][mask] = center[0], center[1]
        seed[mask] = torch.exp(-s * ((emb[:, mask] - center[:, None]) ** 2).sum(0))
    sigma = torch.full((1, h, w), _q(sigma_pixels), dtype=torch.float64)
    return {"embeddings": emb[None].float(), "sigma": sigma[None].float(),
            "seed": seed[None, None].float()}


def test_perfect_outputs_give_the_labels_back():
    """On SyntheticCells (many touching nuclei): accuracy >= 0.95 with the default thresholds
    (min_size=10 may drop border slivers), and exactly the same partition with min_size=1."""
    ds = SyntheticCells(size=128, length=3, seed=0)
    for i in range(3):
        labels = ds[i][1]["instances"].as_subclass(torch.Tensor)
        outputs = _perfect_outputs(labels)
        predicted = SpatialEmbedding(depth=1, width=4).postprocess(outputs)[0]
        assert predicted.dtype == torch.int64 and predicted.shape == labels.shape
        assert matching(labels, predicted, thresh=0.5)["accuracy"] >= 0.95
        exact = cluster_embeddings(outputs["embeddings"][0], outputs["sigma"][0],
                                   outputs["seed"][0], min_size=1)
        assert exact.max() == len(labels.unique()) - 1  # consecutive ids 1..K
        pairs = torch.stack([labels.ravel(), exact.ravel()]).unique(dim=1)  # a bijection of the ids
        assert pairs.shape[1] == len(labels.unique()) and (pairs[0] == 0).eq(pairs[1] == 0).all()


def test_seed_order_min_size_and_duplicates():
    """Hand-made: instances come out in the order of their best seed; too small proposals and
    proposals mostly made of clustered pixels make no instance; a low seed makes none."""
    h, w = 4, 10
    emb = torch.zeros(2, h, w)
    emb[0, :, :5] = 2 * PIXEL  # left half: all at x = 2 px
    emb[0, :, 5:] = 50 * PIXEL  # right half: at x = 50 px
    sigma = torch.full((1, h, w), _q(1.0))
    seed = torch.full((1, h, w), 0.8)
    seed[0, 0, 7] = 0.95  # the right half has the best seed: it is instance 1
    labels = cluster_embeddings(emb, sigma, seed)
    assert (labels[:, 5:] == 1).all() and (labels[:, :5] == 2).all()
    # too small (20 pixels < 21): nothing
    assert cluster_embeddings(emb, sigma, seed, min_size=21).max() == 0
    # seeds below the threshold: nothing; below the foreground threshold: background
    assert cluster_embeddings(emb, sigma, seed, seed_thresh=0.9).eq(labels * (labels == 1)).all()
    only_best = cluster_embeddings(emb, sigma, seed, fg_thresh=0.85, min_size=1)
    assert only_best[0, 7] == 1 and only_best.eq(0).sum() == h * w - 1
    # a wide seed on the left takes both halves; the right proposal is then a duplicate
    sigma[0, 0, 0] = _q(60.0)
    seed[0, 0, 0] = 0.99
    assert cluster_embeddings(emb, sigma, seed).eq(1).all()


def test_two_sigma_channels_give_elliptic_proposals():
    """With one bandwidth per axis, a seed narrow in x and wide in y takes a column."""
    h, w = 6, 6
    ys, xs = torch.meshgrid(torch.arange(h) * PIXEL, torch.arange(w) * PIXEL, indexing="ij")
    emb = torch.stack([xs, ys]).float()
    sigma = torch.stack([torch.full((h, w), _q(0.3)), torch.full((h, w), _q(50.0))])
    seed = torch.linspace(0.6, 0.9, w).repeat(h, 1)[None]
    labels = cluster_embeddings(emb, sigma, seed, min_size=1)
    assert (all(labels[:, c].unique().numel() == 1 for c in range(w))
            and labels.unique().numel() == w)


def test_no_foreground():
    labels = cluster_embeddings(torch.zeros(2, 5, 5), torch.zeros(1, 5, 5), torch.zeros(5, 5))
    assert labels.shape == (5, 5) and labels.dtype == torch.int64 and labels.max() == 0


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        cluster_embeddings(torch.zeros(3, 5, 5), torch.zeros(1, 5, 5), torch.zeros(5, 5))
    with pytest.raises(ValueError, match="seed"):
        cluster_embeddings(torch.zeros(2, 5, 5), torch.zeros(1, 5, 5), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="sigma"):
        cluster_embeddings(torch.zeros(2, 5, 5), torch.zeros(3, 5, 5), torch.zeros(5, 5))
    with pytest.raises(TypeError, match="float"):
        cluster_embeddings(torch.zeros(2, 5, 5), torch.zeros(1, 5, 5),
                           torch.zeros(5, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="min_size"):
        cluster_embeddings(torch.zeros(2, 5, 5), torch.zeros(1, 5, 5), torch.zeros(5, 5),
                           min_size=0)
