"""Automatic mixed precision (AMP): float16 where it is safe, float32 where it matters.

On a GPU, ``torch.autocast`` runs matrix products and convolutions in float16 (about twice as
fast, half the memory) and keeps reductions such as softmax and losses in float32. Small float16
gradients would round to zero, so a ``GradScaler`` multiplies the loss by a large factor before
``backward`` and divides the gradients back before the optimizer step; when the scaled gradients
overflow it skips that step and lowers the factor. On a CPU, segedu trains in float32.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = ["resolve_amp", "autocast", "grad_scaler"]


def resolve_amp(amp: bool | None, device: torch.device) -> bool:
    """``None`` means on iff ``device`` is CUDA; ``True`` on another device is an error."""
    if amp is None:
        return device.type == "cuda"
    if not isinstance(amp, bool):
        raise TypeError(f"amp must be True, False or None, got {amp!r}")
    if amp and device.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device, got {device}; pass amp=None or False")
    return amp


def autocast(device: torch.device, *, enabled: bool,
             dtype: torch.dtype = torch.float16) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` (float16, or bfloat16 which needs no loss scaling) when
    enabled; a context that does nothing otherwise."""
    if enabled:
        return torch.autocast(device_type=device.type, dtype=dtype)
    return contextlib.nullcontext()


def grad_scaler(*, enabled: bool) -> Any:
    """A loss scaler for float16 training; when disabled its methods pass values through."""
    return torch.amp.GradScaler("cuda", enabled=enabled)
