"""segedu.ops.roi_pool (readable reference and torchvision dispatch) against
torchvision.ops.roi_pool."""

import pytest
import torch
import torchvision.ops as tvo

from segedu.ops import roi_pool, roi_pool_bins, roi_pool_reference

SCALES = [1.0, 0.5, 1 / 16, 0.3]


def random_case(seed, dtype):
    """Feature maps, (K, 5) rois in image pixels, output size and spatial scale.

    Boxes reach up to 4 feature cells outside the map, some are tiny (under a cell), some are
    malformed (x2 < x1), and some coordinates sit exactly on half cells (rounding ties).
    """
    g = torch.Generator().manual_seed(seed)
    n, c = int(torch.randint(1, 3, (1,), generator=g)), int(torch.randint(1, 4, (1,), generator=g))
    h, w = (int(v) for v in torch.randint(3, 10, (2,), generator=g))
    scale = SCALES[seed % len(SCALES)]
    k = int(torch.randint(0, 6, (1,), generator=g))
    # corners in feature cells, then back to image pixels
    x1 = torch.rand(k, generator=g, dtype=torch.float64) * (w + 8) - 4
    y1 = torch.rand(k, generator=g, dtype=torch.float64) * (h + 8) - 4
    size = torch.rand(k, 2, generator=g, dtype=torch.float64) * torch.tensor([w, h])
    size[torch.rand(k, generator=g) < 0.2] *= 0.05  # tiny
    size[torch.rand(k, generator=g) < 0.1] *= -1  # malformed
    cells = torch.stack([x1, y1, x1 + size[:, 0], y1 + size[:, 1]], dim=1)
    halves = torch.rand(k, generator=g) < 0.3
    cells[halves] = cells[halves].floor() + 0.5  # exactly half-way: C rounds away from zero
    boxes = cells / scale
    batch = torch.randint(0, n, (k, 1), generator=g).to(torch.float64)
    rois = torch.cat([batch, boxes], dim=1).to(dtype)
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64).to(dtype)
    out = tuple(int(v) for v in torch.randint(1, 5, (2,), generator=g))
    return x, rois, out, scale


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torchvision(dtype):
    # 2 dtypes x 60 seeds = 120 random cases; a max is exact, so the results are equal exactly
    for seed in range(60):
        x, rois, out, scale = random_case(seed, dtype)
        expected = tvo.roi_pool(x, rois, out, scale)
        ours = roi_pool_reference(x, rois, out, scale)
        torch.testing.assert_close(ours, expected, rtol=0, atol=0, msg=f"seed {seed}")
        torch.testing.assert_close(
            roi_pool(x, rois, out, scale, implementation="reference"), expected, rtol=0, atol=0
        )
        torch.testing.assert_close(roi_pool(x, rois, out, scale), expected, rtol=0, atol=0)


def test_list_of_boxes_format():
    for seed in range(10):
        x, rois, out, scale = random_case(seed, torch.float64)
        per_image = [rois[rois[:, 0] == i, 1:] for i in range(len(x))]
        ordered = torch.cat([rois[rois[:, 0] == i] for i in range(len(x))])  # rois grouped by image
        expected = tvo.roi_pool(x, ordered, out, scale)
        torch.testing.assert_close(
            roi_pool_reference(x, per_image, out, scale), expected, rtol=0, atol=0
        )
        torch.testing.assert_close(roi_pool(x, per_image, out, scale), expected, rtol=0, atol=0)
        assert torch.equal(tvo.roi_pool(x, per_image, out, scale), expected)


def test_gradients_match_torchvision():
    for seed in range(6):
        x, rois, out, scale = random_case(seed, torch.float64)
        x_ours = x.clone().requires_grad_()
        x_theirs = x.clone().requires_grad_()
        weights = torch.randn(len(rois), x.shape[1], *out, dtype=torch.float64)
        (roi_pool_reference(x_ours, rois, out, scale) * weights).sum().backward()
        (tvo.roi_pool(x_theirs, rois, out, scale) * weights).sum().backward()
        torch.testing.assert_close(x_ours.grad, x_theirs.grad, rtol=0, atol=1e-14)


def test_by_hand():
    # f(y, x) = 4 y + x on a 4x4 map; the box [0, 0, 3, 3] covers cells 0..3 inclusive (4x4),
    # so a 2x2 output has 2x2-cell bins, whose maxima are at their bottom-right cells:
    # (1, 1) -> 5, (1, 3) -> 7, (3, 1) -> 13, (3, 3) -> 15
    f = torch.arange(16.0).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0.0, 0.0, 0.0, 3.0, 3.0]])
    assert roi_pool_reference(f, rois, 2).tolist() == [[[[5.0, 7.0], [13.0, 15.0]]]]
    # a 3-cell region (cells 1..3) into 2 bins: bin size 1.5, bins [floor(0), ceil(1.5)) = 0..1
    # and [floor(1.5), ceil(3)) = 1..2 relative to cell 1: rows/cols 1-2 and 2-3 (they overlap)
    rois = torch.tensor([[0.0, 1.0, 1.0, 3.0, 3.0]])
    # maxima at (2, 2) -> 10, (2, 3) -> 11, (3, 2) -> 14, (3, 3) -> 15
    assert roi_pool_reference(f, rois, 2).tolist() == [[[[10.0, 11.0], [14.0, 15.0]]]]
    # spatial_scale 1/16: image pixel 48 is cell 3
    rois = torch.tensor([[0.0, 0.0, 0.0, 48.0, 48.0]])
    assert roi_pool_reference(f, rois, 2, spatial_scale=1 / 16).tolist() == [
        [[[5.0, 7.0], [13.0, 15.0]]]
    ]
    for rois in (torch.tensor([[0.0, 1.0, 1.0, 3.0, 3.0]]),):
        assert torch.equal(roi_pool_reference(f, rois, 2), tvo.roi_pool(f, rois, 2))


