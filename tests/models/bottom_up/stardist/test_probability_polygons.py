"""Object probability vs ``stardist.utils.edt_prob``; polygons vs ``stardist.geometry``."""

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi
from stardist.geometry import dist_to_coord, polygons_to_label, relabel_image_stardist, star_dist
from stardist.utils import _edt_prob_scipy, edt_prob

from segedu.data.synthetic_cells import SyntheticCells
from segedu.metrics import matching
from segedu.models.bottom_up.stardist import (
    object_probability,
    rays_to_polygons,
    render_polygons,
    render_star_polygons,
    star_distances,
)


@pytest.mark.parametrize("seed", range(4))
def test_probability_equal_to_edt_prob_on_random_labels(seed):
    """Non-consecutive ids (multiples of 3), touching objects, objects on the border."""
    labels = np.random.default_rng(seed).integers(0, 5, size=(17, 19)) * 3
    np.testing.assert_array_equal(object_probability(labels).numpy(), edt_prob(labels))
    np.testing.assert_array_equal(object_probability(labels).numpy(), _edt_prob_scipy(labels))


def test_probability_equal_on_synthetic_cells_and_edge_cases():
    labels = SyntheticCells(size=64, length=1, seed=0)[0][1]["instances"]
    np.testing.assert_array_equal(object_probability(labels).numpy(), edt_prob(labels.numpy()))
    empty = np.zeros((6, 7), np.int64)
    np.testing.assert_array_equal(object_probability(empty).numpy(), edt_prob(empty))
    one_pixel = empty.copy()
    one_pixel[3, 3] = 7
    np.testing.assert_array_equal(object_probability(one_pixel).numpy(), edt_prob(one_pixel))
    assert object_probability(one_pixel)[3, 3] == pytest.approx(1.0)
    # one object everywhere: background assumed around it, with a warning
    constant = np.full((5, 6), 4)
    with pytest.warns(UserWarning, match="constant"):
        ours = object_probability(constant).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(ours, edt_prob(constant))


def test_image_border_is_not_background():
    """A band cut by the image's left border: distances grow towards the border (the object goes on
    beyond it), unlike an EDT with background padded around the image."""
    labels = np.zeros((9, 10), np.int64)
    labels[2:7, :6] = 1
    prob = object_probability(labels).numpy()
    assert prob[4, 0] == pytest.approx(1.0)  # the border pixel is the "deepest" one
    padded = ndi.distance_transform_edt(np.pad(labels, 1))[1:-1, 1:-1]
    assert padded[4, 0] < padded[4, 2]  # what a "border is background" EDT would say instead


def test_rays_to_polygons_equal_to_dist_to_coord():
    rng = np.random.default_rng(0)
    dist = rng.uniform(0, 12, (7, 32)).astype(np.float32)
    for points in (rng.integers(0, 50, (7, 2)), rng.uniform(0, 50, (7, 2))):
        ours = rays_to_polygons(dist, points).numpy()
        np.testing.assert_array_equal(ours, dist_to_coord(dist, points))
    single = rays_to_polygons(dist[0], points[0]).numpy()
    np.testing.assert_array_equal(single, dist_to_coord(dist[:1], points[:1]))


@pytest.mark.parametrize("n", [0, 1, 5, 30])
def test_render_equal_to_polygons_to_label(n):
    """Overlapping random polygons: the highest probability on top, label = input index + 1."""
    rng = np.random.default_rng(n)
    dist = rng.uniform(0, 12, (n, 16)).astype(np.float32)
    points = rng.integers(-3, 43, (n, 2))  # some centres outside the image
    prob = rng.uniform(size=n)
    ours = render_star_polygons(dist, points, prob, (40, 45)).numpy()
    np.testing.assert_array_equal(ours, polygons_to_label(dist, points, (40, 45), prob=prob))
    if n:
        coords = rays_to_polygons(dist, points)
        np.testing.assert_array_equal(render_polygons(coords, prob, (40, 45)).numpy(), ours)


def test_highest_score_wins():
    coords = rays_to_polygons(np.full((2, 8), 5.0), np.array([[10, 10], [10, 13]]))
    assert render_polygons(coords, np.array([0.9, 0.1]), (21, 25))[10, 12] == 1
    assert render_polygons(coords, np.array([0.1, 0.9]), (21, 25))[10, 12] == 2


def test_reconstruction_from_own_star_distances():
    """Each object rendered as the star polygon of its own distances at its centre pixel (the
    deepest pixel, max of the object probability) gives the label image back: the nuclei of
    SyntheticCells are star-convex. Also equal to StarDist's ``relabel_image_stardist`` up to the
    centre (StarDist uses the rounded-down centroid), compared by matching accuracy."""
    for index in range(3):
        labels = SyntheticCells(size=128, length=3, seed=0)[index][1]["instances"].numpy()
        dist = star_distances(labels, 32).numpy()  # (R, H, W)
        prob = object_probability(labels).numpy()
        ids = [i for i in np.unique(labels) if i]
        centres = np.array([np.unravel_index(np.argmax(np.where(labels == i, prob, -1)),
                                             labels.shape) for i in ids])
        rendered = render_star_polygons(dist[:, centres[:, 0], centres[:, 1]].T, centres, None,
                                        labels.shape)
        assert matching(labels, rendered, thresh=0.5)["accuracy"] >= 0.95
        reference = relabel_image_stardist(labels, 32)
        assert matching(labels, reference, thresh=0.5)["accuracy"] >= 0.95
        np.testing.assert_array_equal(star_dist(labels, 32).transpose(2, 0, 1), dist)


def test_bad_polygon_inputs():
    with pytest.raises(ValueError, match="dist"):
        rays_to_polygons(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="centers"):
        rays_to_polygons(np.zeros((3, 8)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="coords"):
        render_polygons(np.zeros((3, 8)), None, (5, 5))
