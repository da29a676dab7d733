"""segedu.ops NMS (readable loop and torchvision dispatch) against torchvision.ops."""

import pytest
import torch
import torchvision.ops as tvo

from segedu.ops import batched_nms, batched_nms_reference, nms, nms_reference

THRESHOLDS = [0.0, 0.2, 0.5, 0.7, 1.0]


def clustered_boxes(n, *, generator, dtype, clusters=3, tie_levels=None):
    """``n`` boxes jittered around a few cluster centres (many overlaps), with their scores.

    ``tie_levels``: quantise the scores to that many values, so that many scores are equal.
    """
    centres = torch.rand(clusters, 2, generator=generator, dtype=torch.float64) * 40
    which = torch.randint(0, clusters, (n,), generator=generator)
    centre = centres[which] + torch.randn(n, 2, generator=generator, dtype=torch.float64) * 2
    half = 2 + torch.rand(n, 2, generator=generator, dtype=torch.float64) * 6
    boxes = torch.cat([centre - half, centre + half], dim=1)
    degenerate = torch.rand(n, generator=generator) < 0.05
    boxes[degenerate, 2:] = boxes[degenerate, :2]  # zero-area boxes
    scores = torch.rand(n, generator=generator, dtype=torch.float64)
    if tie_levels is not None:
        scores = (scores * tie_levels).floor() / tie_levels
    return boxes.to(dtype), scores.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tie_levels", [None, 3])
def test_nms_matches_torchvision(dtype, tie_levels):
    # 2 dtypes x 2 score kinds x 30 seeds = 120 random cases, thresholds cycling through 0..1
    for seed in range(30):
        g = torch.Generator().manual_seed(seed)
        n = int(torch.randint(0, 40, (1,), generator=g))
        boxes, scores = clustered_boxes(n, generator=g, dtype=dtype, tie_levels=tie_levels)
        threshold = THRESHOLDS[seed % len(THRESHOLDS)]
        expected = tvo.nms(boxes, scores, threshold)
        ours = nms_reference(boxes, scores, threshold)
        assert ours.dtype == torch.int64
        assert torch.equal(ours, expected), (seed, threshold)
        assert torch.equal(nms(boxes, scores, threshold, implementation="reference"), expected)
        assert torch.equal(nms(boxes, scores, threshold), expected)  # the default: torchvision


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batched_nms_matches_torchvision(dtype):
    # 2 dtypes x 60 seeds = 120 random cases; classes 0..3 overlapping in space, ties in scores
    for seed in range(60):
        g = torch.Generator().manual_seed(1000 + seed)
        n = int(torch.randint(0, 40, (1,), generator=g))
        boxes, scores = clustered_boxes(
            n, generator=g, dtype=dtype, tie_levels=4 if seed % 2 else None
        )
        idxs = torch.randint(0, 4, (n,), generator=g)
        threshold = THRESHOLDS[seed % len(THRESHOLDS)]
        expected = tvo.batched_nms(boxes, scores, idxs, threshold)
        assert torch.equal(batched_nms_reference(boxes, scores, idxs, threshold), expected), seed
        assert torch.equal(
            batched_nms(boxes, scores, idxs, threshold, implementation="reference"), expected
        )
        assert torch.equal(batched_nms(boxes, scores, idxs, threshold), expected)


def test_nms_by_hand():
    boxes = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],  # 0: score 0.9
            [1.0, 1.0, 11.0, 11.0],  # 1: IoU with box 0 = 81 / (100 + 100 - 81) = 0.68
            [20.0, 20.0, 30.0, 30.0],  # 2: far from both
            [0.0, 0.0, 10.0, 5.0],  # 3: IoU with box 0 = 50 / 100 = 0.5 exactly
        ]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    # visiting order 3, 0, 1, 2. Box 3 keeps; box 0 has IoU 0.5 with it (not > 0.5): kept;
    # box 1: IoU with box 3 = (9 * 4) / (50 + 100 - 36) = 0.32, with box 0 = 0.68 > 0.5: suppressed
    assert nms_reference(boxes, scores, 0.5).tolist() == [3, 0, 2]
    # at 0.4, box 0 goes (0.5 > 0.4); then box 1 only meets box 3 (0.32 <= 0.4): kept
    assert nms_reference(boxes, scores, 0.4).tolist() == [3, 1, 2]
    # at 0.3, box 1 goes as well (0.32 > 0.3)
    assert nms_reference(boxes, scores, 0.3).tolist() == [3, 2]
    # at threshold 1 nothing can be suppressed; everything in score order
    assert nms_reference(boxes, scores, 1.0).tolist() == [3, 0, 1, 2]
    for t in (0.5, 0.4, 0.3, 1.0):
        assert torch.equal(nms_reference(boxes, scores, t), tvo.nms(boxes, scores, t))


