r"""Receptive field and effective stride of a stack of layers.

The *receptive field* of a pixel of a feature map is the set of input pixels that can change it;
the *jump* (effective stride) is the distance, in input pixels, between two neighbouring pixels of
that feature map. Layer by layer, starting from :math:`r_0 = 1`, :math:`j_0 = 1`, a layer with
kernel :math:`k`, stride :math:`s` and dilation :math:`d` gives

.. math::

   r_\ell = r_{\ell-1} + (k_\ell - 1)\, d_\ell\, j_{\ell-1}, \qquad j_\ell = j_{\ell-1}\, s_\ell .

Two 3x3 convolutions see 5x5 pixels, three see 7x7, VGG16's ``conv5_3`` sees 196x196.
Padding does not change the size of the receptive field, only where it lies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from torch import nn

__all__ = ["ReceptiveField", "receptive_field"]

_SPATIAL = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
            nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)


@dataclass(frozen=True)
class ReceptiveField:
    """Result of :func:`receptive_field`.

    Attributes:
        size: receptive field of one output pixel, in input pixels (along one dimension).
        stride: effective stride (jump): input pixels between two neighbouring output pixels.
        layers: one row per layer, ``(name, kernel_size, stride, dilation, size, jump)`` after it.
    """

    size: int
    stride: int
    layers: list[tuple[str, int, int, int, int, int]] = field(default_factory=list)


def _first(value) -> int:
    """The first dimension's value of an int or a tuple (square kernels are assumed)."""
    return int(value[0] if isinstance(value, tuple | list) else value)


def _as_geometry(layer) -> tuple[str, int, int, int] | None:
    """``(name, kernel, stride, dilation)`` of a layer; None for layers that act per pixel."""
    if isinstance(layer, tuple | list):
        if len(layer) != 3:
            raise ValueError("a layer given as a tuple must be (kernel_size, stride, dilation), "
                             f"got {layer!r}")
        kernel, stride, dilation = (int(v) for v in layer)
        name = f"k{kernel} s{stride} d{dilation}"
    elif isinstance(layer, _SPATIAL):
        kernel, stride = _first(layer.kernel_size), _first(layer.stride)
        dilation = _first(getattr(layer, "dilation", 1))  # average pooling has no dilation
        name = type(layer).__name__
    elif isinstance(layer, nn.Module):
        if any(isinstance(m, nn.ConvTranspose1d | nn.ConvTranspose2d | nn.ConvTranspose3d)
               for m in layer.modules()):
            raise ValueError("transposed convolutions up-sample: their receptive field is not "
                             "defined by this formula")
        return None  # ReLU, batch norm, dropout, 1x1 nothing: the receptive field does not change
    else:
        raise TypeError("a layer must be an nn.Module or a (kernel_size, stride, dilation) tuple, "
                        f"got {type(layer).__name__}")
    if kernel < 1 or stride < 1 or dilation < 1:
        raise ValueError(f"kernel_size, stride and dilation must be >= 1, got {layer!r}")
    return name, kernel, stride, dilation


def _flatten(layers) -> list:
    """Layers in forward order; ``nn.Sequential`` (and other containers) are opened."""
    if isinstance(layers, nn.Module) and not isinstance(layers, _SPATIAL):
        # _modules, not children(): a module used twice in a Sequential is applied twice
        children = [child for child in layers._modules.values() if child is not None]
        return [leaf for child in children for leaf in _flatten(child)] if children else [layers]
    return [layers]


def receptive_field(layers: Iterable | nn.Module) -> ReceptiveField:
    """Receptive field and effective stride after a stack of layers, applied in order.

    Args:
        layers: an ``nn.Module`` (containers are searched in registration order, which is the
            forward order of an ``nn.Sequential``) or a sequence of ``nn.Module`` s and
            ``(kernel_size, stride, dilation)`` tuples. Convolutions and pooling layers count;
            layers acting per pixel (activations, normalisation) are skipped.

    >>> receptive_field([(3, 1, 1), (3, 1, 1)]).size
    5
    >>> rf = receptive_field([(3, 1, 1), (2, 2, 1), (3, 1, 1)])  # conv, 2x2 pool, conv
    >>> rf.size, rf.stride
    (8, 2)
    """
    if isinstance(layers, nn.Module):
        flat = _flatten(layers)
    else:
        flat = [leaf for layer in layers for leaf in _flatten(layer)]
    size, jump, rows = 1, 1, []
    for layer in flat:
        geometry = _as_geometry(layer)
        if geometry is None:
            continue
        name, kernel, stride, dilation = geometry
        # the kernel adds (k - 1) d steps of the current jump
        size += (kernel - 1) * dilation * jump
        jump *= stride  # neighbours of the next map are `stride` pixels of this one apart
        rows.append((name, kernel, stride, dilation, size, jump))
    return ReceptiveField(size=size, stride=jump, layers=rows)
