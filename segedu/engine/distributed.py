"""Data-parallel training on several GPUs (or CPU processes) started by ``torchrun``.

``torchrun --nproc_per_node 4 train.py`` starts ``train.py`` four times and tells each copy who it
is through environment variables: ``RANK`` (0..3 over all machines), ``LOCAL_RANK`` (which GPU of
this machine to use) and ``WORLD_SIZE`` (4). Each process then

1. joins the *process group* (``nccl`` between GPUs, ``gloo`` between CPU processes),
2. trains on its own quarter of every batch (see :mod:`segedu.engine.data_order`),
3. averages its gradients with the others after ``backward`` (``DistributedDataParallel`` does
   this), so that every copy of the model takes the same step.

Only process 0 (the *main* process) writes checkpoints, progress bars and plots.
Run without ``torchrun``, everything here reduces to "one process of one".
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["Distributed", "init_distributed", "this_process", "data_parallel", "unwrap",
           "all_reduce_sum", "all_gather_object", "barrier"]


@dataclass(frozen=True)
class Distributed:
    """Who this process is among the processes that train together."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True for the process that writes checkpoints, progress bars and plots."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} must be an integer") from None


def init_distributed(*, device_type: str) -> Distributed:
    """Join the process group when started by ``torchrun``; return who this process is.

    ``device_type`` (``"cuda"`` or ``"cpu"``) picks the backend: ``nccl`` for GPUs, ``gloo`` for
    CPUs. Calling it again, or after the script initialised the group itself, is harmless.
    """
    if dist.is_available() and dist.is_initialized():  # already joined (by us or by the script)
        local_rank = _env_int("LOCAL_RANK", 0)
        return Distributed(rank=dist.get_rank(), local_rank=local_rank,
                           world_size=dist.get_world_size())
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"inconsistent environment: RANK={rank}, WORLD_SIZE={world_size}")
    info = Distributed(rank=rank, local_rank=local_rank, world_size=world_size)
    if not info.enabled:
        return info
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)  # before the group forms, so NCCL uses the right GPU
    # MASTER_ADDR / MASTER_PORT, set by torchrun, tell the processes where to meet
    dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    atexit.register(_leave_process_group)
    return info


def this_process() -> Distributed:
    """Who this process is, without joining anything: its place in the process group when one
    has been joined (:func:`init_distributed`), else one process of one."""
    if dist.is_available() and dist.is_initialized():
        return Distributed(rank=dist.get_rank(), local_rank=_env_int("LOCAL_RANK", 0),
                           world_size=dist.get_world_size())
    return Distributed()


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` wrapped in ``DistributedDataParallel`` when several processes train together
    (step 3 of the module docstring: its backward pass averages the gradients of all of
    them), else ``model`` itself. ``model`` is already on ``device``."""
    if not this_process().enabled:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                   else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` wrapper (its weights, as one process
    keeps them), or ``model`` itself."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def _leave_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Replace ``tensor`` in place by its sum over all processes (no-op with one process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_object(obj: Any) -> list[Any]:
    """``[obj of process 0, obj of process 1, ...]``; ``[obj]`` with one process."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, obj)
        return gathered
    return [obj]


def barrier() -> None:
    """Wait until every process reaches this line (no-op with one process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()
