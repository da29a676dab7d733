"""SAM 2's memory bank (Ravi et al., "SAM 2", 2024, section 4): which past frames an object's
current frame attends to, and with which position codes.

For frame ``t`` of one object the memory is, as tokens of width ``mem_dim``:

1. **Spatial memories** (``h * w`` tokens per frame, :mod:`.memory_encoder`) of

   - every *conditioning* frame (a frame the user prompted first, before it was tracked), with
     temporal slot ``num_maskmem - 1`` of the learned ``maskmem_tpos_enc``;
   - the ``num_maskmem - 1`` most recent tracked frames ``t - 1, ..., t - (num_maskmem - 1)``
     (``t + k`` when tracking backwards), the frame ``k`` steps away with slot ``k - 1``;
     frames not tracked are skipped.

   Each token's position code is the memory's sine code plus its temporal slot.
2. **Object pointers** (one ``C``-wide vector per frame, split into ``C / mem_dim`` tokens): the
   conditioning frames at or before ``t`` and the tracked frames ``t - 1 ... t - (P - 1)``, ``P =
   min(number of frames, max_obj_ptrs_in_encoder)``. Their position code is the 1-D sine code of
   the frame distance over ``P - 1``, projected to ``mem_dim`` by ``obj_ptr_tpos_proj``. They are
   not rotated by RoPE (they are the last tokens).

The selection is that of ``transformers``' ``Sam2VideoModel`` (``max_cond_frame_num = -1``: all
conditioning frames; memory stride 1) and facebookresearch/sam2's ``SAM2Base`` with the same
options.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .outputs import FrameOutput

__all__ = ["ObjectMemory", "sine_code_1d", "gather_memory"]


@dataclass
class ObjectMemory:
    """The bank of one object: its prompts per frame (``points[t] = (coords (1, N, 2), labels
    (1, N))``), the outputs of its conditioning frames (``cond``) and of its tracked frames
    (``non_cond``), the frames tracked so far (``tracked``) and the tracked frames the user
    corrected with clicks (``corrected``, kept when propagation passes them again)."""

    points: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    cond: dict[int, FrameOutput] = field(default_factory=dict)
    non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    tracked: set[int] = field(default_factory=set)
    corrected: set[int] = field(default_factory=set)


def sine_code_1d(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """The transformer's sine code of 1-D positions ``(N,)`` -> ``(N, dim)``:
    ``[sin(p / t_k), cos(p / t_k)]`` with ``t_k = temperature ** (2 floor(k/2) / (dim/2))``."""
    half = dim // 2
    dim_t = torch.arange(half, dtype=torch.float32, device=positions.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / half)
    code = positions[:, None] / dim_t
    return torch.cat([code.sin(), code.cos()], dim=-1)


def gather_memory(model: nn.Module, bank: ObjectMemory, frame_idx: int, num_frames: int,
                  reverse: bool = False) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The memory of ``frame_idx`` (module docstring) for ``model``, a :class:`~.sam2.Sam2`
    (whose memory parts it reads; :meth:`~.sam2.Sam2.track` calls this): tokens ``(B, M,
    mem_dim)``, their position codes (same shape) and the number of object-pointer tokens at the
    end. ``B`` is the batch of the bank's outputs: 1 object in the video predictor, or a batch of
    tracks of the same frames in training."""
    if not bank.cond:
        raise ValueError(f"the object has no prompted frame to remember on frame {frame_idx}; "
                         "prompt it first")
    memories, positions = [], []
    # 1. spatial memories: the conditioning frames (slot -1), then the recent tracked frames
    frames = [(0, out) for out in bank.cond.values()]
    for k in range(model.num_maskmem - 1, 0, -1):
        frames.append((k, bank.non_cond.get(frame_idx + k if reverse else frame_idx - k)))
    for k, out in frames:
        if out is None:
            continue
        memories.append(out.maskmem_features.float())
        positions.append(out.maskmem_pos + model.maskmem_tpos_enc[k - 1].view(1, 1, -1))
    # 2. object pointers with their temporal distance
    num_ptrs = min(num_frames, model.max_obj_ptrs_in_encoder)
    sign = -1 if reverse else 1
    offsets, pointers = [], []
    for t, out in bank.cond.items():
        if (t >= frame_idx) if reverse else (t <= frame_idx):
            offsets.append((frame_idx - t) * sign)
            pointers.append(out.obj_ptr)
    for k in range(1, num_ptrs):
        t = frame_idx + k if reverse else frame_idx - k
        if t < 0 or t >= num_frames:
            break
        out = bank.non_cond.get(t)
        if out is not None:
            offsets.append(k)
            pointers.append(out.obj_ptr)
    num_ptr_tokens = 0
    if pointers:
        ptrs = torch.stack(pointers, dim=1)  # (B, P, C)
        distance = torch.tensor(offsets, dtype=torch.float32, device=ptrs.device) / (num_ptrs - 1)
        ptr_pos = model.obj_ptr_tpos_proj(sine_code_1d(distance, model.hidden_dim))[None]
        # each C-wide pointer becomes C / mem_dim tokens of width mem_dim, sharing its code
        splits = model.hidden_dim // model.mem_dim
        ptrs = ptrs.reshape(ptrs.shape[0], -1, model.mem_dim)
        ptr_pos = ptr_pos.repeat_interleave(splits, dim=1).expand(ptrs.shape[0], -1, -1)
        memories.append(ptrs)
        positions.append(ptr_pos)
        num_ptr_tokens = ptrs.shape[1]
    return torch.cat(memories, dim=1), torch.cat(positions, dim=1), num_ptr_tokens
