r"""The teacher of DINO: an exponential moving average (EMA) of the student.

Caron et al., ICCV 2021, Sec. 3.1 ("Teacher network"): the teacher has the student's
architecture and no gradient; after each optimiser step of the student,

.. math:: \theta_t \leftarrow \lambda\, \theta_t + (1 - \lambda)\, \theta_s ,

with the momentum :math:`\lambda` following a cosine schedule from 0.996 to 1 during training
(the teacher moves less and less). As DINO's ``cosine_scheduler(0.996, 1, epochs, iterations)``:

.. math:: \lambda(k) = \lambda_{end} + \tfrac12 (\lambda_0 - \lambda_{end})\,(1 + \cos(\pi k / T)),
   \qquad k = 0, \dots, T - 1 ,

``T`` the total number of steps (so the last step's momentum is just below 1). lightly's
``cosine_schedule(k, T + 1, 0.996, 1)`` is the same; lightly's ``update_momentum`` is the same
EMA (both tested). DINO, like lightly, averages the parameters only (a ViT has no buffers).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["make_teacher", "ema_update", "cosine_momentum"]


def make_teacher(student: nn.Module) -> nn.Module:
    """A copy of ``student`` with the same weights and no gradients: DINO's teacher at step 0."""
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(*, teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In place: every teacher parameter ``<- momentum * teacher + (1 - momentum) * student``."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    t_params, s_params = list(teacher.parameters()), list(student.parameters())
    if len(t_params) != len(s_params):
        raise ValueError(f"teacher and student differ: {len(t_params)} and {len(s_params)} "
                         "parameters")
    for t, s in zip(t_params, s_params, strict=True):
        if t.shape != s.shape:
            raise ValueError(f"teacher and student parameters differ in shape: {tuple(t.shape)} "
                             f"and {tuple(s.shape)}")
        t.mul_(momentum).add_(s.detach(), alpha=1.0 - momentum)


def cosine_momentum(step: int, total_steps: int, *, base: float = 0.996,
                    final: float = 1.0) -> float:
    """The teacher momentum at ``step`` (0-based) of ``total_steps``: cosine from ``base``
    towards ``final``."""
    if total_steps < 1 or not 0 <= step:
        raise ValueError(f"need total_steps >= 1 and step >= 0, got step={step}, "
                         f"total_steps={total_steps}")
    return final + 0.5 * (base - final) * (1.0 + math.cos(math.pi * step / total_steps))
