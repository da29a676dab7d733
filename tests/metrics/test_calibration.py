"""segedu.metrics.calibration against torchmetrics' calibration error, and the paper's bins.

torchmetrics' ``MulticlassCalibrationError`` (``norm="l1"``: ECE, ``norm="max"``: MCE) is the
reference. Its bins are left-closed ``[(m-1)/M, m/M)`` with an extra bin for confidence exactly 1;
Guo et al.'s (and segedu's) are right-closed ``((m-1)/M, m/M]``. Away from bin edges they agree;
on the edges they differ, and :func:`test_a_confidence_of_exactly_one` computes both by hand.
torchmetrics accumulates its bins in float32 (segedu in float64), so the two agree to float32
rounding: within 1e-6 absolute (an ECE is a sum of differences of two means, so the
reference's float32 rounding, about 1e-7 here, is absolute, not relative).
"""

from __future__ import annotations

import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from segedu.metrics.calibration import expected_calibration_error, reliability_bins


def _random_case(seed: int, *, n=4, c=5, h=9, w=7, sharpness=3.0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, h, w, generator=g, dtype=torch.float64) * sharpness
    target = torch.randint(0, c, (n, h, w), generator=g)
    # make the labels agree with the prediction often, so that accuracy varies across bins
    agree = torch.rand(n, h, w, generator=g) < 0.6
    target = torch.where(agree, logits.argmax(1), target)
    return logits.softmax(1), target


def _reference(probs, target, *, n_bins, norm, ignore_index=None):
    flat = probs.movedim(1, -1).reshape(-1, probs.shape[1])
    return float(multiclass_calibration_error(flat, target.reshape(-1), num_classes=probs.shape[1],
                                              n_bins=n_bins, norm=norm,
                                              ignore_index=ignore_index))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_ece_and_mce_equal_torchmetrics(seed, n_bins):
    probs, target = _random_case(seed)
    bins = reliability_bins(probs, target, n_bins=n_bins)
    assert bins.ece == pytest.approx(_reference(probs, target, n_bins=n_bins, norm="l1"),
                                     abs=1e-6)
    assert bins.mce == pytest.approx(_reference(probs, target, n_bins=n_bins, norm="max"),
                                     abs=1e-6)
    assert expected_calibration_error(probs, target, n_bins=n_bins) == bins.ece


def test_ignore_index_and_batches_add_up():
    probs, target = _random_case(7)
    target[0, :3] = 255
    whole = reliability_bins(probs, target, ignore_index=255)
    assert whole.ece == pytest.approx(_reference(probs, target, n_bins=15, norm="l1",
                                                 ignore_index=255), abs=1e-6)
    parts = reliability_bins(probs[:2], target[:2], ignore_index=255) + reliability_bins(
        probs[2:], target[2:], ignore_index=255)
    assert torch.allclose(parts.count, whole.count) and parts.ece == pytest.approx(whole.ece)
    assert int(whole.count.sum()) == target.numel() - 3 * target.shape[-1]


def test_a_confidence_of_exactly_one():
    """Two pixels at confidence 1.0 (right) and two at 0.95 (one right). Paper's bins (M = 10):
    all four in (0.9, 1]: mean confidence 0.975, accuracy 0.75, ECE 0.225. torchmetrics: 1.0 has
    its own bin (gap 0) and the 0.95 pair theirs (gap 0.45, weight 1/2): ECE 0.225 as well here,
    but MCE 0.45 against segedu's 0.225."""
    probs = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.95, 0.05], [0.95, 0.05]], dtype=torch.float64)
    target = torch.tensor([0, 0, 0, 1])
    bins = reliability_bins(probs, target, n_bins=10)
    assert bins.count[-1] == 4 and bins.count[:-1].sum() == 0
    assert bins.confidence[-1] == pytest.approx(0.975) and bins.accuracy[-1] == pytest.approx(0.75)
    assert bins.ece == pytest.approx(0.225) and bins.mce == pytest.approx(0.225)
    assert _reference(probs, target, n_bins=10, norm="max") == pytest.approx(0.45)


def test_a_calibrated_model_has_no_error_and_a_confident_wrong_one_has_all():
    probs = torch.tensor([[0.7, 0.3]] * 10, dtype=torch.float64)
    target = torch.tensor([0] * 7 + [1] * 3)
    assert expected_calibration_error(probs, target) == pytest.approx(0.0)
    wrong = torch.tensor([[1.0, 0.0]] * 4, dtype=torch.float64)
    assert expected_calibration_error(wrong, torch.ones(4, dtype=torch.long)) == pytest.approx(1.0)


def test_bad_input_is_refused():
    probs, target = _random_case(0)
    with pytest.raises(ValueError, match="softmax"):
        reliability_bins(probs * 5 - 2, target)  # logits, not probabilities
    with pytest.raises(ValueError, match="do not match"):
        reliability_bins(probs, target[:, :3])
    with pytest.raises(TypeError, match="integer"):
        reliability_bins(probs, target.float())
    with pytest.raises(ValueError, match="n_bins"):
        reliability_bins(probs, target, n_bins=0)
    with pytest.raises(ValueError, match="outside"):
        reliability_bins(probs, target + 10)
    empty = reliability_bins(probs, torch.full_like(target, 255), ignore_index=255)
    assert empty.ece != empty.ece  # NaN: no pixel counted
