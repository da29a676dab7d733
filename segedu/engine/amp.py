"""Automatic mixed precision (AMP): float16 where it is safe, float32 where it matters.

On a GPU, ``torch.autocast`` runs matrix products and convolutions in float16 (about twice as
fast, half the memory) and keeps reductions such as softmax and losses in float32. Small float16
gradients would round to zero, so a ``GradScaler`` multiplies the loss by a large factor before
``backward`` and divides the gradients back before the optimizer step; when the scaled gradients
overflow it skips that step and lowers the factor. On a CPU, segedu trains in float32: what
PyTorch's CPU autocast gains depends on the CPU and the dtype (on the developers' Xeon, which has
AMX, one step of the zoo's U-Net on 8 scenes of 128 px, one thread, took 5.9 s in float32, 3.0 s
under bfloat16 and more than 6 minutes under float16), and the zoo's cards are float32 runs.
The one place that decides is :data:`AMP_DEVICE_TYPES`; the tests add
``"cpu"`` to it to run the whole mixed-precision path of the loop (autocast, the loss scaler,
its skipped steps and its place in the resume file) on a machine without a GPU.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = ["AMP_DEVICE_TYPES", "amp_applies", "resolve_amp", "autocast", "grad_scaler",
           "loss_scaler"]

# the device types on which mixed precision is used (``torch.device.type``)
AMP_DEVICE_TYPES: tuple[str, ...] = ("cuda",)


def amp_applies(device: torch.device) -> bool:
    """Whether mixed precision is used on ``device`` (its type is in :data:`AMP_DEVICE_TYPES`)."""
    return device.type in AMP_DEVICE_TYPES


def resolve_amp(amp: bool | None, device: torch.device) -> bool:
    """``None`` means on iff mixed precision applies to ``device`` (:func:`amp_applies`: a CUDA
    device); ``True`` on another device is an error."""
    if amp is None:
        return amp_applies(device)
    if not isinstance(amp, bool):
        raise TypeError(f"amp must be True, False or None, got {amp!r}")
    if amp and not amp_applies(device):
        raise ValueError(f"amp=True needs a CUDA device, got {device}; pass amp=None or False")
    return amp


def autocast(device: torch.device, *, enabled: bool,
             dtype: torch.dtype = torch.float16) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` (float16, or bfloat16 which needs no loss scaling) when
    enabled; a context that does nothing otherwise."""
    if enabled:
        return torch.autocast(device_type=device.type, dtype=dtype)
    return contextlib.nullcontext()


def grad_scaler(*, enabled: bool, device: torch.device | str = "cuda") -> Any:
    """A loss scaler for float16 training on ``device`` (its type; a CUDA device unless told);
    when disabled its methods pass values through."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=enabled)


def loss_scaler(amp_dtype: torch.dtype | None, device: torch.device) -> Any:
    """The loss scaler of a run with ``amp_dtype`` on ``device``: a :func:`grad_scaler` for
    float16 where mixed precision applies (:func:`amp_applies`); ``None`` for bfloat16 (its range
    is float32's), float32, or a device that trains in float32."""
    if amp_dtype == torch.float16 and amp_applies(device):
        return grad_scaler(enabled=True, device=device)
    return None
