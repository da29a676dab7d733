"""The transposed convolution as scatter-add, against F.conv_transpose2d."""

import random

import pytest
import torch
import torch.nn.functional as F

from segedu.nn import conv_transpose2d_scatter


def random_case(rng: random.Random, seed: int):
    g = torch.Generator().manual_seed(seed)
    kh, kw = rng.randint(1, 4), rng.randint(1, 4)
    s = (rng.randint(1, 3), rng.randint(1, 3))
    d = (rng.randint(1, 2), rng.randint(1, 2))
    op = tuple(rng.randint(0, max(si, di) - 1) for si, di in zip(s, d, strict=True))
    p = (rng.randint(0, 2), rng.randint(0, 2))
    h, w = rng.randint(2, 7), rng.randint(2, 7)
    n, c_in, c_out = rng.randint(1, 2), rng.randint(1, 3), rng.randint(1, 3)
    x = torch.randn(n, c_in, h, w, dtype=torch.float64, generator=g)
    weight = torch.randn(c_in, c_out, kh, kw, dtype=torch.float64, generator=g)
    bias = torch.randn(c_out, dtype=torch.float64, generator=g) if rng.random() < 0.5 else None
    return x, weight, bias, {"stride": s, "padding": p, "output_padding": op, "dilation": d}


def test_matches_conv_transpose2d_on_random_configurations():
    rng = random.Random(0)
    checked = 0
    for seed in range(150):
        x, weight, bias, options = random_case(rng, seed)
        try:
            reference = F.conv_transpose2d(x, weight, bias, **options)
        except RuntimeError:
            continue  # output too small for this padding: PyTorch refuses it too (tested below)
        ours = conv_transpose2d_scatter(x, weight, bias, **options)
        assert ours.shape == reference.shape, options
        assert torch.allclose(ours, reference, rtol=0, atol=1e-10), options
        checked += 1
    assert checked >= 100


def test_gradients_match_conv_transpose2d():
    rng = random.Random(1)
    for seed in range(10):
        x, weight, bias, options = random_case(rng, 1000 + seed)
        try:
            F.conv_transpose2d(x, weight, bias, **options)
        except RuntimeError:
            continue
        leaves = [t.clone().requires_grad_(True) for t in (x, weight)]
        refs = [t.clone().requires_grad_(True) for t in (x, weight)]
        out = conv_transpose2d_scatter(*leaves, bias, **options)
        upstream = torch.randn_like(out)
        (out * upstream).sum().backward()
        (F.conv_transpose2d(*refs, bias, **options) * upstream).sum().backward()
        for a, b in zip(leaves, refs, strict=True):
            assert torch.allclose(a.grad, b.grad, rtol=0, atol=1e-10)


def test_is_the_adjoint_of_conv2d():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64, generator=g)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, generator=g)  # conv2d: (C_out, C_in, k, k)
    y = torch.randn(2, 4, 5, 5, dtype=torch.float64, generator=g)  # conv2d(x, w, stride 2, pad 1)
    left = (F.conv2d(x, w, stride=2, padding=1) * y).sum()
    # the same tensor w read as a transposed kernel (C_in=4, C_out=3) maps y back to x's space
    right = (x * conv_transpose2d_scatter(y, w, stride=2, padding=1)).sum()
    assert torch.allclose(left, right, rtol=1e-12)


def test_by_hand():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    ones = torch.ones(1, 1, 2, 2)
    # stride 2: the stamps do not overlap, each input pixel becomes a 2x2 block
    expected = torch.tensor([[1.0, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    assert torch.equal(conv_transpose2d_scatter(x, ones, stride=2)[0, 0], expected)
    # stride 1: the stamps overlap by one row/column and add up
    expected = torch.tensor([[1.0, 3, 2], [4, 10, 6], [3, 7, 4]])
    assert torch.equal(conv_transpose2d_scatter(x, ones, stride=1)[0, 0], expected)
    # padding 1 crops one pixel from every side of the stride-2 result
    assert torch.equal(conv_transpose2d_scatter(x, ones, stride=2, padding=1)[0, 0],
                       torch.tensor([[1.0, 2], [3, 4]]))


def test_unbatched_input_and_bad_input():
    x = torch.randn(2, 3, 3)
    w = torch.randn(2, 4, 3, 3)
    assert torch.allclose(conv_transpose2d_scatter(x, w, stride=2),
                          F.conv_transpose2d(x, w, stride=2), atol=1e-5)
    with pytest.raises(ValueError, match="groups=1"):
        conv_transpose2d_scatter(x, torch.randn(3, 4, 3, 3))
    with pytest.raises(ValueError, match="bias"):
        conv_transpose2d_scatter(x, w, torch.zeros(3))
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d_scatter(x, w, stride=1, output_padding=1)
