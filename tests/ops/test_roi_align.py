"""segedu.ops.roi_align and bilinear_interpolate against torchvision.ops.roi_align."""

import pytest
import torch
import torchvision.ops as tvo

from segedu.ops import (
    bilinear_interpolate,
    roi_align,
    roi_align_reference,
    roi_align_sampling_points,
)

SCALES = [1.0, 0.5, 1 / 16, 0.3]
SAMPLING = [-1, 0, 1, 2, 3]


def random_case(seed, dtype):
    """Feature maps, (K, 5) rois in image pixels, output size, scale and sampling ratio.

    Boxes reach up to 3 cells beyond the map (so that samples fall past -1 and past H), some are
    tiny (under a cell), some are malformed (x2 < x1) or of zero size.
    """
    g = torch.Generator().manual_seed(seed)
    n, c = int(torch.randint(1, 3, (1,), generator=g)), int(torch.randint(1, 4, (1,), generator=g))
    h, w = (int(v) for v in torch.randint(2, 9, (2,), generator=g))
    scale = SCALES[seed % len(SCALES)]
    k = int(torch.randint(0, 5, (1,), generator=g))
    x1 = torch.rand(k, generator=g, dtype=torch.float64) * (w + 6) - 3
    y1 = torch.rand(k, generator=g, dtype=torch.float64) * (h + 6) - 3
    size = torch.rand(k, 2, generator=g, dtype=torch.float64) * torch.tensor([w, h]) * 1.2
    size[torch.rand(k, generator=g) < 0.2] *= 0.05  # tiny
    size[torch.rand(k, generator=g) < 0.1] *= -1  # malformed
    size[torch.rand(k, generator=g) < 0.05] = 0  # zero size
    cells = torch.stack([x1, y1, x1 + size[:, 0], y1 + size[:, 1]], dim=1)
    batch = torch.randint(0, n, (k, 1), generator=g).to(torch.float64)
    rois = torch.cat([batch, cells / scale], dim=1).to(dtype)
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64).to(dtype)
    out = tuple(int(v) for v in torch.randint(1, 4, (2,), generator=g))
    return x, rois, out, scale, SAMPLING[(seed // 4) % len(SAMPLING)]


@pytest.mark.parametrize("aligned", [False, True])
def test_matches_torchvision_float64(aligned):
    # 2 settings of aligned x 60 seeds = 120 random cases, every sampling ratio and scale
    for seed in range(60):
        x, rois, out, scale, ratio = random_case(seed, torch.float64)
        expected = tvo.roi_align(x, rois, out, scale, ratio, aligned)
        ours = roi_align_reference(x, rois, out, scale, ratio, aligned)
        # same arithmetic up to the order of the sum over a bin's samples
        torch.testing.assert_close(ours, expected, rtol=0, atol=1e-13, msg=f"seed {seed}")
        dispatched = roi_align(x, rois, out, scale, ratio, aligned, implementation="reference")
        torch.testing.assert_close(dispatched, expected, rtol=0, atol=1e-13)
        torch.testing.assert_close(
            roi_align(x, rois, out, scale, ratio, aligned), expected, rtol=0, atol=0
        )


@pytest.mark.parametrize("aligned", [False, True])
def test_matches_torchvision_float32(aligned):
    # the coordinates and weights are computed in float32 as in the kernel; only the summation
    # order differs, so float32 rounding (about 1e-7 relative) is all that separates the two
    for seed in range(20):
        x, rois, out, scale, ratio = random_case(seed, torch.float32)
        expected = tvo.roi_align(x, rois, out, scale, ratio, aligned)
        ours = roi_align_reference(x, rois, out, scale, ratio, aligned)
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)


def test_list_of_boxes_format():
    for seed in range(10):
        x, rois, out, scale, ratio = random_case(seed, torch.float64)
        per_image = [rois[rois[:, 0] == i, 1:] for i in range(len(x))]
        ordered = torch.cat([rois[rois[:, 0] == i] for i in range(len(x))])
        expected = tvo.roi_align(x, ordered, out, scale, ratio, True)
        torch.testing.assert_close(
            roi_align_reference(x, per_image, out, scale, ratio, True), expected, rtol=0, atol=1e-13
        )
        torch.testing.assert_close(
            roi_align(x, per_image, out, scale, ratio, True), expected, rtol=0, atol=0
        )


@pytest.mark.parametrize("aligned", [False, True])
def test_gradients_match_torchvision(aligned):
    for seed in range(4):
        x, rois, out, scale, ratio = random_case(seed + 1, torch.float64)
        x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
        weights = torch.randn(len(rois), x.shape[1], *out, dtype=torch.float64)
        (roi_align_reference(x_ours, rois, out, scale, ratio, aligned) * weights).sum().backward()
        (tvo.roi_align(x_theirs, rois, out, scale, ratio, aligned) * weights).sum().backward()
        torch.testing.assert_close(x_ours.grad, x_theirs.grad, rtol=0, atol=1e-13)


def test_gradcheck():
    # RoIAlign is linear in the input, so the numerical and analytical Jacobians agree
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor(
        [[0.0, 0.3, -0.7, 4.2, 3.9], [0.0, 2.0, 1.0, 6.5, 5.5]], dtype=torch.float64
    )
    assert torch.autograd.gradcheck(
        lambda t: roi_align_reference(t, rois, (2, 3), 1.0, -1, True), (x,)
    )


def test_bilinear_interpolate_by_hand():
    # f(y, x) = 2 y + x on a 2x3 map: bilinear interpolation reproduces a linear function exactly
    f = (2 * torch.arange(2.0)[:, None] + torch.arange(3.0)[None, :])[None]  # (1, 2, 3)
    assert bilinear_interpolate(f, 0.5, 0.25).tolist() == [1.25]  # 2 * 0.5 + 0.25
    assert bilinear_interpolate(f, 0.75, 1.5).tolist() == [3.0]  # 1.5 + 1.5
    # inside [-1, 0): clamped to row / column 0
    assert bilinear_interpolate(f, -0.5, -1.0).tolist() == [0.0]  # read as (0, 0)
    # beyond the last row (y > H - 1 = 1) but not beyond H = 2: the last row, f(1, x) = 2 + x
    assert bilinear_interpolate(f, 1.5, 0.5).tolist() == [2.5]
    assert bilinear_interpolate(f, 2.0, 3.0).tolist() == [4.0]  # y = H, x = W: still inside
    # outside: y < -1, y > H, x > W
    for y, x in ((-1.01, 1.0), (2.01, 1.0), (1.0, 3.01), (float("nan"), 1.0)):
        assert bilinear_interpolate(f, y, x).tolist() == [0.0]
    # tensors of coordinates: (C, *S)
    ys, xs = torch.tensor([[0.5, 1.0]]), torch.tensor([[0.25, 2.0]])
    assert bilinear_interpolate(f, ys, xs).tolist() == [[[1.25, 4.0]]]


def test_roi_align_by_hand():
    # f(y, x) = 2 y + x on a 4x4 map; box [0, 0, 2, 2], one 1x1 bin, 2x2 samples
    f = (2 * torch.arange(4.0)[:, None] + torch.arange(4.0)[None, :])[None, None]
    rois = torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0]])
    # aligned=False: samples at y, x in {0.5, 1.5}: mean of 2 y + x = 2 * 1 + 1 = 3
    assert roi_align_reference(f, rois, 1, 1.0, 2, False).item() == 3.0
    # aligned=True shifts everything by -0.5: samples at {0, 1}: 2 * 0.5 + 0.5 = 1.5
    assert roi_align_reference(f, rois, 1, 1.0, 2, True).item() == 1.5
    # a zero-size box: aligned=False forces it to 1x1 starting at (1, 1), one sample at its
    # centre (1.5, 1.5): 2 * 1.5 + 1.5 = 4.5; aligned=True keeps size 0: no samples, output 0
    point = torch.tensor([[0.0, 1.0, 1.0, 1.0, 1.0]])
    assert roi_align_reference(f, point, 1, 1.0, -1, False).item() == 4.5
    assert roi_align_reference(f, point, 1, 1.0, -1, True).item() == 0.0
    for r in (rois, point):
        for aligned in (False, True):
            torch.testing.assert_close(
                roi_align_reference(f, r, 1, 1.0, -1, aligned),
                tvo.roi_align(f, r, 1, 1.0, -1, aligned),
            )


