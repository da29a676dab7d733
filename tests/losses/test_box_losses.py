"""segedu.losses.box against torch.nn.functional and torchvision.ops, values and gradients."""

import pytest
import torch
import torch.nn.functional as F
import torchvision.ops as tvo
from torchvision.ops.diou_loss import _diou_iou_loss

from segedu.losses.box import generalized_box_iou_loss, iou_loss, lp_iou_loss, smooth_l1_loss

REDUCTIONS = ["none", "mean", "sum"]


def random_pairs(n, *, generator, dtype=torch.float64, disjoint=0.3):
    """``n`` pairs of xyxy boxes; about ``disjoint`` of the pairs do not overlap at all."""
    xy = torch.rand(n, 2, generator=generator, dtype=torch.float64) * 20
    wh = torch.rand(n, 2, generator=generator, dtype=torch.float64) * 10 + 0.5
    boxes1 = torch.cat([xy, xy + wh], dim=1)
    shift = torch.randn(n, 2, generator=generator, dtype=torch.float64) * 3
    far = torch.rand(n, generator=generator) < disjoint
    shift[far, 0] = (
        wh[far, 0] + 1 + torch.rand(int(far.sum()), generator=generator, dtype=torch.float64) * 5
    )
    wh2 = torch.rand(n, 2, generator=generator, dtype=torch.float64) * 10 + 0.5
    boxes2 = torch.cat([xy + shift, xy + shift + wh2], dim=1)
    return boxes1.to(dtype), boxes2.to(dtype)


def values_and_grads(function, *inputs, weights=None):
    """``function(*inputs)`` and the gradients of ``(weights * output).sum()`` for each input."""
    inputs = [t.detach().clone().requires_grad_() for t in inputs]
    out = function(*inputs)
    (out * (1 if weights is None or out.ndim == 0 else weights)).sum().backward()
    return out.detach(), [t.grad for t in inputs]


# ---- smooth L1 ------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_smooth_l1_matches_pytorch(reduction):
    # 3 reductions x 40 seeds = 120 random cases, beta from 0 (pure L1) to 2
    for seed in range(40):
        g = torch.Generator().manual_seed(seed)
        shape = (int(torch.randint(0, 6, (1,), generator=g)), 4)
        beta = [0.0, 1 / 9, 0.5, 1.0, 2.0][seed % 5]
        dtype = torch.float32 if seed % 2 else torch.float64
        pred, target = (torch.randn(shape, generator=g, dtype=dtype) for _ in range(2))
        ours, our_grads = values_and_grads(
            lambda a, b, beta=beta: smooth_l1_loss(a, b, beta, reduction), pred, target
        )
        theirs, their_grads = values_and_grads(
            lambda a, b, beta=beta: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
            pred,
            target,
        )
        torch.testing.assert_close(
            ours, theirs, equal_nan=True
        )  # the mean of nothing is NaN for both
        for a, b in zip(our_grads, their_grads, strict=True):
            torch.testing.assert_close(a, b, equal_nan=True)


def test_smooth_l1_by_hand():
    # beta = 1: |d| = 0.5 is in the quadratic part: 0.5 * 0.25 / 1 = 0.125;
    # |d| = 3 in the linear part: 3 - 0.5 = 2.5; |d| = beta = 1 is linear: 1 - 0.5 = 0.5 (both
    # pieces agree there: 0.5 * 1 / 1 = 0.5)
    pred = torch.tensor([0.5, -3.0, 1.0], dtype=torch.float64)
    loss = smooth_l1_loss(pred, torch.zeros(3, dtype=torch.float64), 1.0, "none")
    assert loss.tolist() == [0.125, 2.5, 0.5]
    assert smooth_l1_loss(pred, torch.zeros(3, dtype=torch.float64)).item() == pytest.approx(
        3.125 / 3
    )
    # beta = 0 is the L1 loss
    assert smooth_l1_loss(pred, torch.zeros(3, dtype=torch.float64), 0.0, "sum").item() == 4.5


def test_smooth_l1_gradcheck():
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(6, dtype=torch.float64, generator=g) * 2
    pred = pred[(pred.abs() - 1).abs() > 0.1].requires_grad_()  # away from the kink |d| = beta
    assert torch.autograd.gradcheck(
        lambda p: smooth_l1_loss(p, torch.zeros_like(p), 1.0, "sum"), (pred,)
    )


