"""The concept figures of segedu.viz draw what the ops compute: each test reads the figure (its
artists, or what the function returns) and checks it against a reference computed here."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from scipy.ndimage import map_coordinates  # noqa: E402

from segedu.viz import draw_roi_sampling  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- RoIAlign against RoIPool


def drawn_points_per_bin(ax) -> list[np.ndarray]:
    """The sampling points drawn on the RoIAlign panel: one ``(n, 2)`` array ``(x, y)`` per
    scatter, in the order drawn (bin by bin, row-major)."""
    return [c.get_offsets().data for c in ax.collections if isinstance(c, PathCollection)]


def bin_means(feature: torch.Tensor, points_per_bin: list[np.ndarray]) -> np.ndarray:
    """The mean bilinear value at each bin's points, by scipy (order-1 spline = bilinear;
    cell ``(i, j)`` is the point ``(i, j)``), independent of segedu."""
    image = feature.double().numpy()
    return np.array([map_coordinates(image, [p[:, 1], p[:, 0]], order=1).mean()
                     for p in points_per_bin])


CASES = [  # feature size, box (x1, y1, x2, y2), bins, samples per bin
    (7, (0.7, 1.3, 4.2, 4.6), 2, 2),
    (12, (1.2, 2.9, 9.6, 8.1), 3, 2),
    (10, (2.0, 1.5, 7.5, 8.75), 2, 3),
]


@pytest.mark.parametrize("size, box, bins, ratio", CASES)
def test_roi_align_points_drawn_average_to_torchvision(size, box, bins, ratio):
    generator = torch.Generator().manual_seed(size)
    feature = torch.rand(size, size, generator=generator)
    box = torch.tensor(box)
    drawn = draw_roi_sampling(feature, box, output_size=bins, sampling_ratio=ratio)
    points = drawn_points_per_bin(drawn.axes[1])
    assert len(points) == bins * bins and all(len(p) == ratio * ratio for p in points)
    # every drawn point lies inside the box, and the points' bilinear means are RoIAlign
    for p in points:
        assert (p[:, 0] > box[0].item()).all() and (p[:, 0] < box[2].item()).all()
        assert (p[:, 1] > box[1].item()).all() and (p[:, 1] < box[3].item()).all()
    expected = torchvision.ops.roi_align(feature[None, None], [box[None]], bins, 1.0, ratio)
    np.testing.assert_allclose(bin_means(feature, points), expected.flatten().numpy(), atol=1e-5)
    np.testing.assert_allclose(drawn.aligned.flatten().numpy(), expected.flatten().numpy(),
                               atol=1e-6)
    # the RoIPool bins drawn: their maxima are torchvision's roi_pool
    maxima = [[feature[top:bottom, left:right].max() for left, right in drawn.pool_cols]
              for top, bottom in drawn.pool_rows]
    expected_pool = torchvision.ops.roi_pool(feature[None, None], [box[None]], bins)[0, 0]
    assert torch.equal(torch.tensor(maxima), expected_pool)
    assert torch.equal(drawn.pooled, expected_pool)


def test_roi_align_check_can_fail():
    """Points half a cell off (the aligned=True convention drawn for aligned=False) do not
    average to torchvision's output: the comparison above would catch a wrong figure."""
    feature = torch.rand(7, 7, generator=torch.Generator().manual_seed(3))
    box = torch.tensor([0.7, 1.3, 4.2, 4.6])
    drawn = draw_roi_sampling(feature, box)
    shifted = [p - 0.5 for p in drawn_points_per_bin(drawn.axes[1])]
    expected = torchvision.ops.roi_align(feature[None, None], [box[None]], 2, 1.0, 2).flatten()
    assert not np.allclose(bin_means(feature, shifted), expected.numpy(), atol=1e-5)


def test_roi_sampling_bad_input():
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        draw_roi_sampling(torch.rand(1, 7, 7), torch.tensor([0.0, 0, 3, 3]))
    with pytest.raises(ValueError, match="at least one cell"):
        draw_roi_sampling(torch.rand(7, 7), torch.tensor([1.0, 1, 1.5, 3]))
    with pytest.raises(ValueError, match=r"\(4,\) tensor"):
        draw_roi_sampling(torch.rand(7, 7), torch.tensor([[1.0, 1, 3, 3]]))
