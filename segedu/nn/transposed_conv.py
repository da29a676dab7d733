r"""Transposed convolution written as a scatter-add of the kernel.

Every input pixel :math:`x[i, j]` multiplies the whole kernel and the product is *added* into the
output with its top-left corner at :math:`(s\,i, s\,j)`; where the stamps overlap they sum. With a
dilation :math:`d` the kernel's taps are :math:`d` pixels apart. Finally ``padding`` pixels are
cropped from every side and ``output_padding`` pixels are kept at the bottom and right:

.. math::
    y[o, s\,i + d\,u - p,\; s\,j + d\,v - p] \mathrel{+}= \sum_c x[c, i, j]\, w[c, o, u, v] .

That is the transpose (the adjoint, the gradient) of the convolution with the same kernel, stride,
padding and dilation: :math:`\langle \mathrm{conv}(x), y\rangle = \langle x,
\mathrm{conv}^\top(y)\rangle`. The loop below runs over the :math:`k_h k_w` kernel taps (each
tap adds one strided copy of the input, weighted by that tap), which is the scatter of the whole
kernel per input pixel, reordered. Equal to ``F.conv_transpose2d`` (``groups=1``).
"""

from __future__ import annotations

import torch

from ._utils import int_pair
from .arithmetic import conv_transpose_output_size

__all__ = ["conv_transpose2d_scatter"]


def conv_transpose2d_scatter(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> torch.Tensor:
    """Transposed 2-D convolution as a scatter-add of the kernel (readable ``F.conv_transpose2d``).

    Args:
        x: input ``(N, C_in, H, W)`` (or ``(C_in, H, W)``).
        weight: kernel ``(C_in, C_out, k_h, k_w)``, the layout of ``nn.ConvTranspose2d.weight``.
        bias: ``(C_out,)`` or None.
        stride, padding, output_padding, dilation: as ``nn.ConvTranspose2d`` (ints or pairs).

    Returns:
        ``(N, C_out, H_out, W_out)`` with
        ``H_out = (H - 1) s - 2p + d (k - 1) + output_padding + 1``.
    """
    if not isinstance(x, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise TypeError("x and weight must be tensors")
    unbatched = x.ndim == 3
    if unbatched:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C_in, H, W) or (C_in, H, W), got shape {tuple(x.shape)}")
    if weight.ndim != 4 or weight.shape[0] != x.shape[1]:
        raise ValueError(
            f"weight must be (C_in, C_out, k_h, k_w) with C_in = {x.shape[1]} (groups=1 only), "
            f"got shape {tuple(weight.shape)}"
        )
    if bias is not None and bias.shape != (weight.shape[1],):
        raise ValueError(f"bias must have shape ({weight.shape[1]},), got {tuple(bias.shape)}")
    (sh, sw), (ph, pw) = int_pair(stride, "stride"), int_pair(padding, "padding")
    oph, opw = int_pair(output_padding, "output_padding")
    dh, dw = int_pair(dilation, "dilation")
    n, _, h, w = x.shape
    _, c_out, kh, kw = weight.shape
    out_h = conv_transpose_output_size(h, kh, stride=sh, padding=ph, output_padding=oph,
                                       dilation=dh)
    out_w = conv_transpose_output_size(w, kw, stride=sw, padding=pw, output_padding=opw,
                                       dilation=dw)

    # 1. the full, uncropped canvas: every stamp fits, plus the output padding
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    full_w = (w - 1) * sw + dw * (kw - 1) + 1 + opw
    canvas = x.new_zeros(n, c_out, full_h, full_w)
    # 2. each kernel tap (u, v) adds the input, mixed by that tap's C_in x C_out matrix, at the
    #    strided positions s*i + d*u, s*j + d*v: together, every input pixel stamps the whole kernel
    for u in range(kh):
        for v in range(kw):
            contribution = torch.einsum("nchw,co->nohw", x, weight[:, :, u, v])
            rows = slice(dh * u, dh * u + sh * (h - 1) + 1, sh)
            cols = slice(dw * v, dw * v + sw * (w - 1) + 1, sw)
            canvas[:, :, rows, cols] += contribution
    # 3. crop the padding from every side (the output padding stays at the bottom and right)
    out = canvas[:, :, ph:ph + out_h, pw:pw + out_w]
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out[0] if unbatched else out
