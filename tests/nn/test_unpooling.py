"""Readable unpooling against F.max_unpool2d and nearest up-sampling."""

import random

import pytest
import torch
import torch.nn.functional as F

from segedu.nn import avg_unpool2d, max_unpool2d


def test_max_unpool2d_matches_pytorch_on_random_cases():
    rng = random.Random(0)
    for case in range(120):
        k = rng.randint(1, 4)
        s = rng.randint(1, k)  # s < k: overlapping windows
        p = rng.randint(0, k // 2)
        h, w = rng.randint(k, 17), rng.randint(k, 17)
        x = torch.randn(rng.randint(1, 2), rng.randint(1, 3), h, w, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(case))
        pooled, indices = F.max_pool2d(x, k, s, p, return_indices=True)
        # the true input size is needed when several sizes pool to the same output
        ours = max_unpool2d(pooled, indices, k, s, p, output_size=x.shape[-2:])
        reference = F.max_unpool2d(pooled, indices, k, s, p, output_size=x.shape[-2:])
        assert torch.equal(ours, reference), (k, s, p, h, w)
        if case % 3 == 0:  # default output size, as PyTorch computes it; it may be too small
            try:
                reference = F.max_unpool2d(pooled, indices, k, s, p)
            except RuntimeError:
                with pytest.raises(ValueError, match="outside"):
                    max_unpool2d(pooled, indices, k, s, p)
                continue
            assert torch.equal(max_unpool2d(pooled, indices, k, s, p), reference)


def test_max_unpool2d_gradients_match():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    pooled, indices = F.max_pool2d(x, 2, return_indices=True)
    a = pooled.clone().requires_grad_(True)
    b = pooled.clone().requires_grad_(True)
    weight = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    (max_unpool2d(a, indices, 2) * weight).sum().backward()
    (F.max_unpool2d(b, indices, 2) * weight).sum().backward()
    assert torch.equal(a.grad, b.grad)


def test_max_unpool2d_by_hand():
    # [[1, 5], [3, 2]] pools (2x2) to 5 at flat index 1; unpooling puts 5 back there
    x = torch.tensor([[[[1.0, 5.0], [3.0, 2.0]]]])
    pooled, indices = F.max_pool2d(x, 2, return_indices=True)
    assert indices.item() == 1
    assert torch.equal(max_unpool2d(pooled, indices, 2), torch.tensor([[[[0.0, 5.0], [0.0, 0.0]]]]))


def test_avg_unpool2d_is_nearest_upsampling_and_the_scaled_adjoint_of_avg_pool():
    g = torch.Generator().manual_seed(0)
    for s in (1, 2, 3, (2, 3)):
        x = torch.randn(2, 3, 12, 12, dtype=torch.float64, generator=g)
        y = torch.randn(2, 3, 12 // (s if isinstance(s, int) else s[0]),
                        12 // (s if isinstance(s, int) else s[1]),
                        dtype=torch.float64, generator=g)
        assert torch.equal(avg_unpool2d(y, s), F.interpolate(y, scale_factor=s, mode="nearest"))
        area = s * s if isinstance(s, int) else s[0] * s[1]
        # <avg_pool(x), y> = <x, avg_unpool(y)> / s^2: each pixel enters its block's mean with
        # 1 / s^2
        left = (F.avg_pool2d(x, s) * y).sum()
        right = (x * avg_unpool2d(y, s)).sum() / area
        assert torch.allclose(left, right, rtol=1e-12, atol=1e-12)


def test_avg_unpool2d_by_hand():
    assert torch.equal(avg_unpool2d(torch.tensor([[[1.0, 2.0]]]), 2),
                       torch.tensor([[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]]))


def test_bad_input_raises():
    pooled, indices = F.max_pool2d(torch.randn(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match="shape of x"):
        max_unpool2d(pooled, indices[..., :1], 2)
    with pytest.raises(TypeError, match="int64"):
        max_unpool2d(pooled, indices.int(), 2)
    with pytest.raises(ValueError, match="outside"):
        max_unpool2d(pooled, indices + 100, 2)
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        avg_unpool2d(torch.zeros(4, 4), 2)
    with pytest.raises(ValueError, match=">= 1"):
        avg_unpool2d(torch.zeros(1, 4, 4), 0)
