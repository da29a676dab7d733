"""ce_dice_loss is the weighted sum of its two terms."""

import pytest
import torch

from segedu.losses import ce_dice_loss, cross_entropy, dice_loss

from .cases import random_logits_target


@pytest.mark.parametrize("ignore_index", [None, 255])
def test_is_the_weighted_sum(ignore_index):
    g = torch.Generator().manual_seed(0)
    for case in range(20):
        logits, target = random_logits_target((2, 4, 4), 3, generator=g, ignore_index=ignore_index)
        ce_w, dice_w = float(torch.rand(1, generator=g)), float(torch.rand(1, generator=g))
        class_weight = torch.rand(3, generator=g, dtype=torch.float64) if case % 2 else None
        ours = ce_dice_loss(
            logits,
            target,
            ce_weight=ce_w,
            dice_weight=dice_w,
            ignore_index=ignore_index,
            class_weight=class_weight,
            per_image=bool(case % 3),
        )
        ce = cross_entropy(
            logits,
            target,
            class_weight,
            ignore_index=-100 if ignore_index is None else ignore_index,
        )
        dice = dice_loss(logits, target, ignore_index=ignore_index, per_image=bool(case % 3))
        torch.testing.assert_close(ours, ce_w * ce + dice_w * dice)


def test_bad_input():
    logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    with pytest.raises(TypeError, match="integer"):
        ce_dice_loss(logits, target.float())
    with pytest.raises(ValueError, match="outside"):
        ce_dice_loss(logits, target + 3)
