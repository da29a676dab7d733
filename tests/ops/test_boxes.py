"""segedu.ops box utilities against torchvision.ops, plus hand-computed cases."""

import itertools

import pytest
import torch
import torchvision.ops as tvo

from segedu.ops import (
    BOX_FORMATS,
    box_area,
    box_convert,
    box_iou,
    clip_boxes_to_image,
    generalized_box_iou,
    remove_small_boxes,
)

DTYPES = [
    torch.float32,
    torch.float64,
    torch.int64,
    torch.int32,
    torch.int16,
    torch.uint8,
    torch.float16,
]


def random_boxes(n, *, generator, dtype=torch.float64, size=20.0, degenerate=0.2):
    """``n`` xyxy boxes with corners in [0, size]; about ``degenerate`` of them have zero width,
    zero height or both (zero area)."""
    xy = torch.rand(n, 2, generator=generator, dtype=torch.float64) * size
    wh = torch.rand(n, 2, generator=generator, dtype=torch.float64) * size / 2
    wh[torch.rand(n, 2, generator=generator) < degenerate] = 0
    boxes = torch.cat([xy, xy + wh], dim=1)
    if not dtype.is_floating_point:
        boxes = boxes.floor()
    return boxes.to(dtype)


def assert_same(ours, theirs):
    """Same dtype, same shape, same values (bit for bit; NaN where they have NaN)."""
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0, equal_nan=True)


# ---- box_convert ---------------------------------------------------------------------------


@pytest.mark.parametrize("in_fmt,out_fmt", list(itertools.product(BOX_FORMATS, BOX_FORMATS)))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.int32])
def test_box_convert_matches_torchvision(in_fmt, out_fmt, dtype):
    # 9 format pairs x 4 dtypes x 3 seeds = 108 random cases
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        n = int(torch.randint(0, 8, (1,), generator=g))
        boxes = random_boxes(n, generator=g, dtype=dtype)
        assert_same(box_convert(boxes, in_fmt, out_fmt), tvo.box_convert(boxes, in_fmt, out_fmt))
    batched = random_boxes(6, generator=g, dtype=dtype).reshape(2, 3, 4)  # leading dims too
    assert_same(box_convert(batched, in_fmt, out_fmt), tvo.box_convert(batched, in_fmt, out_fmt))


def test_box_convert_by_hand():
    # the box from x = 0 to 2 and y = 0 to 4: width 2, height 4, centre (1, 2)
    xyxy = torch.tensor([[0.0, 0.0, 2.0, 4.0]])
    assert box_convert(xyxy, "xyxy", "xywh").tolist() == [[0.0, 0.0, 2.0, 4.0]]
    assert box_convert(xyxy, "xyxy", "cxcywh").tolist() == [[1.0, 2.0, 2.0, 4.0]]
    # centre (1, 2) size 2x4 back to corners; top-left (1, 1) size 3x2 -> (1, 1, 4, 3)
    assert (
        box_convert(torch.tensor([[1.0, 2.0, 2.0, 4.0]]), "cxcywh", "xyxy").tolist()
        == xyxy.tolist()
    )
    assert box_convert(torch.tensor([[1, 1, 3, 2]]), "xywh", "xyxy").tolist() == [[1, 1, 4, 3]]
    # integer boxes: halving to a centre makes floats (centre 0.5), as in torchvision
    assert box_convert(torch.tensor([[0, 0, 1, 1]]), "xyxy", "cxcywh").dtype == torch.float32
    copy = box_convert(xyxy, "xyxy", "xyxy")
    assert copy.data_ptr() != xyxy.data_ptr() and torch.equal(copy, xyxy)


def test_box_convert_round_trip_is_identity():
    g = torch.Generator().manual_seed(5)
    boxes = (random_boxes(50, generator=g) * 8).round() / 8  # dyadic: every step exact
    for fmt in BOX_FORMATS:
        assert torch.equal(box_convert(box_convert(boxes, "xyxy", fmt), fmt, "xyxy"), boxes)


# ---- box_area, box_iou, generalized_box_iou ---------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_box_area_matches_torchvision(dtype):
    # 7 dtypes x 15 seeds = 105 random cases, degenerate boxes included
    for seed in range(15):
        g = torch.Generator().manual_seed(100 + seed)
        boxes = random_boxes(int(torch.randint(0, 9, (1,), generator=g)), generator=g, dtype=dtype)
        assert_same(box_area(boxes), tvo.box_area(boxes))
    batched = random_boxes(6, generator=g, dtype=dtype).reshape(3, 2, 4)
    assert_same(box_area(batched), tvo.box_area(batched))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "function,reference", [(box_iou, tvo.box_iou), (generalized_box_iou, tvo.generalized_box_iou)]
)
def test_pairwise_iou_matches_torchvision(function, reference, dtype):
    # 7 dtypes x 16 seeds = 112 random cases per function, N = 0 and M = 0 included
    for seed in range(16):
        g = torch.Generator().manual_seed(200 + seed)
        n, m = (int(v) for v in torch.randint(0, 7, (2,), generator=g))
        boxes1 = random_boxes(n, generator=g, dtype=dtype)
        boxes2 = random_boxes(m, generator=g, dtype=dtype)
        if n and m and seed % 3 == 0:
            boxes2[0] = boxes1[0]  # an identical pair: IoU (and GIoU) 1, or NaN if zero-area
        ours = function(boxes1, boxes2)
        assert ours.shape == (n, m)
        assert_same(ours, reference(boxes1, boxes2))
    # leading batch dimensions (..., N, 4) as torchvision
    b1 = random_boxes(8, generator=g, dtype=dtype).reshape(2, 4, 4)
    b2 = random_boxes(6, generator=g, dtype=dtype).reshape(2, 3, 4)
    assert_same(function(b1, b2), reference(b1, b2))


