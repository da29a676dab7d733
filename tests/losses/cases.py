"""Random inputs shared by the loss tests (seeded: every failure is reproducible)."""

from __future__ import annotations

import torch


def random_logits_target(
    shape: tuple[int, ...],
    num_classes: int,
    *,
    generator: torch.Generator,
    ignore_index: int | None = None,
    ignore_fraction: float = 0.2,
    all_present: bool = False,
    dtype: torch.dtype = torch.float64,
    scale: float = 2.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``logits (N, C, *shape[1:])`` and integer ``target shape`` = ``(N, ...)``.

    ``all_present`` writes the labels ``0..C-1`` into the first (never ignored) pixels so that
    every class occurs in the batch target.
    """
    n, spatial = shape[0], shape[1:]
    logits = scale * torch.randn((n, num_classes, *spatial), generator=generator, dtype=dtype)
    target = torch.randint(0, num_classes, shape, generator=generator)
    if ignore_index is not None:
        target[torch.rand(shape, generator=generator) < ignore_fraction] = ignore_index
    if all_present:
        flat = target.view(-1)
        assert flat.numel() >= num_classes
        flat[:num_classes] = torch.arange(num_classes)
    return logits, target


def random_binary(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator,
    ignore_index: int | None = None,
    ignore_fraction: float = 0.2,
    foreground_present: bool = True,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary ``logits (N, 1, ...)`` and 0/1 ``target (N, 1, ...)`` (the shape of smp's input)."""
    logits = 2.0 * torch.randn((shape[0], 1, *shape[1:]), generator=generator, dtype=dtype)
    target = torch.randint(0, 2, logits.shape, generator=generator)
    if ignore_index is not None:
        target[torch.rand(logits.shape, generator=generator) < ignore_fraction] = ignore_index
    if foreground_present:
        target.view(-1)[0] = 1
    return logits, target
