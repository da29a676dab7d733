"""segedu.classical.normalized_cut: eigenvector against scipy's dense solver, Ncut by brute
force."""

import numpy as np
import pytest
import scipy.linalg

from segedu.classical.normalized_cut import (
    best_split,
    ncut_eigenvector,
    ncut_value,
    normalized_cut_segmentation,
    pixel_affinity,
    recursive_ncut,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eigenvector_equals_dense_generalised_eigh(seed):
    """12x12 image (144 nodes: the sparse ARPACK path): y equals the second generalised
    eigenvector of ``scipy.linalg.eigh(D - W, D)`` up to sign and scale."""
    rng = np.random.default_rng(seed)
    image = rng.random((12, 12))
    w = pixel_affinity(image, sigma_i=0.3, sigma_x=4.0, radius=3.0)
    y = ncut_eigenvector(w)
    dense = w.toarray()
    d = np.diag(dense.sum(1))
    values, vectors = scipy.linalg.eigh(d - dense, d)
    assert values[2] - values[1] > 1e-6  # a simple eigenvalue: the eigenvector is unique
    v = vectors[:, 1]
    cosine = abs(v @ d @ y) / np.sqrt((v @ d @ v) * (y @ d @ y))
    assert cosine == pytest.approx(1.0, abs=1e-8)
    # the dense path (tiny graphs) too
    small = pixel_affinity(image[:4, :5], sigma_i=0.3, sigma_x=4.0, radius=2.0)
    ds = np.diag(small.toarray().sum(1))
    vs = scipy.linalg.eigh(ds - small.toarray(), ds)[1][:, 1]
    ys = ncut_eigenvector(small)
    assert (abs(vs @ ds @ ys) / np.sqrt((vs @ ds @ vs) * (ys @ ds @ ys))
            == pytest.approx(1.0, abs=1e-8))


def test_best_split_is_the_brute_force_minimum_over_thresholds():
    """Every threshold between distinct values of y, Ncut computed densely from its definition."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        w = pixel_affinity(rng.random((9, 10)), sigma_i=0.3, sigma_x=3.0, radius=2.5)
        y = ncut_eigenvector(w)
        in_a, ncut, threshold = best_split(w, y)
        dense = w.toarray()

        def brute(a, dense=dense):
            cut = dense[a][:, ~a].sum()
            return cut / dense[a].sum() + cut / dense[~a].sum()

        values = np.unique(y)
        candidates = [brute(y <= t) for t in values[:-1]]
        assert ncut == pytest.approx(min(candidates), rel=1e-10)
        assert ncut == pytest.approx(brute(in_a), rel=1e-10)
        assert ncut == pytest.approx(ncut_value(w, in_a), rel=1e-10)
        np.testing.assert_array_equal(in_a, y <= threshold)


def blobs_image(seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:16, :20]
    first = (yy - 8) ** 2 + (xx - 5) ** 2 < 12
    second = (yy - 8) ** 2 + (xx - 14) ** 2 < 12
    image = 0.1 + 0.8 * first + 0.5 * second + rng.normal(0, 0.03, first.shape)
    return image, first, second


def test_two_blobs_split_exactly():
    image, first, second = blobs_image(0)
    w = pixel_affinity(image, sigma_i=0.2, sigma_x=4.0, radius=3.0)
    # one cut: the bright blob from the rest; two cuts: background, blob 1, blob 2
    two = recursive_ncut(w, n_segments=2).reshape(image.shape)
    np.testing.assert_array_equal(two == two[8, 5], first)
    three = recursive_ncut(w, n_segments=3).reshape(image.shape)
    assert len(np.unique(three)) == 3
    np.testing.assert_array_equal(three == three[8, 5], first)
    np.testing.assert_array_equal(three == three[8, 14], second)
    # the threshold recursion: measured Ncut of the splits, 2e-7 (bright blob), then the second
    # blob, then 0.038 for the best split of the background, 0.48 inside a blob; so 0.02 stops at
    # the same three segments, and 0.05 goes on to split the background
    np.testing.assert_array_equal(recursive_ncut(w, max_ncut=0.02).reshape(image.shape), three)
    assert recursive_ncut(w, max_ncut=0.05).max() > 3


def test_normalized_cut_segmentation_on_superpixels():
    """Blobs of radius ~14 px on a 64x80 image, 60 SLIC superpixels (compactness 1, so that they
    follow the edges): measured fractions of each true region in its main segment 0.997, 1.0,
    0.958 (with compactness 10 only 0.84: square-ish superpixels straddle the blob edges)."""
    image, first, second = blobs_image(1)
    big = np.kron(image, np.ones((4, 4)))  # 64x80, a few dozen superpixels
    labels = normalized_cut_segmentation(big, n_segments=3, n_superpixels=60, compactness=1.0)
    assert labels.dtype == np.int64 and labels.shape == big.shape and labels.min() == 1
    truth = np.kron(first * 1 + second * 2, np.ones((4, 4), int))
    for k in range(3):  # each true region is (almost) one segment
        values, counts = np.unique(labels[truth == k], return_counts=True)
        assert counts.max() / counts.sum() > 0.93


def test_ncut_errors():
    with pytest.raises(ValueError, match="at least 2 nodes"):
        ncut_eigenvector(np.ones((1, 1)))
    with pytest.raises(ValueError, match="positive degree"):
        ncut_eigenvector(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="sigma_i must be positive"):
        pixel_affinity(np.zeros((3, 3)), sigma_i=0)