@pytest.mark.parametrize("implementation", ["reference", "torchvision"])
def test_iou_exactly_at_the_threshold_is_kept(implementation):
    # exact binary fractions: a 2x2 box and its top half (2x1) have IoU 2 / (4 + 2 - 2) = 0.5,
    # a 4x1 box and its first unit square have IoU 1 / 4 = 0.25
    for big, small, iou in (([0, 0, 2, 2], [0, 0, 2, 1], 0.5), ([0, 0, 4, 1], [0, 0, 1, 1], 0.25)):
        for dtype in (torch.float32, torch.float64):
            boxes = torch.tensor([big, small], dtype=dtype)
            scores = torch.tensor([1.0, 0.5], dtype=dtype)
            assert tvo.box_iou(boxes[:1], boxes[1:]).item() == iou
            # suppression needs IoU > threshold, strictly
            assert nms(boxes, scores, iou, implementation=implementation).tolist() == [0, 1]
            below = iou - 2**-20
            assert nms(boxes, scores, below, implementation=implementation).tolist() == [0]


@pytest.mark.parametrize("implementation", ["reference", "torchvision"])
def test_threshold_is_compared_in_float64(implementation):
    # a 5x1 box and its first 4x1 part: IoU 4 / 5, which float32 rounds up to 0.800000012, above
    # the threshold 0.8 (a float64): suppressed, as in torchvision's kernel. In float64 the IoU is
    # the same double as 0.8: kept. (Compared in float32, the threshold too would round up, and
    # the box would survive.)
    for dtype, kept in ((torch.float32, [0]), (torch.float64, [0, 1])):
        boxes = torch.tensor([[0, 0, 5, 1], [0, 0, 4, 1]], dtype=dtype)
        scores = torch.tensor([1.0, 0.5], dtype=dtype)
        assert tvo.nms(boxes, scores, 0.8).tolist() == kept
        assert nms(boxes, scores, 0.8, implementation=implementation).tolist() == kept


@pytest.mark.parametrize("implementation", ["reference", "torchvision"])
def test_ties_are_visited_in_index_order(implementation):
    # three identical boxes with equal scores: the stable sort visits index 0 first, which
    # suppresses the other two (IoU 1 > 0.5); with threshold 1 all stay, in index order
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 3)
    scores = torch.tensor([0.5, 0.5, 0.5])
    assert nms(boxes, scores, 0.5, implementation=implementation).tolist() == [0]
    assert nms(boxes, scores, 1.0, implementation=implementation).tolist() == [0, 1, 2]
    # a better box later in the list still comes first
    scores = torch.tensor([0.5, 0.5, 0.75])
    assert nms(boxes, scores, 1.0, implementation=implementation).tolist() == [2, 0, 1]


