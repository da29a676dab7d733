"""dice_loss against segmentation-models-pytorch's DiceLoss where the two formulas coincide,
the documented differences, hand-computed cases, empty masks and gradcheck."""

import itertools

import pytest
import torch

from segedu.losses import dice_loss, soft_counts

from .cases import random_binary, random_logits_target

smp = pytest.importorskip("segmentation_models_pytorch")

SHAPES = [(2, 5, 6), (1, 4, 4), (3, 7), (2, 2, 3, 3)]  # target shapes (N, ...)


def _grad(fn, logits, *args, **kwargs):
    x = logits.clone().requires_grad_(True)
    value = fn(x, *args, **kwargs)
    value.backward()
    return value.detach(), x.grad


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_multiclass_matches_smp_when_all_classes_present(shape, ignore_index):
    # 4 shapes x 2 ignore x 14 = 112 cases. Coinciding configuration: per_image=False, every
    # class present in the target, and smp's smooth = ours / 2 (smp writes the Dice as a
    # Tversky index, (2I + 2a) / (sum p + sum g + 2a), see dice.py).
    g = torch.Generator().manual_seed(len(shape) * 10 + (ignore_index or 0))
    for case in range(14):
        num_classes = 2 + case % 3
        smooth = [0.0, 1.0, 0.5][case % 3]
        logits, target = random_logits_target(
            shape, num_classes, generator=g, ignore_index=ignore_index, all_present=True
        )
        ours, ours_grad = _grad(dice_loss, logits, target, smooth=smooth, ignore_index=ignore_index)
        ref = smp.losses.DiceLoss("multiclass", smooth=smooth / 2, ignore_index=ignore_index)
        theirs, theirs_grad = _grad(ref, logits, target)
        torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(ours_grad, theirs_grad)


@pytest.mark.parametrize("ignore_index", [None, 255])
def test_binary_and_probabilities_match_smp(ignore_index):
    # 2 x 30 = 60 binary cases (foreground present) + 2 x 30 multiclass from probabilities
    g = torch.Generator().manual_seed(99 + (ignore_index or 0))
    for case in range(30):
        shape = SHAPES[case % len(SHAPES)]
        smooth = [0.0, 1.0][case % 2]
        logits, target = random_binary(
            shape, generator=g, ignore_index=ignore_index, dtype=torch.float64
        )
        ours, ours_grad = _grad(
            dice_loss, logits, target, mode="binary", smooth=smooth, ignore_index=ignore_index
        )
        ref = smp.losses.DiceLoss("binary", smooth=smooth / 2, ignore_index=ignore_index)
        theirs, theirs_grad = _grad(ref, logits, target)
        torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(ours_grad, theirs_grad)

        logits, target = random_logits_target(
            shape, 3, generator=g, ignore_index=ignore_index, all_present=True
        )
        probs = logits.softmax(dim=1)
        ours = dice_loss(probs, target, smooth=smooth, ignore_index=ignore_index, from_logits=False)
        ref = smp.losses.DiceLoss(
            "multiclass", smooth=smooth / 2, ignore_index=ignore_index, from_logits=False
        )
        torch.testing.assert_close(ours, ref(probs, target))


def test_differences_from_smp():
    g = torch.Generator().manual_seed(1)
    logits, target = random_logits_target((2, 4, 4), 3, generator=g, all_present=True)
    # 1. smoothing: smp's smooth=a is our smooth=2a, so equal smooth values differ
    ours = dice_loss(logits, target, smooth=1.0)
    assert not torch.allclose(ours, smp.losses.DiceLoss("multiclass", smooth=1.0)(logits, target))
    torch.testing.assert_close(ours, smp.losses.DiceLoss("multiclass", smooth=0.5)(logits, target))

    # 2. an absent class: smp zeroes its loss but still divides by C; ours keeps
    #    1 - s / (sum p + s) for it. smp == (our per-class losses * present).sum() / C.
    target[target == 2] = 0  # class 2 now absent
    per_class = dice_loss(logits, target, smooth=1.0, reduction="none")
    present = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    theirs = smp.losses.DiceLoss("multiclass", smooth=0.5)(logits, target)
    torch.testing.assert_close(theirs, (per_class * present).sum() / 3)
    assert per_class[2] > 0.05  # the class is predicted with some probability: a real loss
    assert not torch.allclose(per_class.mean(), theirs)

    # 3. smp has no per-image Dice: ours with per_image=True is the mean of per-image losses
    logits, target = random_logits_target((2, 4, 4), 2, generator=g, all_present=True)
    per_image = dice_loss(logits, target, per_image=True, reduction="none")
    assert per_image.shape == (2, 2)
    for i in range(2):
        torch.testing.assert_close(
            per_image[i], dice_loss(logits[i : i + 1], target[i : i + 1], reduction="none")
        )


