"""U-Net (Ronneberger, Fischer & Brox, 2015), its padded and residual variants.

Reference: O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks for Biomedical
Image Segmentation", MICCAI 2015, https://arxiv.org/abs/1505.04597.

The network is an encoder ("contracting path") and a decoder ("expanding path") of the same depth:

    input ─ DoubleConv ──────────────────────────── skip ─────────────── Up ─ 1x1 conv ─ output
               └ Down ─────────────────────── skip ──────────── Up ──┘
                   └ Down ─── ... ─ Down (bottleneck) ─ Up ─ ...

- ``DoubleConv``: two 3x3 convolutions, each followed by (batch norm and) ReLU;
- ``Down``: 2x2 max pooling (halves H, W), then a ``DoubleConv`` that doubles the channels;
- ``Up``: 2x up-sampling that halves the channels, concatenation with the encoder's feature map
  of the same level (the *skip connection*, centre-cropped to the same size), then a
  ``DoubleConv``;
- a final 1x1 convolution maps the ``width`` channels to ``num_classes`` logits.

Two ways to handle the borders:

- ``padding=False`` (the original paper): every 3x3 convolution is *unpadded* and shrinks the map
  by 2 pixels, so the output is smaller than the input (572 -> 388 for depth 4) and the skip
  connections are centre-cropped before concatenation. Every map fed to a pooling must have an
  even size; :func:`valid_unet_input_size` gives the next size that works and
  :func:`unet_output_size` the size that comes out. Other sizes raise a ``ValueError``.
- ``padding=True`` (used in practice): the convolutions are zero-padded, the output has the size
  of the input, and no cropping is needed. H and W must be multiples of ``2**depth``; other sizes
  raise a ``ValueError`` naming the multiple (we do not pad silently: pad or crop your data).

``residual=True`` adds a shortcut around every ``DoubleConv`` (identity, or a 1x1 convolution when
the channel count changes), as in residual U-Nets (e.g. Zhang, Liu & Wang, "Road Extraction by Deep
Residual U-Net", 2018).

Registered builders: ``get_model("unet_original")``, ``get_model("unet")``,
``get_model("resunet")``. The building blocks also work in 3D (``dims=3``), see
:mod:`segedu.models.semantic.unet3d`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import register_model
from .base import SemanticOutput, SemanticSegmenter

__all__ = [
    "DoubleConv",
    "Down",
    "Up",
    "UNet",
    "center_crop",
    "unet_output_size",
    "valid_unet_input_size",
    "unet",
    "unet_original",
    "resunet",
]

# The layer types for 2D images and 3D volumes: Conv, BatchNorm, MaxPool, ConvTranspose.
_LAYERS = {
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.ConvTranspose2d),
    3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d, nn.ConvTranspose3d),
}


# ---------------------------------------------------------------------------------------------
# Size arithmetic of the unpadded (original) U-Net
# ---------------------------------------------------------------------------------------------


def _unpadded_sizes(size: int, depth: int) -> list[int] | None:
    """Sizes of the encoder maps before each pooling, or None when one is odd or too small."""
    sizes = []
    for _ in range(depth):
        size -= 4  # two unpadded 3x3 convolutions
        if size < 2 or size % 2:
            return None
        sizes.append(size)
        size //= 2  # 2x2 max pooling
    return sizes + [size]


def unet_output_size(size: int, depth: int) -> int:
    """Output size of the unpadded U-Net for an input of ``size`` pixels (572 -> 388 at depth 4).

    Raises ``ValueError`` when ``size`` is not a valid input size (see
    :func:`valid_unet_input_size`).
    """
    sizes = _unpadded_sizes(size, depth)
    if sizes is None or sizes[-1] - 4 < 1:
        lower, upper = _neighbours(size, depth)
        raise ValueError(
            f"the unpadded U-Net of depth {depth} cannot take an input of size {size}: every map "
            f"before a pooling must be even; nearest valid sizes: "
            f"{lower if lower is not None else '(none smaller)'} and {upper}"
        )
    out = sizes[-1] - 4  # bottleneck: two unpadded convolutions
    for _ in range(depth):
        out = 2 * out - 4  # up-sampling doubles, two unpadded convolutions remove 4
        if out < 1:
            lower, upper = _neighbours(size, depth)
            raise ValueError(
                f"input size {size} is too small for the unpadded U-Net of depth {depth}; "
                f"nearest valid sizes: {lower if lower is not None else '(none smaller)'} and "
                f"{upper}"
            )
    return out


def _smallest_valid(depth: int) -> int:
    # Input s of bottleneck size b: s = 2**depth * b + 4 * (2**depth - 1). Try b = 5, 6, ...
    b = 5
    while not _is_valid_raw(2**depth * b + 4 * (2**depth - 1), depth):
        b += 1
    return 2**depth * b + 4 * (2**depth - 1)


def _is_valid_raw(size: int, depth: int) -> bool:
    sizes = _unpadded_sizes(size, depth)
    if sizes is None or sizes[-1] - 4 < 1:
        return False
    out = sizes[-1] - 4
    for _ in range(depth):
        out = 2 * out - 4
        if out < 1:
            return False
    return True


def _neighbours(size: int, depth: int) -> tuple[int | None, int]:
    """The largest valid size below ``size`` (or None) and the smallest valid size above it."""
    smallest = _smallest_valid(depth)
    step = 2**depth  # valid sizes are 2**depth * b + 4 * (2**depth - 1): spaced 2**depth apart
    if size <= smallest:
        return None, smallest
    k = (size - smallest) // step
    lower = smallest + k * step
    if lower == size:
        lower -= step
    return (lower if lower >= smallest else None), smallest + (k + 1) * step


def valid_unet_input_size(size: int, depth: int) -> int:
    """The smallest input size >= ``size`` that the unpadded U-Net of ``depth`` poolings accepts.

    Valid sizes are ``2**depth * b + 4 * (2**depth - 1)`` with a bottleneck input size ``b`` large
    enough for a non-empty output, e.g. 188, 204, ..., 572, ... for depth 4.
    """
    if _is_valid_raw(size, depth):
        return size
    return _neighbours(size, depth)[1]


def center_crop(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Crop the trailing spatial dimensions of ``x`` (N, C, *spatial) to ``size``, centred.

    The crop starts at ``round(margin / 2)``, the convention of
    ``torchvision.transforms.functional.center_crop``. Python rounds halves to even, so an odd
    margin loses its extra pixel at the end for margins 1, 5, 9, ... and at the start for 3, 7,
    11, ... (the U-Net's valid sizes only make even margins).
    """
    slices = [slice(None), slice(None)]
    for have, want in zip(x.shape[2:], size, strict=True):
        if want > have:
            raise ValueError(f"cannot crop a map of size {tuple(x.shape[2:])} to {tuple(size)}")
        start = int(round((have - want) / 2.0))
        slices.append(slice(start, start + want))
    return x[tuple(slices)]


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


