"""segedu.classical.mean_shift against sklearn.cluster.MeanShift(bin_seeding=False)."""

import numpy as np
import pytest
import torch
from sklearn.cluster import MeanShift
from sklearn.datasets import make_blobs

from segedu.classical.mean_shift import mean_shift, mean_shift_segmentation


def same_up_to_permutation(a, b):
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("bandwidth", [0.8, 1.5, 3.0])
def test_mean_shift_matches_sklearn(bandwidth):
    """Random blobs (2-4 features): same modes (1e-9; the means are summed in another order than
    numpy's ``mean``) and the same labels up to permutation (in fact in the same order)."""
    for seed in range(3):
        x, _ = make_blobs(n_samples=100, centers=4, n_features=2 + seed % 3, cluster_std=0.8,
                          random_state=seed)
        modes, labels = mean_shift(x, bandwidth)
        ref = MeanShift(bandwidth=bandwidth, bin_seeding=False).fit(x)
        assert labels.dtype == np.int64 and labels.shape == (100,)
        assert modes.shape == ref.cluster_centers_.shape
        np.testing.assert_allclose(modes, ref.cluster_centers_, rtol=0, atol=1e-9)
        assert same_up_to_permutation(labels, ref.labels_)


def test_mean_shift_edge_cases():
    # one point; duplicated points; torch input
    modes, labels = mean_shift(np.array([[1.0, 2.0]]), 1.0)
    np.testing.assert_array_equal(modes, [[1.0, 2.0]])
    np.testing.assert_array_equal(labels, [0])
    x = np.array([[0.0], [0.0], [0.0], [10.0], [10.0]])
    modes, labels = mean_shift(torch.from_numpy(x), 1.0)
    ref = MeanShift(bandwidth=1.0).fit(x)
    np.testing.assert_allclose(modes, ref.cluster_centers_)
    np.testing.assert_array_equal(labels, ref.labels_)
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        mean_shift(x, 0.0)
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        mean_shift_segmentation(np.zeros((4, 4)), range_bandwidth=-1)


def test_mean_shift_segmentation_separates_two_colours():
    image = np.zeros((30, 40, 3))
    image[:, 20:] = [0.0, 0.6, 0.0]
    labels = mean_shift_segmentation(image, spatial_bandwidth=50.0, range_bandwidth=10.0)
    assert labels.dtype == np.int64 and labels.shape == (30, 40)
    assert len(np.unique(labels)) == 2 and labels.min() == 1
    assert len(np.unique(labels[:, :20])) == 1 and labels[0, 0] != labels[0, 39]
    # shrunk first (30x40 -> 17x23 pixels, anti-aliased: the column on the edge is a blend of
    # the two colours, farther than range_bandwidth from both, and forms a third mode), then back
    # to full size by nearest neighbour
    small = mean_shift_segmentation(image, spatial_bandwidth=50.0, range_bandwidth=10.0,
                                    max_pixels=400)
    assert small.shape == (30, 40) and len(np.unique(small)) == 3
    assert (small[:, :18] == small[0, 0]).all() and (small[:, 22:] == small[0, 39]).all()
    assert small[0, 0] != small[0, 39]
