r"""The mean teacher (Tarvainen and Valpola, "Mean teachers are better role models", NeurIPS 2017).

Two copies of one network. The *student* learns by gradient descent; the *teacher* is not trained
but follows the student as an exponential moving average (EMA) of its weights, after every step

.. math:: \theta'_t = \alpha\, \theta'_{t-1} + (1 - \alpha)\, \theta_t ,
   \qquad \alpha_t = \min(1 - 1 / (t + 1),\ \alpha_{max}) ,

``t`` the number of optimizer steps so far (the paper's code: ``global_step``, counted from 1)

(:func:`mean_teacher_momentum`; the update itself is DINO's teacher update,
:func:`segedu.models.foundation.dino.ema_update`). An average of recent students predicts better
than the last one, and it changes slowly, so it is a steadier target than the student itself.

The loss of a step is the supervised loss on the labelled images plus a *consistency* cost on
all images, labelled or not: the squared distance between the student's and the teacher's class
probabilities, each network seeing the image under its own noise (:func:`consistency_loss`).
Early in training the teacher knows nothing, so the consistency weight rises from 0 along the
paper's sigmoid ramp-up :math:`w(t) = w_{max} \exp(-5 (1 - t)^2)`, ``t`` going from 0 to 1 over
the ramp-up steps (:func:`sigmoid_rampup`, from Laine and Aila, ICLR 2017).
"""

from __future__ import annotations

import math

import torch

__all__ = ["sigmoid_rampup", "consistency_loss", "mean_teacher_momentum"]


def sigmoid_rampup(step: int, rampup_steps: int) -> float:
    """``exp(-5 (1 - t)^2)`` with ``t = clip(step / rampup_steps, 0, 1)``: from ``exp(-5)``
    (0.0067) at step 0 to 1 at ``rampup_steps`` and after; 1 throughout when ``rampup_steps`` is
    0."""
    if rampup_steps < 0 or step < 0:
        raise ValueError(f"need step >= 0 and rampup_steps >= 0, got {step}, {rampup_steps}")
    if rampup_steps == 0:
        return 1.0
    t = min(step, rampup_steps) / rampup_steps
    return math.exp(-5.0 * (1.0 - t) ** 2)


def consistency_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """The mean over pixels of ``||softmax(student) - softmax(teacher)||^2`` (summed over the
    classes); logits ``(N, C, ...)``. No gradient flows into the teacher."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student {tuple(student_logits.shape)} and teacher "
                         f"{tuple(teacher_logits.shape)} logits differ in shape")
    student = student_logits.float().softmax(dim=1)
    teacher = teacher_logits.detach().float().softmax(dim=1)
    return (student - teacher).pow(2).sum(dim=1).mean()


def mean_teacher_momentum(updates: int, *, maximum: float = 0.99) -> float:
    """The EMA decay of the teacher update after the ``updates``-th optimizer step (from 1):
    ``min(1 - 1 / (updates + 1), maximum)``.

    The teacher starts as a copy of the initial student ``theta_0``; update 1 uses 1/2 (the
    teacher becomes the mean of ``theta_0`` and ``theta_1``), update 2 uses 2/3, ...: the plain
    average of all students so far, until the decay reaches ``maximum``.
    """
    if updates < 1 or not 0.0 <= maximum <= 1.0:
        raise ValueError(f"need updates >= 1 and maximum in [0, 1], got {updates}, {maximum}")
    return min(1.0 - 1.0 / (updates + 1), maximum)
