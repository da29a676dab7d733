"""segedu.ops encode_boxes / decode_boxes against torchvision's BoxCoder."""

import math

import pytest
import torch
from torchvision.models.detection._utils import BoxCoder

from segedu.ops import BBOX_XFORM_CLIP, decode_boxes, encode_boxes


def random_boxes(n, g, dtype):
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 100
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 50 + 0.5  # positive sizes
    return torch.cat([xy, xy + wh], dim=1).to(dtype)


def random_weights(g):
    return tuple(float(v) for v in torch.rand(4, generator=g) * 10 + 0.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_encode_matches_torchvision(dtype):
    # 2 dtypes x 60 seeds = 120 random cases
    for seed in range(60):
        g = torch.Generator().manual_seed(seed)
        n = int(torch.randint(0, 10, (1,), generator=g))
        weights = (1.0, 1.0, 1.0, 1.0) if seed % 3 == 0 else random_weights(g)
        reference, proposals = random_boxes(n, g, dtype), random_boxes(n, g, dtype)
        expected = BoxCoder(weights).encode_single(reference, proposals)
        torch.testing.assert_close(
            encode_boxes(reference, proposals, weights), expected, rtol=0, atol=0
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_decode_matches_torchvision(dtype):
    # 2 dtypes x 60 seeds = 120 random cases; k = 1..3 sets of deltas per box; some deltas
    # are large enough to hit the bbox_xform_clip clamp
    for seed in range(60):
        g = torch.Generator().manual_seed(100 + seed)
        n, k = (
            int(torch.randint(0, 10, (1,), generator=g)),
            int(torch.randint(1, 4, (1,), generator=g)),
        )
        weights = (1.0, 1.0, 1.0, 1.0) if seed % 3 == 0 else random_weights(g)
        codes = (torch.randn(n, 4 * k, generator=g, dtype=torch.float64) * 3).to(dtype)
        codes[:, 2::4] *= 1 + 15 * (torch.rand(n, k, generator=g) < 0.2)  # sometimes huge dw
        boxes = random_boxes(n, g, dtype)
        expected = BoxCoder(weights).decode_single(codes, boxes)
        ours = decode_boxes(codes, boxes, weights)
        assert ours.shape == (n, 4 * k)
        torch.testing.assert_close(ours, expected, rtol=0, atol=0)


def test_round_trip():
    g = torch.Generator().manual_seed(3)
    proposals, targets = random_boxes(20, g, torch.float64), random_boxes(20, g, torch.float64)
    weights = (10.0, 10.0, 5.0, 5.0)
    codes = encode_boxes(targets, proposals, weights)
    # log(62.5) = 4.1 bounds the size ratio; these boxes stay below it, so decoding is exact
    torch.testing.assert_close(
        decode_boxes(codes, proposals, weights), targets, rtol=1e-12, atol=1e-10
    )


def test_by_hand():
    # proposal [0, 0, 2, 2]: centre (1, 1), size 2x2; target [1, 1, 5, 3]: centre (3, 2), size 4x2
    # dx = (3 - 1) / 2 = 1, dy = (2 - 1) / 2 = 0.5, dw = log(4 / 2) = log 2, dh = log 1 = 0
    proposal = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    target = torch.tensor([[1.0, 1.0, 5.0, 3.0]], dtype=torch.float64)
    codes = encode_boxes(target, proposal)
    torch.testing.assert_close(
        codes, torch.tensor([[1.0, 0.5, math.log(2), 0.0]], dtype=torch.float64)
    )
    # weights multiply the deltas
    weighted = encode_boxes(target, proposal, (10, 10, 5, 5))
    torch.testing.assert_close(
        weighted, torch.tensor([[10.0, 5.0, 5 * math.log(2), 0.0]], dtype=torch.float64)
    )
    torch.testing.assert_close(decode_boxes(codes, proposal), target)
    # a huge dw is clamped at log(1000 / 16): the width becomes 62.5 x 2 = 125 around centre 1
    huge = torch.tensor([[0.0, 0.0, 100.0, 0.0]], dtype=torch.float64)
    assert BBOX_XFORM_CLIP == math.log(1000 / 16)
    torch.testing.assert_close(
        decode_boxes(huge, proposal), torch.tensor([[-61.5, 0.0, 63.5, 2.0]], dtype=torch.float64)
    )


def test_bad_inputs_give_clear_errors():
    boxes = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="as many reference_boxes as proposals"):
        encode_boxes(boxes, torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"rel_codes must have shape \(N, 4k\)"):
        decode_boxes(torch.zeros(3, 6), boxes)
    with pytest.raises(ValueError, match="four non-zero numbers"):
        encode_boxes(boxes, boxes, (1.0, 0.0, 1.0, 1.0))
    with pytest.raises(TypeError, match="floating-point"):
        encode_boxes(boxes.long(), boxes)
