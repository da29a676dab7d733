"""torchvision's own NMS test cases (``TestNMS`` in its repository's test/test_ops.py), run
against segedu.ops and compared with torchvision's output on the same inputs.

Mapping, case by case (torchvision's test -> here):

- ``test_nms_ref``: 1000 random boxes whose last box overlaps the first just above the
  threshold, IoU 0.2 / 0.5 / 0.8, seeds 0-9 -> :func:`test_boxes_just_above_the_threshold`;
- ``test_nms_input_errors`` -> :func:`test_what_torchvision_refuses_segedu_refuses`;
- ``test_qnms``: quantized boxes and scores -> :func:`test_quantized_boxes_and_scores`;
- ``test_batched_nms_implementations``: per-class NMS of 1000 boxes in 4 classes at IoU 0.9,
  seeds 0-9, and empty boxes with ``scores``, ``idxs`` and the threshold all ``None`` ->
  :func:`test_batched_nms_of_many_boxes` and
  :func:`test_batched_nms_of_no_boxes_needs_nothing_else`;
- ``test_nms_float16`` (CUDA there) -> tests/ops/test_nms.py's float16 test (CPU reference path);
- ``test_nms_gpu``, ``test_autocast`` (CUDA or MPS only) and the generated op checks
  (``test_schema``, ``test_faketensor``, ...: the registration of torchvision's C++ operator)
  have no CPU counterpart in segedu, which registers no operator.
"""

import pytest
import torch
import torchvision
import torchvision.ops as tvo

from segedu.ops import batched_nms, nms

IMPLEMENTATIONS = ("torchvision", "reference")


def boxes_with_one_iou_just_above(threshold, *, seed, n=1000):
    """``n`` random ``xyxy`` boxes (float32, within 0..200) and scores, where the last box is the
    first one stretched to the right so that their IoU is ``threshold + 1e-5``: suppressed, barely.

    A box ``(x0, y0, x1, y1)`` and the same box widened by ``d`` have IoU ``w / (w + d)`` with
    ``w = x1 - x0``, so ``d = w (1 - t) / t`` gives IoU ``t``.
    """
    g = torch.Generator().manual_seed(seed)
    boxes = torch.rand(n, 4, generator=g) * 100
    boxes[:, 2:] += boxes[:, :2]
    boxes[-1] = boxes[0]
    t = threshold + 1e-5
    boxes[-1, 2] += (boxes[0, 2] - boxes[0, 0]) * (1 - t) / t
    return boxes, torch.rand(n, generator=g)


@pytest.mark.parametrize("iou", [0.2, 0.5, 0.8])
def test_boxes_just_above_the_threshold(iou):
    for seed in range(10):
        boxes, scores = boxes_with_one_iou_just_above(iou, seed=seed)
        assert tvo.box_iou(boxes[:1], boxes[-1:]).item() > iou
        expected = tvo.nms(boxes, scores, iou)
        assert torch.equal(nms(boxes, scores, iou), expected)
        if seed < 3:  # the readable loop: 1000 boxes cost up to 0.14 CPU s at IoU 0.8
            assert torch.equal(nms(boxes, scores, iou, implementation="reference"), expected), seed


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_what_torchvision_refuses_segedu_refuses(implementation):
    # torchvision raises RuntimeError from its C++ kernel; segedu a ValueError naming the problem
    cases = [
        (torch.rand(4), torch.rand(3), r"boxes must have shape \(N, 4\), got \(4,\)"),
        (torch.rand(3, 5), torch.rand(3), r"boxes must have shape \(N, 4\), got \(3, 5\)"),
        (torch.rand(3, 4), torch.rand(3, 2), r"scores must have shape \(N,\) with N = 3"),
        (torch.rand(3, 4), torch.rand(4), r"scores must have shape \(N,\) with N = 3"),
    ]
    for boxes, scores, message in cases:
        with pytest.raises(RuntimeError):
            tvo.nms(boxes, scores, 0.5)
        with pytest.raises(ValueError, match=message):
            nms(boxes, scores, 0.5, implementation=implementation)


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("iou", [0.2, 0.5, 0.8])
def test_quantized_boxes_and_scores(iou, implementation):
    # fewer boxes than torchvision's 1000 (the reference loop's time); the same scales
    for scale, zero_point in ((1, 0), (2, 50), (3, 10)):
        boxes, scores = boxes_with_one_iou_just_above(iou, seed=scale, n=300)
        scores = scores * 100  # else nearly every quantized score would be 0 or 1
        qboxes = torch.quantize_per_tensor(boxes, scale, zero_point, torch.quint8)
        qscores = torch.quantize_per_tensor(scores, scale, zero_point, torch.quint8)
        expected = tvo.nms(qboxes, qscores, iou)  # torchvision's quantized kernel
        assert torch.equal(tvo.nms(qboxes.dequantize(), qscores.dequantize(), iou), expected)
        got = nms(qboxes, qscores, iou, implementation=implementation)
        assert got.dtype == torch.int64
        assert torch.equal(got, expected), (scale, zero_point)