def test_adaptive_sampling_ratio_is_ceil_of_bin_size():
    # a 5-cell-wide region in 2 bins: ceil(5 / 2) = 3 samples per bin and axis
    g = torch.Generator().manual_seed(0)
    f = torch.randn(1, 1, 8, 8, generator=g, dtype=torch.float64)  # not linear: the grid matters
    rois = torch.tensor([[0.0, 1.0, 1.0, 6.0, 6.0]], dtype=torch.float64)
    adaptive = roi_align_reference(f, rois, 2, 1.0, -1, False)
    assert torch.equal(adaptive, roi_align_reference(f, rois, 2, 1.0, 0, False))
    torch.testing.assert_close(
        adaptive, roi_align_reference(f, rois, 2, 1.0, 3, False), rtol=0, atol=1e-15
    )
    assert not torch.allclose(adaptive, roi_align_reference(f, rois, 2, 1.0, 2, False))


def test_no_boxes_and_errors():
    x = torch.randn(2, 3, 4, 4)
    assert roi_align_reference(x, torch.zeros(0, 5), (2, 3)).shape == (0, 3, 2, 3)
    rois = torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match="implementation must be one of"):
        roi_align(x, rois, 2, implementation="fast")
    with pytest.raises(TypeError, match="same dtype"):
        roi_align_reference(x, rois.double(), 2)
    with pytest.raises(ValueError, match=r"\(K, 5\) tensor"):
        roi_align(x, rois[:, :4], 2)
    with pytest.raises(ValueError, match=r"feature must be a \(C, H, W\) tensor"):
        bilinear_interpolate(x, 0.0, 0.0)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2])
def test_sampling_points_average_to_torchvision(aligned, sampling_ratio):
    """roi_align_sampling_points, the points the reference pools at (and the figures draw): the
    mean of the bilinear values at each bin's points is torchvision's output."""
    g = torch.Generator().manual_seed(7)
    feature = torch.rand(1, 2, 12, 10, generator=g, dtype=torch.float64)
    box = torch.tensor([3.0, 5.0, 30.5, 41.0], dtype=torch.float64)  # image pixels, scale 1/4
    ys, xs = roi_align_sampling_points(box, (3, 2), 0.25, sampling_ratio, aligned)
    samples = bilinear_interpolate(feature[0], ys[:, :, None, None], xs[None, None])
    expected = tvo.roi_align(feature, [box[None]], (3, 2), 0.25, sampling_ratio, aligned)[0]
    torch.testing.assert_close(samples.mean(dim=(2, 4)), expected)
    with pytest.raises(ValueError, match=r"\(4,\) tensor"):
        roi_align_sampling_points(box[None], 2)