def test_hand_computed_binary():
    # p = (0.5, 1, 0, 0.25), g = (1, 1, 0, 0): I = 1.5, sum p = 1.75, sum g = 2.
    # smooth 1: dice = (3 + 1) / (3.75 + 1) = 16/19, loss 3/19.
    # smooth 0: dice = 3 / 3.75 = 4/5, loss 1/5.
    probs = torch.tensor([[0.5, 1.0, 0.0, 0.25]], dtype=torch.float64)
    target = torch.tensor([[1, 1, 0, 0]])
    kwargs = dict(mode="binary", from_logits=False)
    torch.testing.assert_close(dice_loss(probs, target, **kwargs), torch.tensor(3 / 19).double())
    torch.testing.assert_close(
        dice_loss(probs, target, smooth=0, **kwargs), torch.tensor(0.2).double()
    )
    # ignoring the last two pixels leaves p = (0.5, 1), g = (1, 1): (3 + 1)/(1.5 + 2 + 1) = 8/9
    ignored = torch.tensor([[1, 1, 255, 255]])
    torch.testing.assert_close(
        dice_loss(probs, ignored, ignore_index=255, **kwargs), torch.tensor(1 / 9).double()
    )


def test_hand_computed_multiclass_per_image():
    # two one-pixel "images", 2 classes, probabilities given directly:
    # image 0: p = (0.8, 0.2), class 0; image 1: p = (0.4, 0.6), class 0. smooth = 0.
    probs = torch.tensor([[[0.8], [0.2]], [[0.4], [0.6]]], dtype=torch.float64)  # (N=2, C=2, 1)
    target = torch.tensor([[0], [0]])
    # per image: class 0 dice = 2p/(p + 1): 1.6/1.8 = 8/9 and 0.8/1.4 = 4/7;
    # class 1 (absent, predicted): 0 / (p1 + 0) = 0, loss 1 in both images.
    # losses: image 0 (1/9, 1), image 1 (3/7, 1); mean = (1/9 + 1 + 3/7 + 1) / 4
    expected = (1 / 9 + 1 + 3 / 7 + 1) / 4
    ours = dice_loss(probs, target, smooth=0, per_image=True, from_logits=False)
    torch.testing.assert_close(ours, torch.tensor(expected, dtype=torch.float64))
    # over the batch: class 0: I = 1.2, sum p = 1.2, sum g = 2 -> 2.4/3.2 = 3/4;
    # class 1: 0/0.8 -> 0. loss = (1/4 + 1) / 2 = 5/8
    ours = dice_loss(probs, target, smooth=0, from_logits=False)
    torch.testing.assert_close(ours, torch.tensor(5 / 8, dtype=torch.float64))
    # classes=[0] keeps class 0 only: 1/4; reduction="sum" over the two classes: 5/4
    torch.testing.assert_close(
        dice_loss(probs, target, smooth=0, from_logits=False, classes=[0]),
        torch.tensor(0.25, dtype=torch.float64),
    )
    torch.testing.assert_close(
        dice_loss(probs, target, smooth=0, from_logits=False, reduction="sum"),
        torch.tensor(1.25, dtype=torch.float64),
    )


def test_empty_masks():
    # class 1 absent from the target and not predicted at all (probability 0 everywhere)
    probs = torch.zeros(1, 2, 3, 3, dtype=torch.float64)
    probs[:, 0] = 1.0
    target = torch.zeros(1, 3, 3, dtype=torch.long)
    for smooth in (1.0, 0.0):
        # smooth 1: (0 + 1)/(0 + 0 + 1) = 1; smooth 0: 0/0 defined as 1. Class 0 is perfect.
        per_class = dice_loss(probs, target, smooth=smooth, from_logits=False, reduction="none")
        torch.testing.assert_close(per_class, torch.zeros(2, dtype=torch.float64))
    # smooth = 0 with both masks empty gives a finite (zero) gradient, not NaN
    x = probs.clone().requires_grad_(True)
    dice_loss(x, target, smooth=0.0, from_logits=False).backward()
    assert torch.isfinite(x.grad).all()
    # an empty target with a predicted mask of total probability P: dice = s / (P + s)
    probs[:, 0], probs[:, 1] = 0.75, 0.25  # P = 9 * 0.25 = 2.25
    per_class = dice_loss(probs, target, smooth=1.0, from_logits=False, reduction="none")
    torch.testing.assert_close(per_class[1], torch.tensor(1 - 1 / 3.25, dtype=torch.float64))