class DoubleConv(nn.Module):
    """(conv 3x3 -> [BN] -> ReLU) x 2, optionally with a residual shortcut.

    Shapes: (N, in_channels, *S) -> (N, out_channels, *S) when padded, *S - 4 when unpadded.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        padding: bool = True,
        batch_norm: bool = True,
        residual: bool = False,
        dims: int = 2,
    ):
        super().__init__()
        Conv, BatchNorm, _, _ = _LAYERS[dims]
        pad = 1 if padding else 0
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate([(in_channels, out_channels),
                                           (out_channels, out_channels)]):
            # the bias is redundant before batch norm (BN subtracts the mean)
            layers.append(Conv(c_in, c_out, 3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(BatchNorm(c_out))
            if i == 0 or not residual:  # with a shortcut, the last ReLU comes after the sum
                layers.append(nn.ReLU(inplace=True))
        self.block = nn.Sequential(*layers)
        self.residual = residual
        if residual:
            if in_channels == out_channels:
                self.shortcut: nn.Module = nn.Identity()
            else:  # a 1x1 convolution matches the channel count
                shortcut = [Conv(in_channels, out_channels, 1, bias=not batch_norm)]
                if batch_norm:
                    shortcut.append(BatchNorm(out_channels))
                self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)  # (N, C_out, *S') with S' = S (padded) or S - 4 (unpadded)
        if self.residual:
            s = center_crop(self.shortcut(x), y.shape[2:])  # (N, C_out, *S'): crop when unpadded
            y = F.relu(y + s)
        return y


class Down(nn.Module):
    """2x2 max pooling then ``DoubleConv``: (N, C, *S) -> (N, 2C, *S/2 [- 4 unpadded])."""

    def __init__(self, in_channels: int, out_channels: int, *, dims: int = 2, **conv_kwargs):
        super().__init__()
        _, _, MaxPool, _ = _LAYERS[dims]
        self.pool = MaxPool(2)
        self.conv = DoubleConv(in_channels, out_channels, dims=dims, **conv_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)  # (N, C, *S/2)
        return self.conv(x)  # (N, 2C, *S/2) padded, (N, 2C, *S/2 - 4) unpadded


class Up(nn.Module):
    """Up-sample by 2 halving the channels, crop-and-concatenate the skip, then ``DoubleConv``.

    ``up="transposed"``: a 2x2 transposed convolution with stride 2 (the paper's "up-convolution");
    ``up="bilinear"`` (``"trilinear"`` in 3D): interpolation followed by a 1x1 convolution.
    Shapes: x (N, C, *S), skip (N, C/2, *T) with T >= 2S -> (N, C/2, *2S [- 4 unpadded]).
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, up: str = "transposed", dims: int = 2,
        **conv_kwargs,
    ):
        super().__init__()
        Conv, _, _, ConvTranspose = _LAYERS[dims]
        if up == "transposed":
            self.up: nn.Module = ConvTranspose(in_channels, out_channels, 2, stride=2)
        elif up in ("bilinear", "trilinear"):
            mode = "bilinear" if dims == 2 else "trilinear"
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode=mode, align_corners=False),
                Conv(in_channels, out_channels, 1),
            )
        else:
            raise ValueError(f"up must be 'transposed' or 'bilinear', got {up!r}")
        # after concatenation: out_channels (up-sampled) + out_channels (skip)
        self.conv = DoubleConv(2 * out_channels, out_channels, dims=dims, **conv_kwargs)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)  # (N, C/2, *2S)
        skip = center_crop(skip, x.shape[2:])  # (N, C/2, *2S): no-op when padded
        x = torch.cat([skip, x], dim=1)  # (N, C, *2S)
        return self.conv(x)  # (N, C/2, *2S) padded, (N, C/2, *2S - 4) unpadded


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------