def test_quantized_boxes_are_refused_by_batched_nms_as_by_torchvision():
    qboxes = torch.quantize_per_tensor(torch.rand(3, 4) * 10, 1.0, 0, torch.quint8)
    qscores = torch.quantize_per_tensor(torch.rand(3) * 10, 1.0, 0, torch.quint8)
    idxs = torch.zeros(3, dtype=torch.int64)
    with pytest.raises(RuntimeError):
        tvo.batched_nms(qboxes, qscores, idxs, 0.5)
    for implementation in IMPLEMENTATIONS:
        with pytest.raises(TypeError, match="got quantized ones.*dequantize"):
            batched_nms(qboxes, qscores, idxs, 0.5, implementation=implementation)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_batched_nms_of_many_boxes(implementation):
    # torchvision's case: every box spans (0..1) to (10..11), so all overlap heavily; IoU 0.9
    for seed in range(10):
        g = torch.Generator().manual_seed(seed)
        corners = torch.rand(1000, 2, generator=g)
        boxes = torch.cat((corners, torch.rand(1000, 2, generator=g) + 10), 1)
        scores = torch.rand(1000, generator=g)
        idxs = torch.randint(0, 4, (1000,), generator=g)
        vanilla = torchvision.ops.boxes._batched_nms_vanilla(boxes, scores, idxs, 0.9)
        trick = torchvision.ops.boxes._batched_nms_coordinate_trick(boxes, scores, idxs, 0.9)
        assert torch.equal(vanilla, trick)
        got = batched_nms(boxes, scores, idxs, 0.9, implementation=implementation)
        assert torch.equal(got, trick), seed


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_batched_nms_of_no_boxes_needs_nothing_else(implementation):
    empty = torch.empty((0,), dtype=torch.int64)
    expected = tvo.batched_nms(empty, None, None, None)
    got = batched_nms(empty, None, None, None, implementation=implementation)
    assert got.dtype == expected.dtype == torch.int64
    assert got.shape == expected.shape == (0,)
    # empty (0, 4) boxes with empty scores and classes, and any of them None
    boxes = torch.empty((0, 4))
    for scores, idxs in ((torch.empty(0), None), (None, torch.empty(0, dtype=torch.int64))):
        assert batched_nms(boxes, scores, idxs, 0.5, implementation=implementation).shape == (0,)
        assert tvo.batched_nms(boxes, scores, idxs, 0.5).shape == (0,)
    # where scores say there are boxes, empty boxes are a mistake (torchvision returns [])
    with pytest.raises(ValueError, match=r"scores has 2 elements, but boxes is empty \(0, 4\)"):
        batched_nms(boxes, torch.rand(2), None, 0.5, implementation=implementation)
    with pytest.raises(ValueError, match=r"idxs has 1 elements, but boxes is empty \(0,\)"):
        batched_nms(empty, None, torch.zeros(1, dtype=torch.int64), 0.5)