# ---- IoU and GIoU losses ----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_generalized_box_iou_loss_matches_torchvision(reduction):
    # 3 reductions x 40 seeds = 120 random cases (disjoint pairs, float32 and float64, N = 0)
    for seed in range(40):
        g = torch.Generator().manual_seed(100 + seed)
        dtype = torch.float32 if seed % 2 else torch.float64
        boxes1, boxes2 = random_pairs(
            int(torch.randint(0, 8, (1,), generator=g)), generator=g, dtype=dtype
        )
        weights = torch.randn(len(boxes1), generator=g, dtype=dtype)
        ours, our_grads = values_and_grads(
            lambda a, b: generalized_box_iou_loss(a, b, reduction), boxes1, boxes2, weights=weights
        )
        theirs, their_grads = values_and_grads(
            lambda a, b: tvo.generalized_box_iou_loss(a, b, reduction),
            boxes1,
            boxes2,
            weights=weights,
        )
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
        for a, b in zip(our_grads, their_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_iou_loss_matches_torchvision():
    # 120 random cases: with eps = 0 it is 1 - diag(box_iou); with the default eps it is 1 - the
    # IoU inside torchvision's distance_box_iou_loss (also the one of its generalized loss)
    for seed in range(120):
        g = torch.Generator().manual_seed(300 + seed)
        dtype = torch.float32 if seed % 2 else torch.float64
        boxes1, boxes2 = random_pairs(
            int(torch.randint(0, 8, (1,), generator=g)), generator=g, dtype=dtype
        )
        torch.testing.assert_close(
            iou_loss(boxes1, boxes2, eps=0.0),
            1 - tvo.box_iou(boxes1, boxes2).diagonal(),
            rtol=0,
            atol=0,
        )
        ours, our_grads = values_and_grads(iou_loss, boxes1, boxes2)
        theirs, their_grads = values_and_grads(
            lambda a, b: 1 - _diou_iou_loss(a, b, 1e-7)[1], boxes1, boxes2
        )
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
        for a, b in zip(our_grads, their_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_disjoint_boxes_give_iou_loss_no_gradient_but_giou_loss_one():
    # the teaching point: [0, 0, 1, 1] and [3, 0, 4, 1] are disjoint, so I = 0 and the IoU loss
    # is 1 whatever their positions: its gradient is exactly zero. GIoU's enclosing box
    # [0, 0, 4, 1] (area 4) is half empty (union 2): GIoU loss = 1 - 0 + (4 - 2) / 4 = 1.5,
    # and moving the boxes closer shrinks the empty part: a non-zero gradient
    pred = torch.tensor([[0.0, 0.0, 1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[3.0, 0.0, 4.0, 1.0]], dtype=torch.float64)
    loss = iou_loss(pred, target, eps=0.0)
    loss.sum().backward()
    assert loss.item() == 1.0
    assert torch.equal(pred.grad, torch.zeros_like(pred))
    pred.grad = None
    loss = generalized_box_iou_loss(pred, target, eps=0.0)
    loss.sum().backward()
    assert loss.item() == 1.5
    # with I = 0 the loss is 2 - U / C; U = (x2 - x1)(y2 - y1) + 1, C = (4 - x1) * 1 here.
    # d/dx1 = -(dU/dx1 C - U dC/dx1) / C^2 = -((-1)(4) - 2(-1)) / 16 = +1/8 (shrinking the box
    # away from the target costs); d/dx2 = -(1 * 4 - 2 * 0) / 16 = -1/4 (growing it towards the
    # target helps). (y ties with the target's y: torch.max splits those gradients; not checked.)
    assert pred.grad[0, 0].item() == pytest.approx(1 / 8, abs=1e-15)
    assert pred.grad[0, 2].item() == pytest.approx(-1 / 4, abs=1e-15)
    assert pred.grad.abs().sum() > 0
    # torchvision agrees on both gradients
    _, (their_grad, _) = values_and_grads(
        lambda a, b: tvo.generalized_box_iou_loss(a, b, eps=0.0), pred, target
    )
    torch.testing.assert_close(pred.grad, their_grad)


def test_iou_and_giou_loss_by_hand():
    # the course's example: IoU([0, 0, 2, 2], [1, 1, 3, 4]) = 1/9; the enclosing box
    # [0, 0, 3, 4] has area 12, union 9: GIoU loss = 1 - 1/9 + 3/12 = 41/36
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 1.0, 3.0, 4.0]], dtype=torch.float64)
    assert iou_loss(a, b, eps=0.0).item() == pytest.approx(8 / 9, abs=1e-15)
    assert generalized_box_iou_loss(a, b, eps=0.0).item() == pytest.approx(41 / 36, abs=1e-15)
    # identical boxes: both losses 0 (up to eps)
    assert iou_loss(a, a).item() == pytest.approx(0, abs=1e-7)
    assert generalized_box_iou_loss(a, a).item() == pytest.approx(0, abs=1e-7)
    # reductions: of losses 8/9 and 0, the mean is 4/9 and the sum 8/9
    pairs1, pairs2 = torch.cat([a, a]), torch.cat([b, a])
    assert iou_loss(pairs1, pairs2, "mean", eps=0.0).item() == pytest.approx(4 / 9)
    assert iou_loss(pairs1, pairs2, "sum", eps=0.0).item() == pytest.approx(8 / 9)
    # no pairs: the mean is 0 (torchvision's convention for these losses)
    assert generalized_box_iou_loss(torch.zeros(0, 4), torch.zeros(0, 4), "mean").item() == 0
    assert iou_loss(torch.zeros(0, 4), torch.zeros(0, 4), "mean").item() == 0


