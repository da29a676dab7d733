"""tversky_loss against segmentation-models-pytorch's TverskyLoss, the Dice and Jaccard
identities, a hand-computed case and gradcheck."""

import pytest
import torch

from segedu.losses import dice_loss, jaccard_loss, tversky_loss

from .cases import random_binary, random_logits_target

smp = pytest.importorskip("segmentation_models_pytorch")

SHAPES = [(2, 5, 6), (1, 4, 4), (3, 7), (2, 2, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_matches_smp_when_all_classes_present(shape, ignore_index):
    # 4 shapes x 2 ignore x 14 = 112 cases, random alpha, beta
    g = torch.Generator().manual_seed(len(shape) + 3 * (ignore_index or 0))
    for case in range(14):
        alpha, beta = (float(v) for v in 2 * torch.rand(2, generator=g))
        smooth = [0.0, 1.0][case % 2]
        if case % 3 == 0:
            logits, target = random_binary(
                shape, generator=g, ignore_index=ignore_index, dtype=torch.float64
            )
            mode = "binary"
        else:
            logits, target = random_logits_target(
                shape, 2 + case % 3, generator=g, ignore_index=ignore_index, all_present=True
            )
            mode = "multiclass"
        x = logits.clone().requires_grad_(True)
        ours = tversky_loss(
            x, target, alpha=alpha, beta=beta, mode=mode, smooth=smooth, ignore_index=ignore_index
        )
        ref = smp.losses.TverskyLoss(
            mode, alpha=alpha, beta=beta, smooth=smooth, ignore_index=ignore_index
        )
        y = logits.clone().requires_grad_(True)
        theirs = ref(y, target)
        torch.testing.assert_close(ours, theirs)
        ours.backward()
        theirs.backward()
        torch.testing.assert_close(x.grad, y.grad)


def test_smp_gamma_powers_the_class_mean():
    # smp's gamma raises the class-averaged loss to a power; gamma = 1 is the plain loss
    g = torch.Generator().manual_seed(1)
    logits, target = random_logits_target((2, 4, 4), 3, generator=g, all_present=True)
    ours = tversky_loss(logits, target, alpha=0.3, beta=0.7)
    ref = smp.losses.TverskyLoss("multiclass", alpha=0.3, beta=0.7, smooth=1.0, gamma=2.0)
    torch.testing.assert_close(ref(logits, target), ours**2)


@pytest.mark.parametrize("per_image", [False, True])
def test_identities_with_dice_and_jaccard(per_image):
    g = torch.Generator().manual_seed(2 + per_image)
    for case in range(20):
        logits, target = random_logits_target((2, 3, 4), 3, generator=g, ignore_index=255)
        smooth = [0.0, 1.0, 0.3][case % 3]
        kw = dict(per_image=per_image, ignore_index=255, reduction="none")
        # alpha = beta = 1/2 is the Dice with twice the smoothing (exactly Dice when smooth = 0)
        torch.testing.assert_close(
            tversky_loss(logits, target, alpha=0.5, beta=0.5, smooth=smooth, **kw),
            dice_loss(logits, target, smooth=2 * smooth, **kw),
        )
        # alpha = beta = 1 is the Jaccard loss with the same smoothing
        torch.testing.assert_close(
            tversky_loss(logits, target, alpha=1.0, beta=1.0, smooth=smooth, **kw),
            jaccard_loss(logits, target, smooth=smooth, **kw),
        )


def test_hand_computed():
    # p = (0.5, 1, 0, 0.25), g = (1, 1, 0, 0): TP = 1.5, FP = 1.75 - 1.5 = 0.25,
    # FN = 2 - 1.5 = 0.5. alpha 0.3, beta 0.7, smooth 1:
    # T = 2.5 / (1.5 + 0.075 + 0.35 + 1) = 2.5 / 2.925, loss = 0.425 / 2.925 = 17/117
    probs = torch.tensor([[0.5, 1.0, 0.0, 0.25]], dtype=torch.float64)
    target = torch.tensor([[1, 1, 0, 0]])
    ours = tversky_loss(probs, target, alpha=0.3, beta=0.7, mode="binary", from_logits=False)
    torch.testing.assert_close(ours, torch.tensor(17 / 117, dtype=torch.float64))
    # alpha = 0: false positives are free; the same prediction costs 1 - 2.5/(1.5 + 0.35 + 1)
    ours = tversky_loss(probs, target, alpha=0.0, beta=0.7, mode="binary", from_logits=False)
    torch.testing.assert_close(ours, torch.tensor(1 - 2.5 / 2.85, dtype=torch.float64))


def test_gradcheck_and_bad_input():
    g = torch.Generator().manual_seed(6)
    logits, target = random_logits_target((2, 3, 2), 3, generator=g)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: tversky_loss(x, target, alpha=0.2, beta=0.8, smooth=0.0), (logits,)
    )
    with pytest.raises(ValueError, match="alpha"):
        tversky_loss(logits, target, alpha=-0.1)
    with pytest.raises(TypeError, match="integer"):
        tversky_loss(logits, target.float())
    with pytest.raises(ValueError, match="reduction"):
        tversky_loss(logits, target, reduction="")


@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_per_mask_mode_of_the_region_losses(smooth):
    """One loss per mask: Jaccard's formula written out, and Tversky with alpha = beta = 1/2 is
    the per-mask Dice of twice the smoothing (alpha = beta = 1 is the per-mask Jaccard)."""
    torch.manual_seed(5)
    logits = torch.randn(4, 3, 7, dtype=torch.float64)
    truth = torch.rand(4, 3, 7, dtype=torch.float64)  # soft targets in [0, 1]
    kwargs = {"mode": "per_mask", "smooth": smooth, "reduction": "none"}
    p = logits.sigmoid()
    inter, total = (p * truth).sum((1, 2)), p.sum((1, 2)) + truth.sum((1, 2))
    jaccard = jaccard_loss(logits, truth, **kwargs)
    torch.testing.assert_close(jaccard, 1 - (inter + smooth) / (total - inter + smooth))
    dice = dice_loss(logits, truth, **{**kwargs, "smooth": 2 * smooth})
    torch.testing.assert_close(tversky_loss(logits, truth, **kwargs), dice)
    torch.testing.assert_close(tversky_loss(logits, truth, alpha=1.0, beta=1.0, **kwargs), jaccard)