def test_rounding_is_half_away_from_zero():
    # f(y, x) = x on a 1x5 map. A box at x = 2.5 (one cell wide, rounded) reads column 3 with C's
    # round (2.5 -> 3); torch.round would read column 2 (halves to even)
    f = torch.arange(5.0).reshape(1, 1, 1, 5)
    rois = torch.tensor([[0.0, 2.5, 0.0, 2.5, 0.0]])
    assert roi_pool_reference(f, rois, 1).item() == 3.0
    assert tvo.roi_pool(f, rois, 1).item() == 3.0
    # 0.5 -> 1 as well (to even would give 0)
    rois = torch.tensor([[0.0, 0.5, 0.0, 0.5, 0.0]])
    assert roi_pool_reference(f, rois, 1).item() == 1.0 == tvo.roi_pool(f, rois, 1).item()


def test_empty_bins_and_regions():
    f = torch.randn(1, 2, 4, 4) + 10  # all values far from 0
    # a box wholly outside the map: every bin is clipped away and gives 0
    rois = torch.tensor([[0.0, 20.0, 20.0, 25.0, 25.0]])
    assert roi_pool_reference(f, rois, 3).eq(0).all()
    # a malformed box (x2 < x1) becomes a single cell at its rounded top-left corner
    rois = torch.tensor([[0.0, 2.0, 1.0, 0.0, 0.0]])
    assert torch.equal(roi_pool_reference(f, rois, 1), f[:, :, 1:2, 2:3])
    # no boxes at all
    assert roi_pool_reference(f, torch.zeros(0, 5), (2, 3)).shape == (0, 2, 2, 3)
    assert roi_pool_reference(f, [torch.zeros(0, 4)], (2, 3)).shape == (0, 2, 2, 3)


def test_bad_inputs_give_clear_errors():
    x = torch.randn(2, 1, 4, 4)
    rois = torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match=r"\(K, 5\) tensor .* got shape \(1, 4\)"):
        roi_pool_reference(x, rois[:, 1:], 2)
    with pytest.raises(ValueError, match="list of 1 tensors but input holds 2 images"):
        roi_pool_reference(x, [rois[:, 1:]], 2)
    with pytest.raises(ValueError, match=r"boxes\[1\] must have shape \(L, 4\)"):
        roi_pool(x, [rois[:, 1:], rois], 2)
    with pytest.raises(TypeError, match="same dtype"):
        roi_pool_reference(x, rois.double(), 2)
    with pytest.raises(ValueError, match=r"batch indices .* \[0, 1\], got values in \[5"):
        roi_pool(x, torch.tensor([[5.0, 0.0, 0.0, 2.0, 2.0]]), 2)
    with pytest.raises(ValueError, match=r"input must have shape \(N, C, H, W\)"):
        roi_pool_reference(x[0], rois, 2)
    with pytest.raises(TypeError, match="floating-point"):
        roi_pool_reference(x.long(), rois, 2)
    with pytest.raises(ValueError, match="output_size must be positive"):
        roi_pool_reference(x, rois, (0, 2))
    with pytest.raises(TypeError, match="output_size must be an int or a pair"):
        roi_pool_reference(x, rois, 2.5)
    with pytest.raises(ValueError, match="implementation must be one of"):
        roi_pool(x, rois, 2, implementation="cuda")


def test_roi_pool_bins_are_the_cells_pooled():
    """roi_pool_bins, the cells the reference maxes over (and the figures draw): the max over
    each bin is torchvision's output."""
    g = torch.Generator().manual_seed(5)
    feature = torch.rand(1, 1, 9, 11, generator=g)
    box = torch.tensor([2.0, 3.5, 29.0, 33.0])  # image pixels, scale 1/4
    rows, cols = roi_pool_bins(box, (3, 2), 0.25, (9, 11))
    maxima = torch.tensor([[feature[0, 0, top:bottom, left:right].max() for left, right in cols]
                           for top, bottom in rows])
    assert torch.equal(maxima, tvo.roi_pool(feature, [box[None]], (3, 2), 0.25)[0, 0])
    with pytest.raises(ValueError, match=r"\(4,\) tensor"):
        roi_pool_bins(box[:3], 2, 1.0, (9, 11))
