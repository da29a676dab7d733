"""focal_loss (softmax form) against an independent formula, the cross-entropy and a hand
case; sigmoid_focal_loss against torchvision.ops.sigmoid_focal_loss; the difference from
segmentation-models-pytorch's multiclass FocalLoss."""

import math

import pytest
import torch
import torch.nn.functional as F

from segedu.losses import cross_entropy, focal_loss, sigmoid_focal_loss

from .cases import random_logits_target

tv_ops = pytest.importorskip("torchvision.ops")
smp = pytest.importorskip("segmentation_models_pytorch")

REDUCTIONS = ["none", "mean", "sum"]


def _independent_focal(logits, target, alpha, gamma, ignore_index):
    """Pixel by pixel in plain Python on the softmax probabilities: -a (1 - p)^g log p."""
    probs = logits.softmax(dim=1).movedim(1, -1).reshape(-1, logits.shape[1]).tolist()
    labels = target.reshape(-1).tolist()
    losses = []
    for p, y in zip(probs, labels, strict=True):
        if y == ignore_index:
            losses.append(0.0)
            continue
        a = 1.0 if alpha is None else (alpha if isinstance(alpha, float) else float(alpha[y]))
        losses.append(-a * (1 - p[y]) ** gamma * math.log(p[y]))
    return torch.tensor(losses, dtype=torch.float64).reshape(target.shape)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_focal_matches_independent_formula(reduction):
    # 3 reductions x 40 = 120 cases
    g = torch.Generator().manual_seed(REDUCTIONS.index(reduction))
    for case in range(40):
        shape = [(5,), (2, 3, 3), (1, 2, 2, 3)][case % 3]
        num_classes = 1 + case % 4
        ignore_index = [-100, 255][case % 2]
        logits, target = random_logits_target(
            shape, num_classes, generator=g, ignore_index=ignore_index
        )
        gamma = [0.0, 0.5, 2.0, 3.0][case % 4]
        alpha = [None, 0.25, torch.rand(num_classes, generator=g, dtype=torch.float64)][case % 3]
        per_pixel = _independent_focal(logits, target, alpha, gamma, ignore_index)
        counted = (target != ignore_index).sum()
        expected = {"none": per_pixel, "sum": per_pixel.sum(), "mean": per_pixel.sum() / counted}
        ours = focal_loss(
            logits, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index, reduction=reduction
        )
        torch.testing.assert_close(ours, expected[reduction], equal_nan=True)


def test_gamma_zero_is_cross_entropy():
    g = torch.Generator().manual_seed(5)
    for case in range(20):
        logits, target = random_logits_target((2, 4, 5), 4, generator=g, ignore_index=255)
        for reduction in REDUCTIONS:
            x, y = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
            ours = focal_loss(x, target, gamma=0.0, ignore_index=255, reduction=reduction)
            ce = cross_entropy(y, target, ignore_index=255, reduction=reduction)
            torch.testing.assert_close(ours, ce)
            ours.sum().backward()
            ce.sum().backward()
            torch.testing.assert_close(x.grad, y.grad)
        # with per-class alpha the "sum"s agree with a class-weighted cross-entropy, the "mean"s
        # do not: focal divides by the number of pixels, cross_entropy by the sum of weights
        w = torch.rand(4, generator=g, dtype=torch.float64) + 0.1
        kw = dict(ignore_index=255, reduction="sum")
        torch.testing.assert_close(
            focal_loss(logits, target, alpha=w, gamma=0.0, **kw),
            cross_entropy(logits, target, w, **kw),
        )
        if case == 0:
            assert not torch.allclose(
                focal_loss(logits, target, alpha=w, gamma=0.0, ignore_index=255),
                cross_entropy(logits, target, w, ignore_index=255),
            )


def test_softmax_focal_hand_computed():
    # logits (ln 3, 0): p = (3/4, 1/4). Class 0: (1/4)^2 ln(4/3); class 1: (3/4)^2 ln 4.
    logits = torch.tensor([[math.log(3.0), 0.0]] * 2, dtype=torch.float64)
    target = torch.tensor([0, 1])
    expected = torch.tensor([math.log(4 / 3) / 16, 9 * math.log(4.0) / 16], dtype=torch.float64)
    torch.testing.assert_close(focal_loss(logits, target, reduction="none"), expected)
    # per-class alpha (0.25, 0.75) multiplies each pixel by its class's factor
    alpha = torch.tensor([0.25, 0.75], dtype=torch.float64)
    torch.testing.assert_close(
        focal_loss(logits, target, alpha=alpha, reduction="none"), expected * alpha
    )


