"""segedu.classical.kmeans against scikit-learn's KMeans, and the k-means++ seeding distribution."""

import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from segedu.classical.kmeans import kmeans, kmeans_plusplus, kmeans_segmentation


@pytest.mark.parametrize("tol", [0.0, 1e-4])
def test_lloyd_matches_sklearn_from_the_same_initial_centres(tol):
    """Same start, same Lloyd iterations -> same assignments and centres.

    scikit-learn subtracts the data mean before fitting and adds it back, and computes the
    distances as ||x||^2 - 2 x.c + ||c||^2: the centres agree to float64 rounding (1e-10), and
    the assignments exactly (random continuous data has no ties).
    """
    for seed in range(12):
        rng = np.random.default_rng(seed)
        k = int(rng.integers(1, 7))
        x, _ = make_blobs(n_samples=300, centers=int(rng.integers(2, 6)),
                          n_features=int(rng.integers(1, 5)),
                          cluster_std=1.5, random_state=seed)
        init = x[kmeans_plusplus(x, k, seed=seed)]
        centres, assignments = kmeans(x, k, init=init, tol=tol)
        ref = KMeans(n_clusters=k, init=init, n_init=1, tol=tol, algorithm="lloyd").fit(x)
        assert assignments.dtype == np.int64 and assignments.shape == (300,)
        np.testing.assert_array_equal(assignments, ref.labels_)
        np.testing.assert_allclose(centres, ref.cluster_centers_, rtol=0, atol=1e-10)


def test_kmeans_default_init_and_torch_input():
    x, truth = make_blobs(n_samples=200, centers=3, cluster_std=0.3, random_state=0)
    centres, assignments = kmeans(torch.from_numpy(x), 3, seed=1)
    ref = KMeans(n_clusters=3, n_init=10, random_state=0).fit(x)
    # well separated blobs: the same partition (up to a permutation of the labels)
    assert len({(a, b) for a, b in zip(assignments, ref.labels_, strict=True)}) == 3
    np.testing.assert_allclose(np.sort(centres[:, 0]), np.sort(ref.cluster_centers_[:, 0]),
                               atol=1e-10)


def test_kmeans_plusplus_first_centre_is_uniform():
    """First index over 4000 seeds: chi-square against the uniform distribution on 6 points."""
    points = np.array([[0.0], [1.0], [3.0], [7.0], [8.0], [20.0]])
    firsts = [kmeans_plusplus(points, 1, seed=s)[0] for s in range(4000)]
    counts = np.bincount(firsts, minlength=6)
    assert chisquare(counts).pvalue > 1e-3


def test_kmeans_plusplus_next_centre_proportional_to_squared_distance():
    """Given the first centre, the second is drawn with probability D^2 / sum D^2.

    The same chi-square test rejects a probability proportional to D (not squared): the test
    can tell the two apart with these counts.
    """
    points = np.array([[0.0], [1.0], [3.0], [7.0], [8.0], [20.0]])
    pairs = np.array([kmeans_plusplus(points, 2, seed=s) for s in range(6000)])
    pvalues, pvalues_wrong = [], []
    for first in range(6):
        second = pairs[pairs[:, 0] == first, 1]
        counts = np.bincount(second, minlength=6)
        d = np.abs(points[:, 0] - points[first, 0])
        assert counts[first] == 0  # D = 0: never chosen again
        keep = d > 0
        expected = d[keep] ** 2 / (d[keep] ** 2).sum() * counts.sum()
        pvalues.append(chisquare(counts[keep], expected).pvalue)
        wrong = d[keep] / d[keep].sum() * counts.sum()
        pvalues_wrong.append(chisquare(counts[keep], wrong).pvalue)
    assert min(pvalues) > 1e-3
    assert max(pvalues_wrong) < 1e-6


def test_kmeans_plusplus_duplicate_points_and_k_equal_n():
    points = np.zeros((5, 2))  # every D is 0 after the first centre: uniform draws
    assert len(set(kmeans_plusplus(points, 5, seed=0))) <= 5
    distinct = np.arange(8.0)[:, None]
    assert sorted(kmeans_plusplus(distinct, 8, seed=3)) == list(range(8))


def test_kmeans_segmentation_two_colours_and_position():
    image = np.zeros((20, 30, 3))
    image[:, 15:] = [1.0, 0.0, 0.0]  # a black half and a red half
    labels = kmeans_segmentation(image, 2)
    assert labels.dtype == np.int64 and labels.shape == (20, 30)
    assert (labels[:, :15] == 1).all() and (labels[:, 15:] == 2).all()  # 1 = darker cluster
    # grey, torch (C, H, W): a flat image split by position only
    flat = torch.full((1, 10, 40), 0.5)
    split = kmeans_segmentation(flat, 2, position_weight=1.0)
    assert set(np.unique(split[:, :15])) | set(np.unique(split[:, 25:])) == {1, 2}
    assert len(np.unique(split[:, :15])) == 1 and len(np.unique(split[:, 25:])) == 1


def test_kmeans_errors():
    with pytest.raises(ValueError, match="k must be >= 1"):
        kmeans(np.zeros((4, 2)), 0)
    with pytest.raises(ValueError, match="larger than the number of points"):
        kmeans(np.zeros((4, 2)), 5)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        kmeans(np.zeros(4), 2)
    with pytest.raises(ValueError, match="init must have shape"):
        kmeans(np.zeros((4, 2)), 2, init=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="init must be"):
        kmeans(np.zeros((4, 2)), 2, init="kmeans")
