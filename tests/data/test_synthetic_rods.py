"""SyntheticRods (thin, bent, touching rods) and the Gaussian noise of the cell generators."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi
from skimage.measure import regionprops

from segedu.data import SyntheticCells, SyntheticRods, validate_sample
from segedu.data.synthetic_cells import touching_pairs
from segedu.data.synthetic_rods import Rod


def _np(t):
    return t.as_subclass(torch.Tensor).numpy()


@pytest.mark.parametrize(("size", "channels"), [(64, 1), ((48, 80), 3)])
def test_items_have_the_sample_format_and_unique_connected_labels(size, channels):
    h, w = (size, size) if isinstance(size, int) else size
    ds = SyntheticRods(size=size, length=3, seed=2, channels=channels)
    for i in range(len(ds)):
        image, target = ds[i]
        validate_sample(image, target)
        assert image.shape == (channels, h, w) and image.dtype == torch.float32
        assert 0 <= image.min() and image.max() <= 1
        labels = _np(target["instances"])
        n = len(target["labels"])
        assert n > 0 and sorted(np.unique(labels[labels > 0])) == list(range(1, n + 1))
        for k in range(1, n + 1):  # every rod is one 4-connected piece of at least min_area
            assert ndi.label(labels == k)[1] == 1 and (labels == k).sum() >= 8
            assert np.array_equal(_np(target["masks"][k - 1]), labels == k)


def test_deterministic_for_seed_and_index():
    a, b = SyntheticRods(size=64, length=4, seed=3), SyntheticRods(size=64, length=4, seed=3)
    assert torch.equal(a[3][0], b[3][0])
    assert torch.equal(a[1][1]["instances"], b[1][1]["instances"])
    assert not torch.equal(a[0][1]["instances"], a[1][1]["instances"])
    assert not torch.equal(a[0][1]["instances"],
                           SyntheticRods(size=64, length=4, seed=4)[0][1]["instances"])


def test_rods_are_elongated_and_touch():
    """The rods' length-to-width ratios are 15 to 45 pixels over 4 to 7 at 128 (about 3 to 12 for a
    straight capsule, less when bent); measured as the ratio of the axes of the ellipse with the
    same second moments (regionprops), on rods that the border and their neighbours leave whole."""
    ds = SyntheticRods(size=128, length=6, seed=5)
    whole, every, touching = [], [], 0
    for i in range(len(ds)):
        labels = _np(ds[i][1]["instances"])
        pairs = touching_pairs(labels)
        touching += len(pairs)
        for region in regionprops(labels):
            top, left, bottom, right = region.bbox
            if top == 0 or left == 0 or bottom == 128 or right == 128:
                continue  # cut by the border
            ratio = region.axis_major_length / region.axis_minor_length
            every.append(ratio)
            if region.label not in pairs:
                whole.append(ratio)
    assert len(whole) >= 10 and all(2.5 <= r <= 12.5 for r in whole)
    assert np.median(every) >= 4
    assert touching >= 3 * len(ds)  # crowded: several touching pairs an image


def test_distance_to_the_centre_line_by_hand_and_by_sampling():
    straight = Rod((10.0, 10.0), 0.0, 8.0, 0.0, 2.0)
    xs, ys = np.array([10.0, 16.0, 12.0]), np.array([11.0, 10.0])
    d = straight.normalised_distance(xs, ys)  # (2 rows, 3 columns)
    # (10, 11): 1 below the line; (16, 10): 2 past the end (14, 10); (12, 11): 1 below
    assert d[0].tolist() == pytest.approx([0.5, math.hypot(2, 1) / 2, 0.5])
    assert d[1].tolist() == pytest.approx([0.0, 1.0, 0.0])
    # a bent rod against the distance to 4,001 points of its centre line (0.0075 pixels apart)
    bent = Rod((30.0, 25.0), 0.7, 30.0, 1 / 12, 3.0)
    rows, cols = bent.window(64, 64)
    xs, ys = np.arange(cols.start, cols.stop) + 0.5, np.arange(rows.start, rows.stop) + 0.5
    line = bent.centre_line(np.linspace(-15, 15, 4_001))
    sampled = np.hypot(xs[None, :, None] - line[None, None, :, 0],
                       ys[:, None, None] - line[None, None, :, 1]).min(axis=2) / 3.0
    np.testing.assert_allclose(bent.normalised_distance(xs, ys), sampled, atol=1e-3)
    # the window holds the whole rod: nothing inside it touches the window's edge
    inside = sampled < 1
    assert not (inside[0].any() or inside[-1].any() or inside[:, 0].any() or inside[:, -1].any())


@pytest.mark.parametrize("make", [SyntheticCells, SyntheticRods])
def test_noise_is_gaussian_of_the_level_asked_and_leaves_the_rest_alone(make):
    clean, noisy = make(size=96, length=2, seed=1), make(size=96, length=2, seed=1, noise=0.1)
    for i in range(2):
        (a, ta), (b, tb) = clean[i], noisy[i]
        assert all(torch.equal(ta[k], tb[k]) for k in ta)  # the labels do not change
        difference = (b - a).as_subclass(torch.Tensor).flatten().double()
        # 9,216 Gaussian values: the sd within 3 %, the mean within 4 standard errors
        assert abs(float(difference.std()) - 0.1) < 0.003
        assert abs(float(difference.mean())) < 4 * 0.1 / 96
        assert float(b.min()) < 0  # not clipped


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(width=(0.05, 0.02)), "width"), (dict(rod_length=(0.1, 1.5)), "rod_length"),
    (dict(bend=-0.1), "bend"), (dict(bend=4.0), "bend"), (dict(noise=-0.1), "noise"),
    (dict(noise=float("nan")), "noise"), (dict(max_cells=2, min_cells=3), "max_cells"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SyntheticRods(**kwargs)
    if name == "noise":
        with pytest.raises(ValueError, match=name):
            SyntheticCells(**kwargs)
