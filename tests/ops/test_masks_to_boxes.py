"""segedu.ops.masks_to_boxes against torchvision.ops.masks_to_boxes, and the pixel-edge boxes that
segedu.data.make_target derives from it (one more on x2, y2 of non-empty masks)."""

import pytest
import torch
import torchvision.ops as tvo

from segedu.data import make_target
from segedu.ops import masks_to_boxes


def random_masks(n, h, w, *, generator, dtype=torch.bool):
    """Random rectangles and blobs; some masks are empty, some are a single pixel or line."""
    masks = torch.zeros(n, h, w, dtype=torch.bool)
    for i in range(n):
        kind = int(torch.randint(0, 4, (1,), generator=generator))
        if kind == 0:
            continue  # empty
        if kind == 1:  # scattered pixels
            masks[i] = torch.rand(h, w, generator=generator) < 0.1
        else:  # a rectangle, possibly one pixel thick
            y0, y1 = sorted(int(v) for v in torch.randint(0, h, (2,), generator=generator))
            x0, x1 = sorted(int(v) for v in torch.randint(0, w, (2,), generator=generator))
            masks[i, y0 : y1 + 1, x0 : x1 + 1] = True
    return masks.to(dtype)


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.float32, torch.int64])
def test_matches_torchvision(dtype):
    # 4 dtypes x 30 seeds = 120 random cases (empty masks, N = 0 included)
    for seed in range(30):
        g = torch.Generator().manual_seed(seed)
        n, h, w = (int(v) for v in torch.randint(0, 6, (3,), generator=g) + torch.tensor([0, 1, 1]))
        masks = random_masks(n, h, w, generator=g, dtype=dtype)
        ours = masks_to_boxes(masks)
        assert ours.dtype == torch.float32 and ours.shape == (n, 4)
        torch.testing.assert_close(ours, tvo.masks_to_boxes(masks), rtol=0, atol=0)


def test_by_hand_and_against_the_data_pipeline_variant():
    masks = torch.zeros(3, 4, 5, dtype=torch.bool)
    masks[0, 1:3, 2:5] = True  # rows 1-2, columns 2-4
    masks[1, 3, 0] = True  # a single pixel at row 3, column 0
    # masks[2] is empty
    # torchvision's convention: x2, y2 are the last occupied column / row (inclusive)
    assert masks_to_boxes(masks).tolist() == [[2, 1, 4, 2], [0, 3, 0, 3], [0, 0, 0, 0]]
    # the sample format covers whole pixels: its x2, y2 are one larger; both give 0s when empty
    data = make_target(canvas_size=(4, 5), masks=masks)["boxes"].as_subclass(torch.Tensor)
    assert data.tolist() == [[2, 1, 5, 3], [0, 3, 1, 4], [0, 0, 0, 0]]
    ops = masks_to_boxes(masks)
    assert torch.equal(ops[:2] + torch.tensor([0.0, 0.0, 1.0, 1.0]), data[:2])


def test_plus_one_relation_on_random_nonempty_masks():
    g = torch.Generator().manual_seed(7)
    masks = random_masks(40, 9, 7, generator=g)
    nonempty = masks.flatten(1).any(dim=1)
    shift = torch.tensor([0.0, 0.0, 1.0, 1.0])
    data = make_target(canvas_size=(9, 7), masks=masks)["boxes"].as_subclass(torch.Tensor)
    assert torch.equal(masks_to_boxes(masks)[nonempty] + shift, data[nonempty])
    assert not data[~nonempty].any()  # an empty mask keeps the all-zero box


def test_pixel_edges_is_torchvision_plus_one_on_nonempty_masks():
    """``pixel_edges=True`` against torchvision's boxes moved by hand, on random masks of every
    dtype (empty ones keep the zero box), and on the hand-made masks above."""
    shift = torch.tensor([0.0, 0.0, 1.0, 1.0])
    for seed, dtype in enumerate([torch.bool, torch.uint8, torch.float32, torch.int64] * 5):
        g = torch.Generator().manual_seed(100 + seed)
        masks = random_masks(8, 6, 9, generator=g, dtype=dtype)
        nonempty = masks.flatten(1).any(dim=1)
        expected = tvo.masks_to_boxes(masks) + shift * nonempty[:, None]
        torch.testing.assert_close(masks_to_boxes(masks, pixel_edges=True), expected,
                                   rtol=0, atol=0)
    masks = torch.zeros(3, 4, 5, dtype=torch.bool)
    masks[0, 1:3, 2:5] = True
    masks[1, 3, 0] = True
    assert masks_to_boxes(masks, pixel_edges=True).tolist() == [[2, 1, 5, 3], [0, 3, 1, 4],
                                                                [0, 0, 0, 0]]
    assert masks_to_boxes(torch.zeros(0, 4, 4), pixel_edges=True).shape == (0, 4)


def test_empty_inputs():
    assert masks_to_boxes(torch.zeros(0, 4, 4, dtype=torch.bool)).shape == (0, 4)
    # masks of zero size are empty masks: one zero box each. torchvision returns (0, 4) here
    # (it checks masks.numel() == 0), which breaks the one-box-per-mask correspondence.
    zero_size = torch.zeros(2, 0, 4, dtype=torch.bool)
    assert masks_to_boxes(zero_size).tolist() == [[0] * 4] * 2
    assert tvo.masks_to_boxes(zero_size).shape == (0, 4)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match=r"\(N, H, W\), got \(4, 4\)"):
        masks_to_boxes(torch.zeros(4, 4))
    with pytest.raises(TypeError, match="must be a tensor"):
        masks_to_boxes([[[1]]])
