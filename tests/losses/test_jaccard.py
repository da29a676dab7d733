"""jaccard_loss against segmentation-models-pytorch's JaccardLoss where they coincide,
the absent-class difference, hand-computed cases and gradcheck."""

import pytest
import torch

from segedu.losses import dice_loss, jaccard_loss

from .cases import random_binary, random_logits_target

smp = pytest.importorskip("segmentation_models_pytorch")

SHAPES = [(2, 5, 6), (1, 4, 4), (3, 7), (2, 2, 3, 3)]


def _grad(fn, logits, *args, **kwargs):
    x = logits.clone().requires_grad_(True)
    value = fn(x, *args, **kwargs)
    value.backward()
    return value.detach(), x.grad


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_matches_smp_when_all_classes_present(shape, ignore_index):
    # 4 shapes x 2 ignore x 14 = 112 cases (multiclass, plus a binary case every other one);
    # here smp's smooth is the same as ours
    g = torch.Generator().manual_seed(len(shape) + 7 * (ignore_index or 0))
    for case in range(14):
        smooth = [0.0, 1.0][case % 2]
        logits, target = random_logits_target(
            shape, 2 + case % 3, generator=g, ignore_index=ignore_index, all_present=True
        )
        ours, ours_grad = _grad(
            jaccard_loss, logits, target, smooth=smooth, ignore_index=ignore_index
        )
        ref = smp.losses.JaccardLoss("multiclass", smooth=smooth, ignore_index=ignore_index)
        theirs, theirs_grad = _grad(ref, logits, target)
        torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(ours_grad, theirs_grad)
        if case % 2:
            logits, target = random_binary(
                shape, generator=g, ignore_index=ignore_index, dtype=torch.float64
            )
            ours = jaccard_loss(
                logits, target, mode="binary", smooth=smooth, ignore_index=ignore_index
            )
            ref = smp.losses.JaccardLoss("binary", smooth=smooth, ignore_index=ignore_index)
            torch.testing.assert_close(ours, ref(logits, target))


def test_absent_class_differs_from_smp():
    g = torch.Generator().manual_seed(3)
    logits, target = random_logits_target((2, 4, 4), 3, generator=g, all_present=True)
    target[target == 1] = 2  # class 1 absent
    per_class = jaccard_loss(logits, target, reduction="none")
    theirs = smp.losses.JaccardLoss("multiclass", smooth=1.0)(logits, target)
    # smp zeroes the absent class's loss but divides by all C = 3 classes
    torch.testing.assert_close(theirs, (per_class[0] + per_class[2]) / 3)
    assert not torch.allclose(per_class.mean(), theirs)


def test_hand_computed():
    # p = (0.5, 1, 0, 0.25), g = (1, 1, 0, 0): I = 1.5, U = 1.75 + 2 - 1.5 = 2.25.
    # smooth 1: (1.5 + 1)/(2.25 + 1) = 10/13, loss 3/13; smooth 0: 1.5/2.25 = 2/3, loss 1/3.
    probs = torch.tensor([[0.5, 1.0, 0.0, 0.25]], dtype=torch.float64)
    target = torch.tensor([[1, 1, 0, 0]])
    kwargs = dict(mode="binary", from_logits=False)
    torch.testing.assert_close(jaccard_loss(probs, target, **kwargs), torch.tensor(3 / 13).double())
    torch.testing.assert_close(
        jaccard_loss(probs, target, smooth=0, **kwargs), torch.tensor(1 / 3).double()
    )


def test_hard_masks_relation_to_dice():
    # for 0/1 predictions and smooth 0: dice = 2 IoU / (1 + IoU)
    g = torch.Generator().manual_seed(4)
    for _ in range(20):
        probs = torch.randint(0, 2, (1, 1, 5, 5), generator=g).double()
        target = torch.randint(0, 2, (1, 5, 5), generator=g)
        kwargs = dict(mode="binary", smooth=0.0, from_logits=False)
        iou = 1 - jaccard_loss(probs, target, **kwargs)
        dice = 1 - dice_loss(probs, target, **kwargs)
        torch.testing.assert_close(dice, 2 * iou / (1 + iou))


def test_empty_masks_and_gradcheck():
    probs = torch.zeros(1, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    target = torch.zeros(1, 3, 3, dtype=torch.long)
    loss = jaccard_loss(probs, target, mode="binary", smooth=0.0, from_logits=False)
    assert loss == 0  # 0/0 is IoU 1
    loss.backward()
    assert torch.isfinite(probs.grad).all()
    g = torch.Generator().manual_seed(5)
    logits, target = random_logits_target((2, 3, 2), 3, generator=g, ignore_index=255)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: jaccard_loss(x, target, ignore_index=255, per_image=True), (logits,)
    )


def test_bad_input():
    logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    with pytest.raises(TypeError, match="integer"):
        jaccard_loss(logits, target.double())
    with pytest.raises(ValueError, match="shape"):
        jaccard_loss(logits, target[0])
    with pytest.raises(ValueError, match="outside"):
        jaccard_loss(logits, target - 1)
    with pytest.raises(ValueError, match="reduction"):
        jaccard_loss(logits, target, reduction="max")