def test_soft_counts_by_hand():
    probs = torch.tensor([[[0.5, 0.1], [0.5, 0.9]]], dtype=torch.float64)  # (1, 2, 2)
    target = torch.tensor([[1, 0]])
    i, p, t = soft_counts(probs, target, from_logits=False)
    # class 0: p = (0.5, 0.1), g = (0, 1): I = 0.1; class 1: p = (0.5, 0.9), g = (1, 0): I = 0.5
    torch.testing.assert_close(i, torch.tensor([0.1, 0.5], dtype=torch.float64))
    torch.testing.assert_close(p, torch.tensor([0.6, 1.4], dtype=torch.float64))
    torch.testing.assert_close(t, torch.tensor([1.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize(
    ("mode", "per_image"), list(itertools.product(["multiclass", "binary"], [False, True]))
)
def test_gradcheck(mode, per_image):
    g = torch.Generator().manual_seed(2)
    if mode == "binary":
        logits, target = random_binary(
            (2, 2, 3), generator=g, dtype=torch.float64, ignore_index=255
        )
    else:
        logits, target = random_logits_target((2, 2, 3), 3, generator=g, ignore_index=255)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: dice_loss(x, target, mode=mode, per_image=per_image, ignore_index=255), (logits,)
    )


def test_bad_input():
    logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    with pytest.raises(TypeError, match="integer"):
        dice_loss(logits, target.float())
    with pytest.raises(ValueError, match="shape"):
        dice_loss(logits, target[:, :2])
    with pytest.raises(ValueError, match="outside"):
        dice_loss(logits, target + 1)
    with pytest.raises(ValueError, match="reduction"):
        dice_loss(logits, target, reduction="avg")
    with pytest.raises(ValueError, match="mode"):
        dice_loss(logits, target, mode="multilabel")
    with pytest.raises(ValueError, match="smooth"):
        dice_loss(logits, target, smooth=-1.0)
    with pytest.raises(ValueError, match="classes"):
        dice_loss(logits, target, classes=[3])
    with pytest.raises(ValueError, match="multiclass"):
        dice_loss(logits[:, :1], target.clamp(max=1), mode="binary", classes=[0])
    with pytest.raises(ValueError, match="outside"):  # binary targets are 0/1
        dice_loss(logits[:, :1], target, mode="binary")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dice_loss(logits, target, from_logits=False)


# --- per-mask mode: one Dice per mask (Mask2Former, SAM) -------------------------------------


@pytest.mark.parametrize("num_masks", [0, 1, 6])
def test_per_mask_matches_mask2former_of_transformers(num_masks):
    """Mask2Former's mask Dice (transformers' port) on point samples with soft targets: the sum
    over masks of the per-mask mode, divided by the number of masks, bit for bit."""
    m2f = pytest.importorskip("transformers.models.mask2former.modeling_mask2former")
    torch.manual_seed(num_masks)
    logits = torch.randn(num_masks, 50) * 3
    targets = torch.rand(num_masks, 50)  # bilinear samples of 0/1 masks lie in [0, 1]
    targets[:, ::3] = targets[:, ::3].round()
    ours = dice_loss(logits, targets, mode="per_mask", smooth=1.0, reduction="sum") / 4.0
    torch.testing.assert_close(ours, m2f.dice_loss(logits, targets, 4.0), rtol=0, atol=0)


@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_per_mask_is_one_dice_per_mask(smooth):
    torch.manual_seed(3)
    logits = torch.randn(4, 5, 6, dtype=torch.float64)
    truth = torch.rand(4, 5, 6) > 0.5
    truth[2] = False  # an empty true mask
    per_mask = dice_loss(logits, truth, mode="per_mask", smooth=smooth, reduction="none")
    assert per_mask.shape == (4,)
    for i in range(4):  # the binary mode on one mask at a time is the same number
        one = dice_loss(logits[i : i + 1], truth[i : i + 1].long(), mode="binary", smooth=smooth)
        torch.testing.assert_close(per_mask[i], one)
    p, g = logits.sigmoid(), truth.double()
    expected = 1 - (2 * (p * g).sum((1, 2)) + smooth) / (p.sum((1, 2)) + g.sum((1, 2)) + smooth)
    torch.testing.assert_close(per_mask, expected)
    torch.testing.assert_close(
        dice_loss(logits, truth, mode="per_mask", smooth=smooth), expected.mean()
    )
    probs = logits.sigmoid()
    kwargs = {"mode": "per_mask", "smooth": smooth, "reduction": "none"}
    torch.testing.assert_close(dice_loss(probs, truth, from_logits=False, **kwargs), expected)


def test_per_mask_gradients_and_errors():
    logits = torch.randn(3, 8, dtype=torch.float64)
    target = (torch.rand(3, 8) > 0.5).double()
    loss = lambda x: dice_loss(x, target, mode="per_mask", reduction="none")  # noqa: E731
    assert torch.autograd.gradcheck(loss, (logits.requires_grad_(),))
    with pytest.raises(ValueError, match="same shape"):
        dice_loss(logits, target[:, :4], mode="per_mask")
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        dice_loss(logits, target * 2, mode="per_mask")
    with pytest.raises(ValueError, match="per_image and ignore_index"):
        dice_loss(logits, target, mode="per_mask", per_image=True)
    with pytest.raises(ValueError, match="per_image and ignore_index"):
        dice_loss(logits, target, mode="per_mask", ignore_index=255)
    with pytest.raises(ValueError, match="multiclass' only"):
        dice_loss(logits, target, mode="per_mask", classes=[0])
    with pytest.raises(ValueError, match="pixel axis"):
        dice_loss(logits[0], target[0], mode="per_mask")
    with pytest.raises(TypeError, match="floating-point"):
        dice_loss(target.long(), target, mode="per_mask")
