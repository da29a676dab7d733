r"""Output sizes of convolutions, transposed convolutions and pooling layers.

One spatial dimension of size :math:`n`, a kernel of size :math:`k`, stride :math:`s`, zero
padding :math:`p` on both sides and dilation :math:`d` (the kernel's taps are :math:`d` pixels
apart, so it spans :math:`d(k - 1) + 1` pixels):

- **convolution** and **pooling**: the kernel is placed at :math:`0, s, 2s, \dots` on the padded
  input of size :math:`n + 2p` as long as it fits,

  .. math:: n_\text{out} = \left\lfloor \frac{n + 2p - d(k - 1) - 1}{s} \right\rfloor + 1,

  which the course writes :math:`(H - K + 2P)/S + 1` for :math:`d = 1`;
- **transposed convolution**: each input pixel stamps the kernel at :math:`s \times` its position,
  then :math:`p` pixels are cropped on each side and ``output_padding`` pixels added on one side,

  .. math:: n_\text{out} = (n - 1)s - 2p + d(k - 1) + \text{output\_padding} + 1,

  the course's :math:`(H - 1)S + (K - 1) - 2P + 1`.

Pooling also requires ``padding <= kernel_size / 2`` (PyTorch's rule), and it may round up
(``ceil_mode=True``): the last, incomplete window then produces an output too, as long as it starts
inside the input or its left padding (PyTorch's rule, shared with Caffe).

Every function takes one size (an ``int``) or one size per dimension (a tuple, e.g. ``(H, W)``;
the other arguments are then an ``int`` for all dimensions or a tuple of the same length) and
raises the error PyTorch's layer would raise, as a ``ValueError`` (``TypeError`` for a non-integer
argument) that names the argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["conv_output_size", "conv_transpose_output_size", "pool_output_size"]

Size = int | Sequence[int]


def _check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; bools and floats are refused, as PyTorch's layers do."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _per_dimension(compute: Callable[..., int], n: Size,
                   **arguments: Size | bool | None) -> int | tuple[int, ...]:
    """Apply the one-dimensional ``compute`` to each dimension when ``n`` is a tuple."""
    if not isinstance(n, Sequence):
        for name, value in arguments.items():
            if isinstance(value, Sequence):
                raise TypeError(f"{name} is a sequence {value!r} but the size n={n!r} is one "
                                "number")
        return compute(n, **arguments)
    dims = len(n)
    per_dim: dict[str, list] = {}
    for name, value in arguments.items():
        if isinstance(value, Sequence):
            if len(value) != dims:
                raise ValueError(f"{name}={tuple(value)} has {len(value)} values for {dims} "
                                 f"dimensions n={tuple(n)}")
            per_dim[name] = list(value)
        else:
            per_dim[name] = [value] * dims
    return tuple(compute(n[i], **{name: values[i] for name, values in per_dim.items()})
                 for i in range(dims))


def _positive_output(out: int, n: int, description: str) -> int:
    if out < 1:
        raise ValueError(f"output size {out} is too small: input size {n} with {description}")
    return out


def _conv_1d(n: int, *, kernel_size: int, stride: int, padding: int, dilation: int) -> int:
    n = _check_int("n", n, 1)
    k = _check_int("kernel_size", kernel_size, 1)
    s = _check_int("stride", stride, 1)
    p = _check_int("padding", padding, 0)
    d = _check_int("dilation", dilation, 1)
    span = d * (k - 1) + 1  # pixels covered by the dilated kernel
    if span > n + 2 * p:
        raise ValueError(
            f"the kernel spans {span} pixels (kernel_size={k}, dilation={d}) but the padded input "
            f"has only {n + 2 * p} (n={n}, padding={p})"
        )
    # positions 0, s, 2s, ... of the kernel's first tap, as long as the kernel fits
    return (n + 2 * p - span) // s + 1


def _transpose_1d(n: int, *, kernel_size: int, stride: int, padding: int, output_padding: int,
                  dilation: int) -> int:
    n = _check_int("n", n, 1)
    k = _check_int("kernel_size", kernel_size, 1)
    s = _check_int("stride", stride, 1)
    p = _check_int("padding", padding, 0)
    op = _check_int("output_padding", output_padding, 0)
    d = _check_int("dilation", dilation, 1)
    if op >= s and op >= d:
        raise ValueError(
            f"output_padding={op} must be smaller than either stride={s} or dilation={d} "
            "(it only picks one of the input sizes that a strided convolution maps to the same "
            "size)"
        )
    # the stamps reach (n - 1) s + d (k - 1) + 1 pixels; crop p on each side, add op on one side
    out = (n - 1) * s + d * (k - 1) + 1 - 2 * p + op
    return _positive_output(out, n, f"kernel_size={k}, stride={s}, padding={p}, dilation={d}")


def _pool_1d(n: int, *, kernel_size: int, stride: int | None, padding: int, dilation: int,
             ceil_mode: bool) -> int:
    n = _check_int("n", n, 1)
    k = _check_int("kernel_size", kernel_size, 1)
    s = k if stride is None else _check_int("stride", stride, 1)  # default stride: the kernel size
    p = _check_int("padding", padding, 0)
    d = _check_int("dilation", dilation, 1)
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"ceil_mode must be True or False, got {ceil_mode!r}")
    if 2 * p > k:  # PyTorch: padding at most half of the kernel size (the undilated one)
        raise ValueError(f"padding={p} must be at most half of kernel_size={k}")
    span = d * (k - 1) + 1
    room = n + 2 * p - span
    # floor or ceil of room / s, plus the first window
    out = (-(-room // s) if ceil_mode else room // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1  # the last window would start in the right padding: drop it
    return _positive_output(out, n, f"kernel_size={k}, stride={s}, padding={p}, dilation={d}")


def conv_output_size(n: Size, kernel_size: Size, stride: Size = 1, padding: Size = 0,
                     dilation: Size = 1) -> int | tuple[int, ...]:
    """Output size of ``nn.Conv1d/2d/3d`` along each dimension.

    ``floor((n + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1``.

    >>> conv_output_size(32, 3, stride=2, padding=1)
    16
    >>> conv_output_size((224, 200), 7, stride=2, padding=3)
    (112, 100)
    """
    return _per_dimension(_conv_1d, n, kernel_size=kernel_size, stride=stride, padding=padding,
                          dilation=dilation)


def conv_transpose_output_size(n: Size, kernel_size: Size, stride: Size = 1, padding: Size = 0,
                               output_padding: Size = 0,
                               dilation: Size = 1) -> int | tuple[int, ...]:
    """Output size of ``nn.ConvTranspose1d/2d/3d`` along each dimension.

    ``(n - 1) stride - 2 padding + dilation (kernel_size - 1) + output_padding + 1``.

    >>> conv_transpose_output_size(16, 4, stride=2, padding=1)  # FCN-style 2x up-sampling
    32
    """
    return _per_dimension(_transpose_1d, n, kernel_size=kernel_size, stride=stride, padding=padding,
                          output_padding=output_padding, dilation=dilation)


def pool_output_size(n: Size, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
                     dilation: Size = 1, ceil_mode: bool = False) -> int | tuple[int, ...]:
    """Output size of ``nn.MaxPool1d/2d/3d`` (and of ``nn.AvgPool*``, which has no dilation).

    As :func:`conv_output_size` with ``stride`` defaulting to ``kernel_size``, rounded up when
    ``ceil_mode`` (but no window may start in the right padding).

    >>> pool_output_size(7, 2)
    3
    >>> pool_output_size(7, 2, ceil_mode=True)
    4
    """
    return _per_dimension(_pool_1d, n, kernel_size=kernel_size, stride=stride, padding=padding,
                          dilation=dilation, ceil_mode=ceil_mode)
