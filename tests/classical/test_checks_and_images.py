"""Input checks of segedu.classical, and every method on the real images shipped with
scikit-image."""

import numpy as np
import pytest
import torch
from skimage import data
from skimage.transform import rescale

from segedu.classical import (
    distance_transform_watershed,
    graph_cut_segmentation,
    kmeans_segmentation,
    mean_shift_segmentation,
    normalized_cut_segmentation,
)
from segedu.classical._checks import as_float_image, as_mask, check_k, check_positive

METHODS = {
    "kmeans": lambda im: kmeans_segmentation(im, 3, position_weight=0.5),
    "watershed": lambda im: distance_transform_watershed(im, min_distance=3),
    "graph_cut": lambda im: graph_cut_segmentation(im, lam=2.0),
    "normalized_cut": lambda im: normalized_cut_segmentation(im, n_superpixels=80, n_segments=4),
    "mean_shift": lambda im: mean_shift_segmentation(im, spatial_bandwidth=6.0, range_bandwidth=8.0,
                                                     max_pixels=24 * 24),
}


def small_image(name):
    """The skimage image (offline: shipped with scikit-image), shrunk to about 64 pixels high."""
    image = getattr(data, name)()
    factor = 64 / image.shape[0]
    return rescale(image, factor, channel_axis=-1 if image.ndim == 3 else None, anti_aliasing=True)


@pytest.mark.parametrize("name", ["coins", "cell", "immunohistochemistry"])
def test_every_method_on_skimage_images(name):
    image = small_image(name)
    assert image.dtype == np.float64 and image.shape[0] == 64
    for method_name, method in METHODS.items():
        labels = method(image)
        assert labels.shape == image.shape[:2], method_name
        assert labels.dtype == np.int64, method_name
        assert labels.min() >= 0 and labels.max() >= 1, method_name
    # torch (C, H, W) gives the same labels as numpy (H, W, C)
    tensor = torch.from_numpy(image if image.ndim == 2 else np.moveaxis(image, -1, 0))
    np.testing.assert_array_equal(METHODS["kmeans"](tensor), METHODS["kmeans"](image))


def test_skimage_images_load_offline():
    assert data.coins().shape == (303, 384)
    assert data.cell().shape == (660, 550)
    assert data.immunohistochemistry().shape == (512, 512, 3)


def test_as_float_image_forms():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_allclose(as_float_image(grey), grey / 255)
    colour = np.random.default_rng(0).random((3, 4, 3))
    np.testing.assert_array_equal(as_float_image(torch.from_numpy(colour).permute(2, 0, 1)), colour)
    assert as_float_image(torch.zeros(1, 3, 4)).shape == (3, 4)
    assert as_float_image(np.zeros((3, 4, 1), np.float32)).dtype == np.float64
    assert as_float_image(np.ones((2, 2), bool)).sum() == 4


def test_clear_errors():
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        as_float_image([[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"grey \(H, W\) or colour \(H, W, 3\)"):
        as_float_image(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\(C, H, W\) with C = 1 or 3"):
        as_float_image(torch.zeros(4, 5, 6))
    with pytest.raises(ValueError, match="grey"):
        as_float_image(np.zeros(5))
    with pytest.raises(ValueError, match="empty"):
        as_float_image(np.zeros((0, 4)))
    with pytest.raises(TypeError, match="dtype"):
        as_float_image(np.zeros((2, 2), complex))
    with pytest.raises(ValueError, match="NaN"):
        as_float_image(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="k must be >= 1"):
        check_k(0)
    with pytest.raises(TypeError, match="integer"):
        check_k(2.0)
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        check_positive("bandwidth", -1.0)
    with pytest.raises(ValueError, match="only 0 and 1"):
        as_mask(np.array([[0, 2]]))
    with pytest.raises(TypeError, match="bool"):
        as_mask(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="empty"):
        kmeans_segmentation(np.zeros((0, 3)), 2)
    with pytest.raises(ValueError, match="k must be >= 1"):
        kmeans_segmentation(np.zeros((3, 3)), 0)
