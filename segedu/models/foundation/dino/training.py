"""One DINO training step, readable top to bottom (Caron et al., ICCV 2021, Algorithm 1).

The student sees every crop; the teacher (an EMA of the student, :mod:`.ema`) sees the 2 global
crops only; the loss (:mod:`.loss`) asks the student's output on each crop to match the teacher's
centred and sharpened output on each *other* global crop. Only the student gets gradients; the
teacher follows it afterwards.

Compared with DINO's ``train_one_epoch``: learning-rate and weight-decay schedules belong to the
caller (set them in the optimiser before the step); DINO clips the gradient norm of each
parameter separately (``clip_grad=3.0``), we clip the total norm with
``torch.nn.utils.clip_grad_norm_`` when ``clip_grad`` is given; mixed precision and distributed
training are left to :mod:`segedu.engine`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .ema import ema_update
from .loss import DINOLoss

__all__ = ["dino_training_step", "update_student_and_teacher", "cancel_last_layer_gradients"]


def cancel_last_layer_gradients(model: nn.Module) -> None:
    """Drop the gradients of every parameter named ``*last_layer*`` (DINO, first epoch)."""
    for name, p in model.named_parameters():
        if "last_layer" in name:
            p.grad = None


def dino_training_step(
    student: nn.Module,
    teacher: nn.Module,
    loss: DINOLoss,
    crops: Sequence[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    momentum: float,
    *,
    teacher_temp: float | None = None,
    clip_grad: float | None = None,
    freeze_last_layer: bool = False,
) -> float:
    """One step of DINO; returns the loss value.

    Args:
        student: crops -> list of ``(B, K)`` outputs (a :class:`~.wrapper.MultiCropWrapper`).
        teacher: the same architecture, EMA weights (:func:`~.ema.make_teacher`).
        loss: the :class:`~.loss.DINOLoss` (holds the centre).
        crops: ``V`` batches ``(B, 3, S_v, S_v)``, the 2 global crops first.
        optimizer: optimiser of the student's parameters.
        momentum: teacher momentum for this step (:func:`~.ema.cosine_momentum`).
        teacher_temp: teacher temperature for this step (default: the loss's).
        clip_grad: clip the student's total gradient norm to this value.
        freeze_last_layer: drop the head's last-layer gradients (DINO does during epoch 0).
    """
    if len(crops) < 2:
        raise ValueError(f"DINO needs at least the 2 global crops, got {len(crops)} crop(s)")
    # 1. teacher on the 2 global crops, without gradients
    with torch.no_grad():
        teacher_outputs = teacher(crops[:2])
    # 2. student on all crops (global first, then local)
    student_outputs = student(crops)
    # 3. cross-entropy over all pairs of different crops; the loss updates its centre
    value = loss(student_outputs, teacher_outputs, teacher_temp=teacher_temp)
    # 4. gradient step on the student only, then the teacher follows
    update_student_and_teacher(student, teacher, value, optimizer, momentum, clip_grad=clip_grad,
                               freeze_last_layer=freeze_last_layer)
    return float(value.detach())


def update_student_and_teacher(
    student: nn.Module,
    teacher: nn.Module,
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    momentum: float,
    *,
    clip_grad: float | None = None,
    freeze_last_layer: bool = False,
) -> None:
    """The end of every DINO-style step: a gradient step on the student for ``loss``, then
    the EMA."""
    # 1. gradients of the student only (the teacher's outputs were computed without them)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad is not None:
        torch.nn.utils.clip_grad_norm_(student.parameters(), clip_grad)
    if freeze_last_layer:
        cancel_last_layer_gradients(student)
    optimizer.step()
    # 2. the teacher follows the student: EMA of the weights
    ema_update(teacher=teacher, student=student, momentum=momentum)
