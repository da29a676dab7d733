r"""Anchor boxes: the reference boxes that a region proposal network refines.

At every cell of a feature map of stride ``s`` a detector places the same set of ``A`` *cell
anchors*, boxes of several sizes and aspect ratios centred on the cell's corner ``(s x, s y)``
in image pixels. For a size :math:`S` and an aspect ratio :math:`r = h / w`, the anchor keeps the
area :math:`S^2`:

.. math:: h = S \sqrt{r}, \qquad w = S / \sqrt{r}, \qquad
          \text{cell anchor} = \operatorname{round}\big([-w/2, -h/2, w/2, h/2]\big).

The coordinates are rounded to whole pixels (``torch.round``: halves to even), as torchvision's
``AnchorGenerator.generate_anchors`` does. The anchors of a ``(h, w)`` feature map are then all
the cell anchors shifted by every ``(s_x\,j, s_y\,i)``; a feature map's stride is the image size
integer-divided by the feature-map size.

Everything here equals :class:`torchvision.models.detection.anchor_utils.AnchorGenerator`
(same values, same order: position-major, row by row; within a position, aspect-ratio-major).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["generate_anchors", "grid_anchors", "AnchorGenerator"]


def _check_positive_numbers(name: str, values: Sequence[float]) -> None:
    if not isinstance(values, (list, tuple)) or len(values) == 0:
        raise TypeError(f"{name} must be a non-empty list or tuple of numbers, got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{name} must hold numbers, got {v!r}")
        if not v > 0:
            raise ValueError(f"{name} must be positive, got {v!r}")


def generate_anchors(
    *,
    sizes: Sequence[float],
    aspect_ratios: Sequence[float],
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    r"""The ``A = len(aspect_ratios) * len(sizes)`` cell anchors ``(A, 4)``, ``xyxy``, centred on 0.

    Row ``a * len(sizes) + s`` is aspect ratio ``a`` (height / width) with size ``s``
    (the square root of its area, before rounding).

    >>> generate_anchors(sizes=(32,), aspect_ratios=(1.0, 4.0))   # 32x32, then 16 wide x 64 high
    tensor([[-16., -16.,  16.,  16.],
            [ -8., -32.,   8.,  32.]])
    """
    _check_positive_numbers("sizes", sizes)
    _check_positive_numbers("aspect_ratios", aspect_ratios)
    scales = torch.as_tensor(sizes, dtype=dtype, device=device)  # (S,)
    ratios = torch.as_tensor(aspect_ratios, dtype=dtype, device=device)  # (R,)
    # same area S^2, height / width = r
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    widths = (w_ratios[:, None] * scales[None, :]).reshape(-1)  # (R * S,), ratio-major
    heights = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    anchors = torch.stack([-widths, -heights, widths, heights], dim=1) / 2
    return anchors.round()


def grid_anchors(
    feature_size: tuple[int, int], stride: tuple[int, int], cell_anchors: torch.Tensor
) -> torch.Tensor:
    """All anchors of one feature map: ``(h * w * A, 4)`` ``xyxy`` boxes in image pixels.

    Args:
        feature_size: ``(h, w)`` of the feature map.
        stride: ``(s_y, s_x)`` image pixels per feature cell.
        cell_anchors: ``(A, 4)`` from :func:`generate_anchors`.

    Returns:
        Row ``(i * w + j) * A + a`` is cell anchor ``a`` shifted to ``(s_x j, s_y i)``.
    """
    if (
        not isinstance(cell_anchors, torch.Tensor)
        or cell_anchors.ndim != 2
        or cell_anchors.shape[1] != 4
    ):
        raise ValueError(
            "cell_anchors must be an (A, 4) tensor, "
            f"got {getattr(cell_anchors, 'shape', cell_anchors)}"
        )
    (h, w), (stride_y, stride_x) = feature_size, stride
    if min(h, w) < 0 or min(stride_y, stride_x) <= 0:
        raise ValueError(f"need feature_size >= 0 and stride > 0, got {feature_size} and {stride}")
    device = cell_anchors.device
    # the shift of every position, row by row: (h * w,)
    shift_y, shift_x = torch.meshgrid(
        torch.arange(h, device=device) * stride_y,
        torch.arange(w, device=device) * stride_x,
        indexing="ij",
    )
    shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
    shifts = torch.stack([shift_x, shift_y, shift_x, shift_y], dim=1)  # (h * w, 4)
    # every position gets every cell anchor: (h * w, 1, 4) + (1, A, 4)
    return (shifts[:, None, :] + cell_anchors[None, :, :]).reshape(-1, 4)


class AnchorGenerator(nn.Module):
    """Anchors for several feature maps (an FPN), one set of sizes and ratios per map.

    Args:
        sizes: one tuple of sizes per feature map, e.g. ``((32,), (64,), (128,))``.
        aspect_ratios: one tuple of aspect ratios (height / width) per feature map.

    ``forward(image_list, feature_maps)`` returns, for each image, a tensor
    ``(sum_l h_l * w_l * A_l, 4)``: the anchors of every feature map, concatenated in order.
    ``image_list`` is a torchvision ``ImageList`` (its padded ``tensors`` give the image size and
    its ``image_sizes`` the number of images) or a batch tensor ``(N, C, H, W)``.
    """

    def __init__(
        self,
        *,
        sizes: Sequence[Sequence[float]] = ((128, 256, 512),),
        aspect_ratios: Sequence[Sequence[float]] = ((0.5, 1.0, 2.0),),
    ) -> None:
        super().__init__()
        if len(sizes) != len(aspect_ratios):
            raise ValueError(
                f"sizes and aspect_ratios need one entry per feature map, got {len(sizes)} and "
                f"{len(aspect_ratios)}"
            )
        self.sizes = tuple(tuple(s) for s in sizes)
        self.aspect_ratios = tuple(tuple(r) for r in aspect_ratios)
        self.cell_anchors = [
            generate_anchors(sizes=s, aspect_ratios=r)
            for s, r in zip(self.sizes, self.aspect_ratios, strict=True)
        ]

    def num_anchors_per_location(self) -> list[int]:
        """``A_l = len(sizes[l]) * len(aspect_ratios[l])`` for each feature map."""
        return [len(s) * len(r) for s, r in zip(self.sizes, self.aspect_ratios, strict=True)]

    def forward(self, image_list, feature_maps: list[torch.Tensor]) -> list[torch.Tensor]:
        images = image_list.tensors if hasattr(image_list, "tensors") else image_list
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise TypeError("image_list must be a torchvision ImageList or an (N, C, H, W) tensor")
        num_images = (
            len(image_list.image_sizes) if hasattr(image_list, "image_sizes") else len(images)
        )
        if len(feature_maps) != len(self.cell_anchors):
            raise ValueError(
                f"got {len(feature_maps)} feature maps for {len(self.cell_anchors)} anchor "
                "configurations"
            )
        image_h, image_w = images.shape[-2:]
        dtype, device = feature_maps[0].dtype, feature_maps[0].device

        per_map = []
        for feature, cell in zip(feature_maps, self.cell_anchors, strict=True):
            h, w = feature.shape[-2:]
            stride = (image_h // h, image_w // w)  # image pixels per cell (padded image size)
            per_map.append(grid_anchors((h, w), stride, cell.to(dtype=dtype, device=device)))
        anchors = torch.cat(per_map)
        # the same anchors for every image of the batch
        return [anchors.clone() for _ in range(num_images)]