def test_iou_worked_example():
    # the course's example: a 2x2 box (area 4) and a 2x3 box (area 6) overlapping in the unit
    # square [1, 1, 2, 2]: IoU = 1 / (4 + 6 - 1) = 1/9
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 1.0, 3.0, 4.0]], dtype=torch.float64)
    assert box_area(a).item() == 4 and box_area(b).item() == 6
    assert box_iou(a, b).item() == pytest.approx(1 / 9, abs=1e-15)
    assert box_iou(b, a).item() == pytest.approx(1 / 9, abs=1e-15)  # symmetric
    # GIoU: the enclosing box [0, 0, 3, 4] has area 12, of which 12 - 9 = 3 is empty:
    # 1/9 - 3/12 = -5/36
    assert generalized_box_iou(a, b).item() == pytest.approx(-5 / 36, abs=1e-15)


def test_iou_of_disjoint_identical_and_degenerate_boxes():
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 3.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    iou = box_iou(boxes, boxes)
    # disjoint unit squares: IoU 0; identical: 1
    assert iou.tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    # disjoint, one unit apart: enclosing [0, 0, 3, 1] has area 3, union 2: GIoU = 0 - 1/3
    assert generalized_box_iou(boxes[:1], boxes[1:2]).item() == pytest.approx(-1 / 3)
    # touching squares (sharing an edge): IoU 0, GIoU 0 (the enclosing box is the union)
    touching = torch.tensor([[1.0, 0.0, 2.0, 1.0]])
    assert box_iou(boxes[:1], touching).item() == 0
    assert generalized_box_iou(boxes[:1], touching).item() == 0
    # two zero-area boxes: 0 / 0 = NaN, as torchvision
    point = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    assert box_iou(point, point).isnan().all()
    # empty inputs: (0, M) and (N, 0)
    assert box_iou(torch.zeros(0, 4), boxes).shape == (0, 3)
    assert generalized_box_iou(boxes, torch.zeros(0, 4)).shape == (3, 0)


def test_integer_boxes_give_integer_areas_and_float_ious():
    a = torch.tensor([[0, 0, 2, 2]], dtype=torch.uint8)
    b = torch.tensor([[1, 1, 3, 4]], dtype=torch.uint8)
    assert box_area(a).dtype == torch.int32  # widened so that products do not overflow
    assert box_iou(a, b).dtype == torch.float32
    assert box_iou(a, b).item() == pytest.approx(1 / 9)
    big = torch.tensor([[0, 0, 200, 200]], dtype=torch.uint8)
    assert box_area(big).item() == 40000  # would overflow uint8 / int16


# ---- clip_boxes_to_image, remove_small_boxes -------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
def test_clip_and_remove_small_match_torchvision(dtype):
    # 3 dtypes x 40 seeds = 120 random cases each
    for seed in range(40):
        g = torch.Generator().manual_seed(300 + seed)
        n = int(torch.randint(0, 9, (1,), generator=g))
        boxes = (random_boxes(n, generator=g, size=30) - 5).to(dtype)  # partly outside
        size = tuple(int(v) for v in torch.randint(1, 25, (2,), generator=g))
        assert_same(clip_boxes_to_image(boxes, size), tvo.clip_boxes_to_image(boxes, size))
        min_size = float(torch.rand(1, generator=g)) * 6
        assert_same(remove_small_boxes(boxes, min_size), tvo.remove_small_boxes(boxes, min_size))


def test_clip_and_remove_small_by_hand():
    boxes = torch.tensor([[-3.0, 2.0, 12.0, 30.0], [1.0, 1.0, 1.5, 4.0]])
    # image of height 20 and width 10: x to [0, 10], y to [0, 20]
    assert clip_boxes_to_image(boxes, (20, 10)).tolist() == [[0, 2, 10, 20], [1, 1, 1.5, 4]]
    # widths 15 and 0.5, heights 28 and 3: min_size 1 drops the second; min_size 0.5 keeps it
    assert remove_small_boxes(boxes, 1.0).tolist() == [0]
    assert remove_small_boxes(boxes, 0.5).tolist() == [0, 1]


def test_bad_inputs_give_clear_errors():
    boxes = torch.zeros(2, 4)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\), got \(2, 5\)"):
        box_iou(torch.zeros(2, 5), boxes)
    with pytest.raises(TypeError, match="boxes2 must be a tensor, got list"):
        box_iou(boxes, [[0, 0, 1, 1]])
    with pytest.raises(TypeError, match="real numbers, got torch.bool"):
        box_area(torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="in_fmt must be one of"):
        box_convert(boxes, "xxyy", "xyxy")
    with pytest.raises(ValueError, match="out_fmt must be one of"):
        box_convert(boxes, "xyxy", "yxyx")
    with pytest.raises(ValueError, match="size must be \\(height, width\\)"):
        clip_boxes_to_image(boxes, (3,))
    with pytest.raises(ValueError, match="non-negative"):
        clip_boxes_to_image(boxes, (-1, 4))