def test_softmax_focal_gradcheck_and_bad_input():
    g = torch.Generator().manual_seed(8)
    logits, target = random_logits_target((2, 2, 3), 3, generator=g, ignore_index=-100)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: focal_loss(x, target, gamma=2.0), (logits,))
    with pytest.raises(TypeError, match="integer"):
        focal_loss(logits, target.float())
    with pytest.raises(ValueError, match="outside"):
        focal_loss(logits, target.clamp(min=0) + 3)
    with pytest.raises(ValueError, match="gamma"):
        focal_loss(logits, target, gamma=-1.0)
    with pytest.raises(ValueError, match=r"\(C,\)"):
        focal_loss(logits, target, alpha=torch.ones(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="reduction"):
        focal_loss(logits, target, reduction="avg")


def test_smp_multiclass_focal_is_a_different_formula():
    # smp: mean over classes of the one-vs-rest *sigmoid* focal loss (mean over pixels)
    g = torch.Generator().manual_seed(9)
    logits, target = random_logits_target((2, 4, 4), 3, generator=g, dtype=torch.float32)
    theirs = smp.losses.FocalLoss("multiclass", gamma=2.0)(logits, target)
    one_vs_rest = torch.stack(
        [
            tv_ops.sigmoid_focal_loss(
                logits[:, c], (target == c).float(), alpha=-1, gamma=2.0
            ).mean()
            for c in range(3)
        ]
    ).mean()
    torch.testing.assert_close(theirs, one_vs_rest)
    ours = focal_loss(logits, target, gamma=2.0)
    assert abs(float(ours) - float(theirs)) > 1e-2  # softmax != one-vs-rest sigmoids


# ---------------------------------------------------------------- sigmoid focal loss


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_focal_matches_torchvision(reduction):
    # 3 reductions x 40 = 120 cases: alpha in [0, 1] or negative (off), various gamma
    g = torch.Generator().manual_seed(30 + REDUCTIONS.index(reduction))
    for case in range(40):
        shape = [(8,), (2, 3, 4), (3, 1, 2, 2)][case % 3]
        dtype = torch.float64 if case % 2 else torch.float32
        inputs = 3 * torch.randn(shape, generator=g, dtype=dtype)
        targets = torch.randint(0, 2, shape, generator=g).to(dtype)
        alpha = [0.25, -1.0, 0.0, 1.0, float(torch.rand(1, generator=g))][case % 5]
        gamma = [2, 0, 1.5, 5][case % 4]
        x = inputs.clone().requires_grad_(True)
        y = inputs.clone().requires_grad_(True)
        ours = sigmoid_focal_loss(x, targets, alpha, gamma, reduction)
        theirs = tv_ops.sigmoid_focal_loss(y, targets, alpha, gamma, reduction)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)  # same operations: bitwise
        ours.sum().backward()
        theirs.sum().backward()
        torch.testing.assert_close(x.grad, y.grad, rtol=0, atol=0)


def test_sigmoid_focal_hand_computed():
    # x = 0: p = 1/2, p_t = 1/2, BCE = ln 2; gamma 2 -> (1/2)^2 ln 2; alpha 0.25 for t = 1,
    # 0.75 for t = 0
    x = torch.zeros(2, dtype=torch.float64)
    t = torch.tensor([1.0, 0.0], dtype=torch.float64)
    expected = torch.tensor([0.25, 0.75], dtype=torch.float64) * 0.25 * math.log(2)
    torch.testing.assert_close(sigmoid_focal_loss(x, t), expected)
    # alpha < 0 switches the factor off; gamma 0 then gives the plain BCE
    torch.testing.assert_close(
        sigmoid_focal_loss(x, t, alpha=-1, gamma=0),
        F.binary_cross_entropy_with_logits(x, t, reduction="none"),
    )


def test_sigmoid_focal_bad_input():
    with pytest.raises(ValueError, match="reduction"):
        sigmoid_focal_loss(torch.zeros(2), torch.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match="shape"):
        sigmoid_focal_loss(torch.zeros(2), torch.zeros(3))
    with pytest.raises(TypeError, match="floating-point"):
        sigmoid_focal_loss(torch.zeros(2), torch.zeros(2, dtype=torch.long))


def test_sigmoid_focal_gradcheck():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 2, (2, 4), generator=g).double()
    assert torch.autograd.gradcheck(lambda z: sigmoid_focal_loss(z, t, reduction="mean"), (x,))
