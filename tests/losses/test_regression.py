"""l1_loss and mse_loss against F.l1_loss and F.mse_loss (values and gradients)."""

import pytest
import torch
import torch.nn.functional as F

from segedu.losses import l1_loss, mse_loss

PAIRS = [(l1_loss, F.l1_loss), (mse_loss, F.mse_loss)]


@pytest.mark.parametrize(("ours_fn", "ref_fn"), PAIRS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_matches_pytorch(ours_fn, ref_fn, reduction):
    # 2 losses x 3 reductions x 40 = 120 cases per loss
    g = torch.Generator().manual_seed(7)
    for case in range(40):
        shape = [(5,), (2, 3), (2, 1, 4, 4), (1, 2, 2, 3, 3)][case % 4]
        x = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
        y = torch.randn(shape, generator=g, dtype=torch.float64)
        x_ref = x.detach().clone().requires_grad_(True)
        ours, theirs = ours_fn(x, y, reduction=reduction), ref_fn(x_ref, y, reduction=reduction)
        torch.testing.assert_close(ours, theirs)
        ours.sum().backward()
        theirs.sum().backward()
        torch.testing.assert_close(x.grad, x_ref.grad)


def test_hand_computed():
    # errors (1, -2, 0.5): |e| = (1, 2, 0.5) -> mean 3.5/3; e^2 = (1, 4, 0.25) -> sum 5.25
    x = torch.tensor([1.0, 0.0, 2.5])
    y = torch.tensor([0.0, 2.0, 2.0])
    torch.testing.assert_close(l1_loss(x, y), torch.tensor(3.5 / 3))
    torch.testing.assert_close(mse_loss(x, y, reduction="sum"), torch.tensor(5.25))
    torch.testing.assert_close(mse_loss(x, y, reduction="none"), torch.tensor([1.0, 4.0, 0.25]))


def test_bad_input():
    with pytest.raises(ValueError, match="shape"):  # PyTorch would broadcast to (3, 3)
        l1_loss(torch.zeros(3, 1), torch.zeros(3))
    with pytest.raises(TypeError, match="floating-point"):
        mse_loss(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="reduction"):
        mse_loss(torch.zeros(3), torch.zeros(3), reduction="batchmean")
