r"""Unpooling: up-sampling without parameters, the inverse gesture of pooling.

- **Max unpooling** (SegNet): the encoder's ``max_pool2d(..., return_indices=True)`` remembers
  where each maximum was; the decoder puts every value back at exactly that place and zeros
  everywhere else. Equal to ``F.max_unpool2d``.
- **Average unpooling**: every value is copied into the whole ``s x s`` block it summarises, i.e.
  nearest-neighbour up-sampling, equal to ``F.interpolate(x, scale_factor=s, mode="nearest")``.
  It is :math:`s^2` times the adjoint of ``avg_pool2d(kernel_size=s)``:
  :math:`\langle \mathrm{avgpool}(x), y\rangle = \langle x, \mathrm{avgunpool}(y)\rangle / s^2`,
  because average pooling multiplies each of the :math:`s^2` pixels of a block by :math:`1/s^2`.
"""

from __future__ import annotations

import torch

from ._utils import int_pair
from .arithmetic import conv_transpose_output_size

__all__ = ["max_unpool2d", "avg_unpool2d"]


def max_unpool2d(
    x: torch.Tensor,
    indices: torch.Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    output_size: tuple[int, ...] | None = None,
) -> torch.Tensor:
    """Put each pooled value back where its maximum was found; zeros elsewhere.

    Args:
        x: pooled values ``(N, C, h, w)`` (or ``(C, h, w)``).
        indices: same shape, int64: the flat position ``row * W + col`` of each maximum in its
            ``(H, W)`` input plane, as returned by ``F.max_pool2d(..., return_indices=True)``.
        kernel_size, stride, padding: those of the pooling (stride defaults to kernel_size).
        output_size: ``(H, W)`` (or a longer shape ending in it) of the pooling's input; needed
            when several input sizes pool to the same ``(h, w)`` (odd sizes). By default
            ``(h - 1) stride - 2 padding + kernel_size``.

    Returns:
        ``(N, C, H, W)``: mostly zeros, with ``x`` scattered to its ``indices``. With
        overlapping windows two outputs can point at the same pixel; that pixel then holds the
        value written last (both are the same maximum).
    """
    if not isinstance(x, torch.Tensor) or not isinstance(indices, torch.Tensor):
        raise TypeError("x and indices must be tensors")
    if x.ndim not in (3, 4):
        raise ValueError(f"x must be (N, C, h, w) or (C, h, w), got shape {tuple(x.shape)}")
    if indices.shape != x.shape:
        raise ValueError(f"indices must have the shape of x {tuple(x.shape)}, got "
                         f"{tuple(indices.shape)}")
    if indices.dtype != torch.int64:
        raise TypeError(f"indices must be int64 (as max_pool2d returns them), got {indices.dtype}")
    kernel = int_pair(kernel_size, "kernel_size")
    step = int_pair(stride or kernel_size, "stride")
    pad = int_pair(padding, "padding")
    if output_size is None:
        # the input size that this pooling maps back from, as PyTorch assumes it
        height = conv_transpose_output_size(x.shape[-2], kernel[0], stride=step[0], padding=pad[0])
        width = conv_transpose_output_size(x.shape[-1], kernel[1], stride=step[1], padding=pad[1])
    else:
        height, width = (int(v) for v in tuple(output_size)[-2:])
    # 1. one flat plane of H*W zeros per (image, channel)
    planes = x.reshape(-1, x.shape[-2] * x.shape[-1])
    flat_indices = indices.reshape(planes.shape)
    if flat_indices.numel() and (flat_indices.min() < 0 or flat_indices.max() >= height * width):
        raise ValueError(f"indices point outside the {height}x{width} output (max index "
                         f"{int(flat_indices.max())})")
    out = x.new_zeros(planes.shape[0], height * width)
    # 2. scatter each value to the flat position of its maximum
    out = out.scatter(1, flat_indices, planes)
    # 3. back to images
    return out.reshape(*x.shape[:-2], height, width)


def avg_unpool2d(x: torch.Tensor, scale_factor: int | tuple[int, int]) -> torch.Tensor:
    """Copy each value into the ``s x s`` block it came from (nearest-neighbour up-sampling).

    Args:
        x: ``(N, C, h, w)`` (or ``(C, h, w)``).
        scale_factor: ``s`` (or ``(s_h, s_w)``), the kernel size and stride of the average pooling.

    Returns:
        ``(N, C, h * s_h, w * s_w)``, equal to ``F.interpolate(x, scale_factor=s, mode="nearest")``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise ValueError(f"x must be (N, C, h, w) or (C, h, w), got shape {tuple(x.shape)}")
    sh, sw = int_pair(scale_factor, "scale_factor")
    if sh < 1 or sw < 1:
        raise ValueError(f"scale_factor must be >= 1, got {scale_factor!r}")
    # repeat every row s_h times and every column s_w times
    return x.repeat_interleave(sh, dim=-2).repeat_interleave(sw, dim=-1)
