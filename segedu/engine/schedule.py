"""The learning-rate schedule of every zoo recipe: a linear warm-up, then a cosine decay.

Goyal et al. ("Accurate, Large Minibatch SGD", 2017) warm up linearly; Loshchilov and Hutter
("SGDR", ICLR 2017) decay along a half cosine. At optimizer step ``t`` (0-based) of ``T``, with
``W`` warm-up steps, the learning rate of a parameter group whose base rate is ``lr`` is

- ``lr * (s + (1 - s) * t / R)`` for ``t < W``: from ``s * lr`` (``warmup_start``) rising
  linearly, ``R`` (``warmup_ramp``) being ``W`` by default (``lr`` is reached at step ``W``,
  where the decay starts) or ``W - 1`` as DINO's ``np.linspace(0, lr, W)`` (``lr`` is reached
  at the last warm-up step);
- ``m + (lr - m) * (1 + cos(pi * k / max(T - W, 1))) / 2`` for ``t >= W``, with
  ``k = min(t - W, T - W)``: from ``lr`` down to ``m`` (``min_lr``) at step ``T``.

With ``W = 0`` and ``m = 0`` it is :class:`torch.optim.lr_scheduler.CosineAnnealingLR` with
``T_max = T``, computed in closed form.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["WarmupCosine", "warmup_cosine_factor"]


def warmup_cosine_factor(step: int, total_steps: int, *, warmup_steps: int = 0,
                         warmup_start: float = 0.0, warmup_ramp: int | None = None) -> float:
    """The warm-up factor (``step < warmup_steps``) or the cosine's ``(1 + cos) / 2`` (after):
    the fraction of the way from ``min_lr`` to ``lr`` at ``step`` (module docstring)."""
    if step < warmup_steps:
        ramp = warmup_steps if warmup_ramp is None else warmup_ramp
        return warmup_start + (1.0 - warmup_start) * step / max(ramp, 1)
    span = total_steps - warmup_steps
    return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup_steps, span) / max(span, 1)))


class WarmupCosine(LRScheduler):
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``min_lr`` at ``total_steps``.

    Step it once after every optimizer step (as :func:`segedu.engine.fit` and
    :func:`segedu.engine.train_steps` do): before the first step the rate is the one of step 0.

    Args:
        optimizer: its groups' ``lr`` are the peak rates.
        total_steps: ``T``, the length of the run in optimizer steps. It may be set later
            (``scheduler.total_steps = T``) until step ``W`` has run: the warm-up and step ``W``
            (the base rate) do not depend on it (a run whose length the warm-up's speed decides).
        warmup_steps: ``W`` (0: no warm-up; ``W >= T``: a run that is all warm-up).
        warmup_start: the factor of the base rate at step 0 (0.01: from 1 %).
        warmup_ramp: ``R``, steps over which the warm-up climbs to the base rate (``None``: ``W``).
        min_lr: the rate at the end (an absolute rate, as ``CosineAnnealingLR``'s ``eta_min``).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int | None, *,
                 warmup_steps: int = 0, warmup_start: float = 0.0, warmup_ramp: int | None = None,
                 min_lr: float = 0.0, last_epoch: int = -1) -> None:
        for name, value in (("warmup_steps", warmup_steps), ("warmup_ramp", warmup_ramp)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if total_steps is not None and (not isinstance(total_steps, int) or total_steps < 1):
            raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
        if not 0.0 <= warmup_start <= 1.0:
            raise ValueError(f"warmup_start must lie in [0, 1], got {warmup_start!r}")
        if min_lr < 0:
            raise ValueError(f"min_lr must be >= 0, got {min_lr!r}")
        self.total_steps, self.warmup_steps = total_steps, warmup_steps
        self.warmup_start, self.warmup_ramp, self.min_lr = warmup_start, warmup_ramp, min_lr
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step < self.warmup_steps:
            factor = warmup_cosine_factor(step, self.warmup_steps, warmup_steps=self.warmup_steps,
                                          warmup_start=self.warmup_start,
                                          warmup_ramp=self.warmup_ramp)
            return [base * factor for base in self.base_lrs]
        if self.total_steps is None and step > self.warmup_steps:
            raise RuntimeError("WarmupCosine: the warm-up is over and total_steps is still unset")
        # at step W the decay starts from the base rate whatever the length
        total = self.warmup_steps if self.total_steps is None else self.total_steps
        factor = warmup_cosine_factor(step, total, warmup_steps=self.warmup_steps)
        return [self.min_lr + (base - self.min_lr) * factor for base in self.base_lrs]