def test_batched_nms_by_hand():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [1.0, 1.0, 11.0, 11.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    # boxes 0 and 1 overlap (IoU 0.68); box 2 is box 1 again. Same class: only 0 survives;
    # box 1 in another class survives, box 2 (same class as 0) does not
    assert batched_nms_reference(boxes, scores, torch.tensor([0, 0, 0]), 0.5).tolist() == [0]
    assert batched_nms_reference(boxes, scores, torch.tensor([0, 1, 0]), 0.5).tolist() == [0, 1]
    assert batched_nms_reference(boxes, scores, torch.tensor([0, 1, 2]), 0.5).tolist() == [0, 1, 2]


def test_degenerate_and_empty_inputs():
    empty = torch.zeros(0, 4)
    assert nms_reference(empty, torch.zeros(0), 0.5).tolist() == []
    assert nms_reference(empty, torch.zeros(0), 0.5).dtype == torch.int64
    assert (
        batched_nms_reference(empty, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).tolist()
        == []
    )
    # zero-area boxes: IoU 0 / 0 is NaN, which is never > threshold: both kept (as torchvision)
    points = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    scores = torch.tensor([0.3, 0.6])
    assert (
        nms_reference(points, scores, 0.5).tolist()
        == [1, 0]
        == tvo.nms(points, scores, 0.5).tolist()
    )


def test_bad_inputs_give_clear_errors():
    boxes, scores = torch.zeros(3, 4), torch.zeros(3)
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, 4\), got \(3, 5\)"):
        nms(torch.zeros(3, 5), scores, 0.5)
    with pytest.raises(
        ValueError, match=r"scores must have shape \(N,\) with N = 3 boxes, got \(2,\)"
    ):
        nms_reference(boxes, torch.zeros(2), 0.5)
    with pytest.raises(TypeError, match="same dtype"):
        nms_reference(boxes, scores.double(), 0.5)
    with pytest.raises(TypeError, match="floating-point"):
        nms_reference(boxes.long(), scores, 0.5)
    with pytest.raises(ValueError, match="implementation must be one of"):
        nms(boxes, scores, 0.5, implementation="fast")
    with pytest.raises(TypeError, match="idxs must hold integer class indices"):
        batched_nms(boxes, scores, torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r"idxs must have shape \(N,\)"):
        batched_nms_reference(boxes, scores, torch.zeros(2, dtype=torch.long), 0.5)


# Two cases from torchvision's own tests (test/test_ops.py) that once disagreed with segedu.

def test_float16_boxes_with_large_areas_through_the_reference_path():
    """torchvision's ``TestNMS.test_nms_float16`` (a CUDA test there: its CPU kernel has no half
    version): boxes of about 908 x 666 px, whose area 604,000 overflows float16 (max 65,504). The
    CUDA kernel accumulates in float32, so float16 keeps what float32 keeps, ``[1]``; an IoU
    computed in float16 is inf / inf = NaN and suppresses nothing (``[1, 0, 2]``)."""
    boxes = torch.tensor([[285.3538, 185.5758, 1193.5110, 851.4551],
                          [285.1472, 188.7374, 1192.4984, 851.0669],
                          [279.2440, 197.9812, 1189.4746, 849.2019]])
    scores = torch.tensor([0.6370, 0.7569, 0.3966])
    keep32 = tvo.nms(boxes, scores, 0.2)
    keep16 = nms(boxes.half(), scores.half(), 0.2, implementation="reference")
    assert keep32.tolist() == [1]
    assert torch.equal(keep16, keep32)
    labels = torch.tensor([0, 0, 0])
    assert torch.equal(
        batched_nms(boxes.half(), scores.half(), labels, 0.2, implementation="reference"), keep32)


@pytest.mark.parametrize("implementation", ["torchvision", "reference"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int64, torch.int32,
                                   torch.uint8])
def test_batched_nms_on_empty_inputs_of_any_dtype(dtype, implementation):
    """torchvision's ``test_batched_nms_implementations`` feeds empty boxes of the integer dtypes
    too; torchvision returns an empty int64 result for them, and so must segedu."""
    boxes = torch.empty((0, 4), dtype=dtype)
    scores = torch.empty((0,), dtype=dtype if dtype.is_floating_point else torch.float32)
    idxs = torch.empty((0,), dtype=torch.int64)
    expected = tvo.batched_nms(boxes, scores, idxs, 0.5)
    got = batched_nms(boxes, scores, idxs, 0.5, implementation=implementation)
    assert got.dtype == expected.dtype == torch.int64
    assert got.shape == expected.shape == (0,)


def test_batched_nms_still_refuses_integer_boxes_that_are_not_empty():
    boxes = torch.tensor([[0, 0, 2, 2]])
    with pytest.raises(TypeError, match="floating-point"):
        batched_nms(boxes, torch.tensor([1.0]), torch.tensor([0]), 0.5)
