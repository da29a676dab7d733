"""(Shifted) window multi-head self-attention, W-MSA and SW-MSA, with the relative position bias.

Liu et al., ICCV 2021, section 3.2. The ``(B, H, W, C)`` grid is padded (bottom, right) to
multiples of the window ``M``, optionally rolled by the shift, cut into ``M x M`` windows;
multi-head attention runs inside each window with the relative position bias added to its
scores (and, when shifted, the mask of :mod:`.shift_mask`); the windows are put back, the roll
undone and the padding cropped. The steps, the zero padding (padded tokens take part in the
attention, unmasked) and the rule that a window as large as the padded grid is not shifted are
torchvision's ``shifted_window_attention`` (the paper's code instead shrinks the window to the
grid), so that the two give the same outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .relative_position import relative_position_index
from .shift_mask import shifted_window_mask
from .windows import window_partition, window_reverse

__all__ = ["WindowAttention"]


class WindowAttention(nn.Module):
    """``(B, H, W, C)`` -> ``(B, H, W, C)``: self-attention inside (shifted) ``M x M`` windows.

    Args (keyword-only):
        dim: ``C``.
        num_heads: heads (``C`` must divide by it; 3, 6, 12, 24 in Swin-T's stages).
        window_size: ``(Mh, Mw)`` (7 x 7 in the paper).
        shift_size: ``(Sh, Sw)``: 0 for W-MSA, ``M // 2`` for SW-MSA.

    Parameters: ``qkv`` (``C -> 3C``), ``proj`` (``C -> C``) and
    ``relative_position_bias_table`` ``((2Mh - 1)(2Mw - 1), heads)``.
    """

    def __init__(self, *, dim: int, num_heads: int, window_size: tuple[int, int],
                 shift_size: tuple[int, int] = (0, 0)) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        if any(not 0 <= s < m for s, m in zip(shift_size, window_size, strict=True)):
            raise ValueError(f"shift_size {shift_size} must lie in [0, window_size {window_size})")
        self.num_heads = num_heads
        self.window_size = tuple(window_size)
        self.shift_size = tuple(shift_size)
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        mh, mw = self.window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * mh - 1) * (2 * mw - 1), num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # derived from the window size, so not saved (torchvision saves it; the converter drops it)
        self.register_buffer("relative_position_index",
                             relative_position_index(self.window_size), persistent=False)

    def relative_position_bias(self) -> torch.Tensor:
        """``(heads, Mh * Mw, Mh * Mw)``: the bias ``B`` of each pair of tokens of a window."""
        n = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index.flatten()]
        return bias.view(n, n, -1).permute(2, 0, 1)  # (heads, N, N)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        mh, mw = self.window_size
        # pad bottom and right to multiples of the window (zeros, which do take part)
        x = F.pad(x, (0, 0, 0, (mw - w % mw) % mw, 0, (mh - h % mh) % mh))
        hp, wp = x.shape[1:3]
        # no shift along a side that a single window covers
        shift = (0 if mh >= hp else self.shift_size[0], 0 if mw >= wp else self.shift_size[1])
        shifted = sum(shift) > 0
        if shifted:  # cyclic shift up and left: the windows now straddle the old borders
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        windows = window_partition(x, self.window_size)  # (B*nW, N, C), N = Mh*Mw
        n = windows.shape[1]
        # queries, keys, values per head: (3, B*nW, heads, N, C/heads)
        qkv = self.qkv(windows).reshape(-1, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)  # (B*nW, heads, N, N): scaled scores
        attn = attn + self.relative_position_bias().unsqueeze(0)  # + B, the same in every window
        if shifted:  # forbid attention between the regions the roll brought together
            mask = shifted_window_mask(hp, wp, self.window_size, shift, device=x.device,
                                       dtype=attn.dtype)  # (nW, N, N)
            num_windows = mask.shape[0]
            attn = attn.view(-1, num_windows, self.num_heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, self.num_heads, n, n)
        attn = attn.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(-1, n, c)  # (B*nW, N, C): heads concatenated
        out = self.proj(out)
        x = window_reverse(out, self.window_size, hp, wp)  # (B, Hp, Wp, C)
        if shifted:  # undo the roll
            x = torch.roll(x, shifts=shift, dims=(1, 2))
        return x[:, :h, :w, :].contiguous()  # crop the padding: (B, H, W, C)

    def extra_repr(self) -> str:
        return (f"num_heads={self.num_heads}, window_size={self.window_size}, "
                f"shift_size={self.shift_size}")
