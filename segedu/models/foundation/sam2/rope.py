r"""Axial 2-D rotary position embedding (RoPE; Su et al., "RoFormer", 2021; Heo et al.,
"Rotary Position Embedding for Vision Transformer", ECCV 2024), used by SAM 2's memory
attention.

RoPE encodes a position by *rotating* queries and keys rather than adding a code to them. The
channels of a head (width ``d``) are split into ``d / 2`` pairs; pair ``i`` of a token at position
``p`` is rotated by the angle :math:`p\,\theta_i`. A dot product of a rotated query at ``p`` and a
rotated key at ``p'`` then depends on ``p - p'`` only: attention sees *relative* positions.

*Axial* 2-D: the first ``d / 4`` pairs rotate with the token's column ``x``, the last ``d / 4``
with its row ``y``, with frequencies :math:`\theta_i = \text{theta}^{-4i/d}`, ``i < d / 4``.

In SAM 2's cross-attention the keys are the memories of several frames, each the same ``h x w``
grid: they are rotated with the same angles, repeated once per frame; the object pointer tokens
at the end have no grid position and are not rotated.

Angles and the pairwise rotation are those of facebookresearch/sam2's ``compute_axial_cis`` and
``apply_rotary_enc`` (which use complex numbers) and of ``transformers``' real-valued form.
"""

from __future__ import annotations

import torch

__all__ = ["axial_rope", "apply_rope"]


def axial_rope(*, height: int, width: int, head_dim: int, theta: float = 10000.0,
               device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` of the rotation angles of an ``height x width`` grid (row-major):
    two ``(height * width, head_dim)`` tensors, each angle repeated for the two channels of its
    pair."""
    if head_dim % 4:
        raise ValueError(f"axial RoPE needs a head width divisible by 4, got {head_dim}")
    # frequencies theta^(-4i/d), i < d/4
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim // 2, 2, dtype=torch.float32,
                                          device=device) / (head_dim // 2)))
    t = torch.arange(height * width, dtype=torch.float32, device=device)
    x, y = t % width, torch.div(t, width, rounding_mode="floor")
    # angles: column x on the first d/4 pairs, row y on the last d/4: (N, d/2)
    angles = torch.cat([torch.outer(x, freqs), torch.outer(y, freqs)], dim=-1)
    angles = angles.repeat_interleave(2, dim=-1)
    return angles.cos(), angles.sin()


def _rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """``(a0, b0, a1, b1, ...)`` -> ``(-b0, a0, -b1, a1, ...)``: each pair times ``i``."""
    a, b = x.reshape(*x.shape[:-1], -1, 2).unbind(-1)
    return torch.stack((-b, a), dim=-1).flatten(-2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
               num_exclude: int = 0) -> torch.Tensor:
    """Rotate ``x (..., N, d)`` by the angles of ``N_grid`` positions (``cos``, ``sin``:
    ``(N_grid, d)``). The first ``N - num_exclude`` tokens must be a whole number of grids (they
    repeat the angles); the last ``num_exclude`` tokens are left as they are."""
    n_rot = x.shape[-2] - num_exclude
    rot, keep = x[..., :n_rot, :], x[..., n_rot:, :]
    if n_rot % cos.shape[0]:
        raise ValueError(f"{n_rot} rotated tokens are not a whole number of {cos.shape[0]}-token "
                         "grids")
    repeats = n_rot // cos.shape[0]
    cos, sin = cos.repeat(repeats, 1), sin.repeat(repeats, 1)
    # rotation in float32, as the reference
    rotated = rot.float() * cos + _rotate_pairs(rot.float()) * sin
    return torch.cat([rotated.type_as(x), keep], dim=-2)