def test_gradcheck_on_overlapping_boxes():
    # overlapping, non-degenerate boxes: the losses are smooth there
    a = torch.tensor(
        [[0.0, 0.0, 2.0, 2.0], [1.0, 2.0, 5.0, 4.5]], dtype=torch.float64, requires_grad=True
    )
    b = torch.tensor(
        [[1.0, 1.0, 3.0, 4.0], [0.5, 1.0, 4.0, 3.0]], dtype=torch.float64, requires_grad=True
    )
    assert torch.autograd.gradcheck(generalized_box_iou_loss, (a, b))
    assert torch.autograd.gradcheck(iou_loss, (a, b))
    assert torch.autograd.gradcheck(lambda x, y: lp_iou_loss(x, y, p=2), (a, b))


def test_integer_boxes_are_computed_in_float32():
    a = torch.tensor([[0, 0, 2, 2]])
    b = torch.tensor([[1, 1, 3, 4]])
    assert generalized_box_iou_loss(a, b).dtype == torch.float32
    torch.testing.assert_close(generalized_box_iou_loss(a, b), tvo.generalized_box_iou_loss(a, b))


# ---- Lp + IoU -------------------------------------------------------------------------------


def test_lp_iou_loss_by_hand():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 1.0, 3.0, 4.0]], dtype=torch.float64)
    # coordinate differences 1, 1, 1, 2. p = 1: mean 5/4; p = 2: mean (1 + 1 + 1 + 4) / 4 = 7/4;
    # plus 1 - IoU = 8/9
    assert lp_iou_loss(a, b, p=1, eps=0.0).item() == pytest.approx(5 / 4 + 8 / 9, abs=1e-15)
    assert lp_iou_loss(a, b, p=2, eps=0.0).item() == pytest.approx(7 / 4 + 8 / 9, abs=1e-15)
    # disjoint boxes: the IoU part is flat but the Lp part still pulls: gradient -1/4 on every
    # coordinate of a box left of its target (p = 1: d|x - t| / dx / 4)
    pred = torch.tensor([[0.0, 0.0, 1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[3.0, 0.5, 4.0, 1.5]], dtype=torch.float64)
    lp_iou_loss(pred, target, p=1).sum().backward()
    assert pred.grad.tolist() == [[-0.25, -0.25, -0.25, -0.25]]
    # reductions
    two1, two2 = torch.cat([a, a]), torch.cat([b, a])
    assert lp_iou_loss(two1, two2, p=1, reduction="sum", eps=0.0).item() == pytest.approx(
        5 / 4 + 8 / 9
    )
    assert lp_iou_loss(two1, two2, p=1, reduction="mean", eps=0.0).item() == pytest.approx(
        (5 / 4 + 8 / 9) / 2
    )


def test_lp_iou_loss_is_lp_plus_iou_loss_on_random_boxes():
    g = torch.Generator().manual_seed(9)
    a, b = random_pairs(50, generator=g)
    for p in (1, 2, 1.5):
        expected = ((a - b).abs() ** p).mean(dim=1) + iou_loss(a, b)
        torch.testing.assert_close(lp_iou_loss(a, b, p=p), expected, rtol=0, atol=0)


def test_bad_inputs_give_clear_errors():
    boxes = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="paired boxes of the same shape"):
        iou_loss(boxes, torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\)"):
        generalized_box_iou_loss(torch.zeros(3, 5), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="reduction must be one of"):
        generalized_box_iou_loss(boxes, boxes, reduction="avg")
    with pytest.raises(ValueError, match="p must be a positive number"):
        lp_iou_loss(boxes, boxes, p=0)
    with pytest.raises(TypeError, match="must be a tensor"):
        iou_loss(boxes, [[0, 0, 1, 1]] * 3)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        smooth_l1_loss(boxes, boxes, beta=-1.0)
    with pytest.raises(ValueError, match="same shape"):
        smooth_l1_loss(boxes, torch.zeros(3))
    with pytest.raises(TypeError, match="floating-point"):
        smooth_l1_loss(boxes.long(), boxes)
