"""segedu.semi: pseudo-labels and the mean teacher against their definitions and torch's own EMA.

- pseudo-labels: a hand-made case (which pixels pass the threshold) and the same labels from a
  model, batch by batch;
- the sigmoid ramp-up: the mean-teacher repository's ``ramps.sigmoid_rampup`` (transcribed);
- the consistency cost: ``F.mse_loss`` of the two softmaxes summed over classes, no gradient into
  the teacher;
- the teacher: DINO's ``ema_update`` with :func:`mean_teacher_momentum` is, before the cap, the
  plain average of all students (``torch.optim.swa_utils.AveragedModel``'s default average),
  and at the cap ``AveragedModel`` with ``get_ema_multi_avg_fn``.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from segedu.models.foundation.dino import ema_update, make_teacher
from segedu.semi import (
    consistency_loss,
    label_images,
    mean_teacher_momentum,
    pseudo_label_quality,
    pseudo_labels,
    sigmoid_rampup,
)


def test_pseudo_labels_keep_the_confident_pixels_only():
    # pixel (0, 0): probabilities (0.95, 0.05) -> class 0; (0, 1): (0.4, 0.6) -> unsure
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, 0, 0, 0] = math.log(0.95 / 0.05)  # softmax of (log 19, 0) = (0.95, 0.05)
    logits[0, 1, 0, 1] = math.log(0.6 / 0.4)
    labels = pseudo_labels(logits, threshold=0.9, ignore_index=255)
    assert labels.tolist() == [[[0, 255]]] and labels.dtype == torch.int64
    assert pseudo_labels(logits, threshold=0.5).tolist() == [[[0, 1]]]  # both pass 0.5
    assert pseudo_labels(logits, threshold=0.0).tolist() == [[[0, 1]]]
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        pseudo_labels(logits[0], threshold=0.9)
    with pytest.raises(ValueError, match="probability"):
        pseudo_labels(logits, threshold=1.5)
    with pytest.raises(ValueError, match="is a class index"):
        pseudo_labels(logits, threshold=0.9, ignore_index=1)


def test_label_images_is_pseudo_labels_of_the_model_batch_by_batch():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    model = torch.nn.ModuleDict({"conv": conv})
    model.forward = lambda x: {"out": 3 * conv(x)}  # a semantic model's contract
    images = torch.rand(5, 3, 8, 8)
    expected = pseudo_labels(3 * conv(images), threshold=0.6)
    torch.testing.assert_close(label_images(model, images, threshold=0.6, batch=2), expected)
    assert (expected == 255).any() and (expected != 255).any()  # the case tests both


def test_pseudo_label_quality_counts_coverage_and_accuracy():
    labels = torch.tensor([[0, 1, 255, 2]])
    truth = torch.tensor([[0, 2, 1, 2]])
    assert pseudo_label_quality(labels, truth) == {"coverage": 0.75, "accuracy": 2 / 3}
    empty = pseudo_label_quality(torch.full((2, 2), 255), torch.zeros(2, 2, dtype=torch.long))
    assert empty["coverage"] == 0 and math.isnan(empty["accuracy"])
    with pytest.raises(ValueError, match="differ in shape"):
        pseudo_label_quality(labels, truth[:, :3])


def _mean_teacher_repo_sigmoid_rampup(current, rampup_length):
    """ramps.sigmoid_rampup of github.com/CuriousAI/mean-teacher (pytorch/mean_teacher/ramps.py),
    transcribed."""
    if rampup_length == 0:
        return 1.0
    current = np.clip(current, 0.0, rampup_length)
    phase = 1.0 - current / rampup_length
    return float(np.exp(-5.0 * phase * phase))


def test_sigmoid_rampup_is_the_papers():
    for length in (0, 1, 7, 240):
        for step in range(0, 300, 3):
            assert sigmoid_rampup(step, length) == pytest.approx(
                _mean_teacher_repo_sigmoid_rampup(step, length), rel=1e-12)
    assert sigmoid_rampup(0, 100) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(50, 100) == pytest.approx(math.exp(-5 * 0.25))
    assert sigmoid_rampup(100, 100) == sigmoid_rampup(1000, 100) == 1.0
    with pytest.raises(ValueError, match="step >= 0"):
        sigmoid_rampup(-1, 10)


def test_consistency_loss_is_the_squared_distance_of_the_softmaxes():
    torch.manual_seed(0)
    student = torch.randn(2, 5, 4, 3, requires_grad=True)
    teacher = torch.randn(2, 5, 4, 3, requires_grad=True)
    loss = consistency_loss(student, teacher)
    # F.mse_loss summed over everything, divided by the pixels (N * H * W), not the classes
    expected = F.mse_loss(student.softmax(1), teacher.softmax(1), reduction="sum") / (2 * 4 * 3)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert student.grad is not None and teacher.grad is None  # the teacher is a target
    assert consistency_loss(teacher, teacher).item() == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        consistency_loss(student, teacher[:, :4])


def _moved(student: torch.nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():  # a stand-in for an optimizer step
        for p in student.parameters():
            p.add_(torch.randn(p.shape, generator=generator, dtype=p.dtype))


def test_mean_teacher_momentum():
    assert [mean_teacher_momentum(t) for t in (1, 2, 3)] == pytest.approx([0.5, 2 / 3, 0.75])
    assert mean_teacher_momentum(10_000) == 0.99 and mean_teacher_momentum(3, maximum=0.6) == 0.6
    with pytest.raises(ValueError, match="updates >= 1"):
        mean_teacher_momentum(0)


@pytest.mark.parametrize("maximum", [1.0, 0.5])
def test_the_teacher_is_torchs_average_of_the_students(maximum):
    generator = torch.Generator().manual_seed(0)
    student = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(),
                                  torch.nn.Linear(3, 2)).double()
    teacher = make_teacher(student)  # the teacher at step 0: the initial student
    # maximum 1: decay 1 - 1/(t + 1) forever, the running mean of all students (SWA's average);
    # maximum 0.5: reached at update 1, an EMA of decay 0.5 from the start
    reference = (AveragedModel(student) if maximum == 1.0 else
                 AveragedModel(student, multi_avg_fn=get_ema_multi_avg_fn(maximum)))
    reference.update_parameters(student)  # its first call copies the student
    for t in range(1, 6):
        _moved(student, generator)
        ema_update(teacher=teacher, student=student,
                   momentum=mean_teacher_momentum(t, maximum=maximum))
        reference.update_parameters(student)
    for ours, theirs in zip(teacher.parameters(), reference.module.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