class UNet(SemanticSegmenter):
    """U-Net of ``depth`` poolings; level ``i`` has ``width * 2**i`` channels.

    Input (N, in_channels, H, W) -> ``{"out": logits}``, the logits (N, num_classes, H, W) when
    ``padding=True`` (H, W multiples of ``2**depth``), or (N, num_classes, H', W') with
    ``H' = unet_output_size(H, depth)`` when ``padding=False``.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 2,
        depth: int = 4,
        width: int = 64,
        padding: bool = True,
        batch_norm: bool = True,
        residual: bool = False,
        up: str = "transposed",
        dims: int = 2,
    ):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
        if dims not in _LAYERS:
            raise ValueError(f"dims must be 2 or 3, got {dims}")
        self.depth, self.padding, self.dims = depth, padding, dims
        conv = dict(padding=padding, batch_norm=batch_norm, residual=residual)
        channels = [width * 2**i for i in range(depth + 1)]  # e.g. 64, 128, 256, 512, 1024
        self.inc = DoubleConv(in_channels, channels[0], dims=dims, **conv)
        self.downs = nn.ModuleList(
            Down(channels[i], channels[i + 1], dims=dims, **conv) for i in range(depth)
        )
        self.ups = nn.ModuleList(
            Up(channels[i + 1], channels[i], up=up, dims=dims, **conv)
            for i in reversed(range(depth))
        )
        Conv = _LAYERS[dims][0]
        self.head = Conv(channels[0], num_classes, 1)  # per-pixel classifier

    def check_input_size(self, spatial: tuple[int, ...]) -> None:
        """Raise ``ValueError`` when the spatial size cannot go through the network exactly."""
        if self.padding:
            multiple = 2**self.depth
            if any(s % multiple for s in spatial):
                suggestion = tuple(-(-s // multiple) * multiple for s in spatial)
                raise ValueError(
                    f"the padded U-Net of depth {self.depth} needs every spatial size to be a "
                    f"multiple of 2**{self.depth} = {multiple}, got {tuple(spatial)}; pad the "
                    f"input to e.g. {suggestion}"
                )
        else:
            for s in spatial:
                unet_output_size(s, self.depth)  # raises with the nearest valid sizes

    def forward(self, x: torch.Tensor) -> SemanticOutput:
        self.check_input_size(tuple(x.shape[2:]))
        x = self.inc(x)  # (N, width, H, W) [unpadded: H - 4, W - 4]
        skips = [x]
        for down in self.downs:  # level i: (N, width * 2**i, H / 2**i, W / 2**i)
            x = down(x)
            skips.append(x)
        skips.pop()  # the bottleneck (N, width * 2**depth, H / 2**depth, W / 2**depth) is x
        for up in self.ups:  # back up: channels halve, sizes double
            x = up(x, skips.pop())  # (N, width * 2**i, H / 2**i, W / 2**i)
        return {"out": self.head(x)}  # (N, num_classes, H, W) [unpadded: see unet_output_size]


# ---------------------------------------------------------------------------------------------
# Registered builders
# ---------------------------------------------------------------------------------------------


@register_model("unet_original")
def unet_original(*, in_channels: int = 1, num_classes: int = 2, **kwargs) -> UNet:
    """The paper's network: unpadded, no batch norm, width 64, depth 4, up-convolutions.

    (1, 1, 572, 572) -> (1, 2, 388, 388); 31,030,658 parameters (derived in the tests).
    """
    options = dict(depth=4, width=64, padding=False, batch_norm=False, up="transposed")
    options.update(kwargs)
    return UNet(in_channels=in_channels, num_classes=num_classes, **options)


@register_model("unet")
def unet(*, in_channels: int = 3, num_classes: int = 2, **kwargs) -> UNet:
    """The padded U-Net with batch norm used in practice (output size = input size)."""
    return UNet(in_channels=in_channels, num_classes=num_classes, **kwargs)


@register_model("resunet")
def resunet(*, in_channels: int = 3, num_classes: int = 2, **kwargs) -> UNet:
    """The padded U-Net with a residual shortcut around every double convolution."""
    kwargs.setdefault("residual", True)
    return UNet(in_channels=in_channels, num_classes=num_classes, **kwargs)
