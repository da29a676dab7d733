"""cross_entropy, binary_cross_entropy_with_logits and binary_cross_entropy against PyTorch's
functional losses (values and gradients), hand-computed cases and bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from segedu.losses import binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy

from .cases import random_logits_target

SHAPES = [(6,), (3, 4, 5), (2, 3, 2, 4)]  # target shapes: (N,), (N, H, W), (N, D, H, W)
REDUCTIONS = ["none", "mean", "sum"]


def _values_and_grads(fn, logits, *args, **kwargs):
    x = logits.clone().requires_grad_(True)
    out = fn(x, *args, **kwargs)
    # a random-ish cotangent so that "none" is checked element by element
    out.backward(torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape))
    return out.detach(), x.grad


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_pytorch(shape, reduction):
    # 3 shapes x 3 reductions x 12 cases = 108 random cases. With all pixels ignored (possible
    # for tiny shapes) both give NaN for "mean", and the same gradients: 0 on ignored pixels,
    # NaN (0/0) on counted pixels whose class weight is 0.
    g = torch.Generator().manual_seed(hash((shape, reduction)) % 2**31)
    for case in range(12):
        num_classes = 1 + case % 5
        ignore_index = [-100, 255, 0][case % 3]
        logits, target = random_logits_target(
            shape, num_classes, generator=g, ignore_index=ignore_index
        )
        weight = torch.rand(num_classes, generator=g, dtype=torch.float64) if case % 2 else None
        kwargs = dict(weight=weight, ignore_index=ignore_index, reduction=reduction)
        ours, ours_grad = _values_and_grads(cross_entropy, logits, target, **kwargs)
        theirs, theirs_grad = _values_and_grads(F.cross_entropy, logits, target, **kwargs)
        torch.testing.assert_close(ours, theirs, equal_nan=True)
        torch.testing.assert_close(ours_grad, theirs_grad, equal_nan=True)


def test_cross_entropy_float32_matches_pytorch():
    g = torch.Generator().manual_seed(3)
    logits, target = random_logits_target((4, 8, 8), 6, generator=g, dtype=torch.float32)
    torch.testing.assert_close(cross_entropy(logits, target), F.cross_entropy(logits, target))


@pytest.mark.parametrize("weight", [None, torch.tensor([0.2, 3.0], dtype=torch.float64)])
def test_all_pixels_ignored(weight):
    logits = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    target = torch.full((2, 3, 3), 255)
    # mean: 0 / 0 = NaN, as PyTorch; sum: 0; none: zeros
    assert torch.isnan(cross_entropy(logits, target, weight, ignore_index=255))
    assert torch.isnan(F.cross_entropy(logits, target, weight, ignore_index=255))
    assert cross_entropy(logits, target, weight, ignore_index=255, reduction="sum") == 0
    assert (cross_entropy(logits, target, weight, 255, "none") == 0).all()


def test_cross_entropy_hand_computed():
    # logits (ln 3, 0): softmax = (3/4, 1/4). Class 0 -> -ln(3/4) = ln(4/3); class 1 -> ln 4.
    logits = torch.tensor([[math.log(3.0), 0.0], [math.log(3.0), 0.0]], dtype=torch.float64)
    target = torch.tensor([0, 1])
    expected = torch.tensor([math.log(4 / 3), math.log(4.0)], dtype=torch.float64)
    torch.testing.assert_close(cross_entropy(logits, target, reduction="none"), expected)
    # weights (1, 3): "none" = (ln 4/3, 3 ln 4); "mean" = (ln 4/3 + 3 ln 4) / (1 + 3)
    w = torch.tensor([1.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(
        cross_entropy(logits, target, w),
        torch.tensor((math.log(4 / 3) + 3 * math.log(4.0)) / 4, dtype=torch.float64),
    )
    # a tie (0, 0) costs ln 2 whatever the class
    assert math.isclose(
        float(cross_entropy(torch.zeros(1, 2, dtype=torch.float64), torch.tensor([1]))), math.log(2)
    )


def test_cross_entropy_mean_unchanged_by_scaling_weights():
    # the "mean" is a weighted mean: a common factor cancels
    g = torch.Generator().manual_seed(5)
    logits, target = random_logits_target((2, 5, 5), 3, generator=g)
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(
        cross_entropy(logits, target, w), cross_entropy(logits, target, 7 * w)
    )


def test_cross_entropy_gradcheck():
    g = torch.Generator().manual_seed(0)
    logits, target = random_logits_target((2, 2, 3), 3, generator=g, ignore_index=-100)
    w = torch.tensor([0.3, 1.0, 2.0], dtype=torch.float64)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: cross_entropy(x, target, w), (logits,))


def test_cross_entropy_bad_input():
    logits = torch.randn(2, 3, 4, 4)
    target = torch.randint(0, 3, (2, 4, 4))
    with pytest.raises(TypeError, match="integer class labels"):
        cross_entropy(logits, target.float())
    with pytest.raises(TypeError, match="floating-point"):
        cross_entropy(logits.long(), target)
    with pytest.raises(ValueError, match="shape"):
        cross_entropy(logits, target[:, :3])
    with pytest.raises(ValueError, match="outside"):
        cross_entropy(logits, torch.full((2, 4, 4), 3))
    with pytest.raises(ValueError, match="outside"):  # 255 is not ignored by default (-100 is)
        cross_entropy(logits, torch.full((2, 4, 4), 255))
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(logits, target, reduction="avg")
    with pytest.raises(ValueError, match=r"\(C,\)"):
        cross_entropy(logits, target, weight=torch.ones(4))
    with pytest.raises(ValueError, match="class dimension"):
        cross_entropy(torch.randn(3), torch.tensor(1))


# ---------------------------------------------------------------- binary, on logits


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_pytorch(reduction):
    # 3 reductions x 40 cases = 120 random cases
    g = torch.Generator().manual_seed(11 + REDUCTIONS.index(reduction))
    for case in range(40):
        shape = [(7,), (2, 3, 4), (2, 1, 3, 3), (4, 5)][case % 4]
        logits = 5 * torch.randn(shape, generator=g, dtype=torch.float64)
        target = torch.rand(shape, generator=g, dtype=torch.float64)  # soft labels too
        if case % 2:
            target = target.round()
        weight = torch.rand(shape, generator=g, dtype=torch.float64) if case % 3 == 0 else None
        pos_weight = (
            3 * torch.rand(shape[-1:], generator=g, dtype=torch.float64) if case % 5 < 2 else None
        )
        kwargs = dict(weight=weight, pos_weight=pos_weight, reduction=reduction)
        ours, ours_grad = _values_and_grads(
            binary_cross_entropy_with_logits, logits, target, **kwargs
        )
        theirs, theirs_grad = _values_and_grads(
            F.binary_cross_entropy_with_logits, logits, target, **kwargs
        )
        torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(ours_grad, theirs_grad)


def test_bce_with_logits_hand_and_extreme():
    # x = 0: p = 1/2, loss ln 2 for t = 0 or 1. x = ln 3: p = 3/4, t = 1 -> ln(4/3).
    x = torch.tensor([0.0, 0.0, math.log(3.0)], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    expected = torch.tensor([math.log(2), math.log(2), math.log(4 / 3)], dtype=torch.float64)
    torch.testing.assert_close(binary_cross_entropy_with_logits(x, t, reduction="none"), expected)
    # pos_weight 2 doubles the positive term only: 2 ln(4/3) for the last element
    torch.testing.assert_close(
        binary_cross_entropy_with_logits(x, t, pos_weight=torch.tensor(2.0), reduction="none"),
        expected * torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64),
    )
    # huge logits stay finite: x = -200, t = 1 costs 200 (-log sigma(-200) ~ 200)
    big = binary_cross_entropy_with_logits(torch.tensor([-200.0]), torch.tensor([1.0]))
    assert math.isclose(float(big), 200.0, rel_tol=1e-6)


# ---------------------------------------------------------------- binary, on probabilities


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_matches_pytorch(reduction):
    # 3 reductions x 40 cases = 120 random cases, probabilities strictly inside (0, 1)
    g = torch.Generator().manual_seed(21 + REDUCTIONS.index(reduction))
    for case in range(40):
        shape = [(9,), (2, 3, 4), (3, 1, 2, 2)][case % 3]
        probs = torch.sigmoid(4 * torch.randn(shape, generator=g, dtype=torch.float64))
        target = torch.rand(shape, generator=g, dtype=torch.float64)
        weight = torch.rand(shape, generator=g, dtype=torch.float64) if case % 2 else None
        kwargs = dict(weight=weight, reduction=reduction)
        ours, ours_grad = _values_and_grads(binary_cross_entropy, probs, target, **kwargs)
        theirs, theirs_grad = _values_and_grads(F.binary_cross_entropy, probs, target, **kwargs)
        torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(ours_grad, theirs_grad)


def test_bce_clamps_log_at_minus_100_like_pytorch():
    # p = 0 with t = 1 (and p = 1 with t = 0) costs exactly 100: log is clamped at -100
    probs = torch.tensor([0.0, 1.0, 0.0, 1.0, 1e-50], dtype=torch.float64)
    target = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    ours = binary_cross_entropy(probs, target, reduction="none")
    torch.testing.assert_close(ours, F.binary_cross_entropy(probs, target, reduction="none"))
    torch.testing.assert_close(
        ours, torch.tensor([100.0, 100.0, 0.0, 0.0, 100.0], dtype=torch.float64)
    )
    # the gradient there is finite (0: the clamped log is flat) where PyTorch's backward gives
    # (p - t) / max(p (1 - p), 1e-12) = -1e12: the documented difference
    x = probs.clone().requires_grad_(True)
    binary_cross_entropy(x, target, reduction="sum").backward()
    assert torch.isfinite(x.grad).all() and x.grad[0] == 0
    y = probs.clone().requires_grad_(True)
    F.binary_cross_entropy(y, target, reduction="sum").backward()
    assert math.isclose(float(y.grad[0]), -1e12, rel_tol=1e-6)


def test_bce_bad_input():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binary_cross_entropy(torch.tensor([1.5]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="shape"):
        binary_cross_entropy(torch.tensor([0.5, 0.5]), torch.tensor([1.0]))
    with pytest.raises(TypeError, match="floating-point"):
        binary_cross_entropy_with_logits(torch.tensor([0.5]), torch.tensor([1]))
    with pytest.raises(ValueError, match="reduction"):
        binary_cross_entropy_with_logits(torch.tensor([0.5]), torch.tensor([1.0]), reduction="x")


def test_binary_gradcheck():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.rand(2, 3, generator=g, dtype=torch.float64)
    pw = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda z: binary_cross_entropy_with_logits(z, t, pos_weight=pw), (x,)
    )
    p = torch.sigmoid(x.detach()).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: binary_cross_entropy(z, t), (p,))
