r"""SOLOv2's training targets: which grid cells of which level own each object, and the mask
each owning cell's kernel must produce.

For each object (box :math:`w \times h` pixels, mask, class) and each level :math:`l` with grid
:math:`S_l` (SOLO's and SOLOv2's papers, and mmdetection's code):

1. **Scale.** The object belongs to level :math:`l` when :math:`\sqrt{w h}` lies in the level's
   scale range ``[lower, upper]`` (both included). The ranges overlap (the paper's
   ``((1, 96), (48, 192), (96, 384), (192, 768), (384, 2048))`` for images of about
   800 x 1333), so an object can be taught at two levels.
2. **Centre region.** Its centre :math:`(c_x, c_y)` is the mask's centre of mass. The cells
   that own it are those that the *centre region* :math:`(c_x, c_y, \epsilon w, \epsilon h)`
   touches, with :math:`\epsilon = 0.2` ("centre sampling"): the box of width
   :math:`\epsilon w` and height :math:`\epsilon h` around the centre, cut to the cells next to
   the centre's cell (at most 3 x 3 positives per object and level). A cell of an
   :math:`H \times W` image at grid size :math:`S` is :math:`H/S` by :math:`W/S` pixels; the
   cell of a point :math:`(x, y)` is :math:`(\lfloor y S / H \rfloor, \lfloor x S / W \rfloor)`.
3. **Category target.** Every owning cell gets the object's class; the others are background.
4. **Mask target.** Every owning cell's kernel must produce the object's mask at the mask
   features' scale (1/4 of the image: bilinear down-sampling, then :math:`\ge 0.5`).

Where segedu follows mmdetection's ``SOLOV2Head._get_targets_single`` (read for
this): the scale is the box's, the region's half-sizes are :math:`0.5\,\epsilon w` and
:math:`0.5\,\epsilon h`, floors are truncations, the grid spans the padded batch, and an object
with an empty mask is skipped. Where it differs: the centre of mass is taken at the pixels'
centres (index + 0.5, the convention of segedu's pixel-edge boxes) where mmdetection averages
the pixel indices (half a pixel up and left); and a cell claimed by two objects belongs to the
later one, its label *and* its mask (mmdetection gives it the later label but keeps both masks
for its kernel).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["solov2_targets", "centre_of_mass", "positive_cells"]


def centre_of_mass(mask: torch.Tensor) -> tuple[float, float]:
    """``(c_y, c_x)`` in pixels of a non-empty ``(H, W)`` mask: the mean of its pixels' centres
    (pixel ``(i, j)`` covers ``[i, i + 1) x [j, j + 1)``, its centre is ``(i + 0.5, j + 0.5)``)."""
    rows, cols = torch.nonzero(mask, as_tuple=True)
    return float(rows.double().mean()) + 0.5, float(cols.double().mean()) + 0.5


def positive_cells(centre: tuple[float, float], box_size: tuple[float, float], *,
                   image_size: tuple[int, int], grid_size: int,
                   center_sampling: float = 0.2) -> tuple[int, int, int, int]:
    """The owning cells of one object at one level: ``(top, bottom, left, right)``, inclusive
    row and column bounds on the ``S x S`` grid (step 2 of the module docstring).

    Args:
        centre: ``(c_y, c_x)`` in pixels.
        box_size: the box's ``(h, w)`` in pixels.
        image_size: the ``(H, W)`` the grid spans.
        grid_size: ``S``.
        center_sampling: :math:`\\epsilon`.
    """
    (cy, cx), (h, w), (height, width), s = centre, box_size, image_size, grid_size

    def cell(v: float, extent: int) -> int:  # the grid index of coordinate v (truncated)
        return int(v * s / extent)

    half_h, half_w = 0.5 * center_sampling * h, 0.5 * center_sampling * w
    row, col = cell(cy, height), cell(cx, width)  # the centre's cell
    # the centre region's cells, inside the grid ...
    top, bottom = max(0, cell(cy - half_h, height)), min(s - 1, cell(cy + half_h, height))
    left, right = max(0, cell(cx - half_w, width)), min(s - 1, cell(cx + half_w, width))
    # ... and next to the centre's cell
    return max(top, row - 1), min(bottom, row + 1), max(left, col - 1), min(right, col + 1)


def solov2_targets(boxes: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor, *,
                   grid_sizes: Sequence[int], scale_ranges: Sequence[tuple[float, float]],
                   center_sampling: float = 0.2, mask_stride: int = 4) -> dict[str, torch.Tensor]:
    """One image's SOLOv2 targets over all levels' grids (see the module docstring).

    Args:
        boxes: ``(M, 4)`` ``xyxy`` pixels.
        labels: ``(M,)`` classes in ``1 .. C`` (0 is the background).
        masks: ``(M, H, W)`` 0/1, at the size the grids span (the padded batch); ``H`` and ``W``
            divisible by ``mask_stride``.
        grid_sizes: ``S`` of each level (the paper's ``(40, 36, 24, 16, 12)``).
        scale_ranges: ``(lower, upper)`` of :math:`\\sqrt{wh}` per level, in pixels.
        center_sampling: :math:`\\epsilon` (0.2).
        mask_stride: the mask features' stride (4).

    Returns:
        ``grid_labels (G,)`` int64 for the ``G = sum S_l^2`` cells, level after level, each
        level row-major (0 = background); ``positive (P,)`` int64, the owning cells' indices
        into ``G``, increasing; ``mask_targets (P, H / mask_stride, W / mask_stride)`` float 0/1,
        the mask of each.
    """
    if len(grid_sizes) != len(scale_ranges):
        raise ValueError(f"one scale range per grid: {len(grid_sizes)} grids, "
                         f"{len(scale_ranges)} ranges")
    if masks.ndim != 3 or len(masks) != len(boxes) or len(labels) != len(boxes):
        raise ValueError(f"need boxes (M, 4), labels (M,), masks (M, H, W) with one M, got "
                         f"{tuple(boxes.shape)}, {tuple(labels.shape)}, {tuple(masks.shape)}")
    height, width = masks.shape[-2:]
    if height % mask_stride or width % mask_stride:
        raise ValueError(f"the masks' size {height}x{width} must be divisible by the mask "
                         f"stride {mask_stride}")
    small = (height // mask_stride, width // mask_stride)
    device = masks.device
    # 1. each object's scale and its mask at the mask features' size
    sides = (boxes[:, 2:] - boxes[:, :2]).double()  # (M, 2): w, h
    scales = (sides[:, 0] * sides[:, 1]).sqrt()  # (M,)
    if len(masks):
        small_masks = F.interpolate(masks[:, None].float(), size=small, mode="bilinear",
                                    align_corners=False)[:, 0] >= 0.5  # (M, h, w)
    else:
        small_masks = masks.new_zeros((0, *small), dtype=torch.bool)
    grid_labels, owner, offset = [], {}, 0  # owner: cell index in G -> object
    for s, (lower, upper) in zip(grid_sizes, scale_ranges, strict=True):
        level = torch.zeros(s, s, dtype=torch.int64, device=device)  # (S, S), background
        for m in range(len(boxes)):
            if not lower <= float(scales[m]) <= upper or not masks[m].any():
                continue
            # 2. the owning cells, around the centre of mass
            top, bottom, left, right = positive_cells(
                centre_of_mass(masks[m]), (float(sides[m, 1]), float(sides[m, 0])),
                image_size=(height, width), grid_size=s, center_sampling=center_sampling)
            # 3. their class; a later object overwrites an earlier one's cells
            level[top:bottom + 1, left:right + 1] = labels[m]
            for i in range(top, bottom + 1):
                for j in range(left, right + 1):
                    owner[offset + i * s + j] = m
        grid_labels.append(level.reshape(-1))
        offset += s * s
    # 4. the owning cells, in order, and their masks
    positive = torch.tensor(sorted(owner), dtype=torch.int64, device=device)
    objects = torch.tensor([owner[p] for p in sorted(owner)], dtype=torch.int64, device=device)
    return {"grid_labels": torch.cat(grid_labels), "positive": positive,
            "mask_targets": small_masks[objects].float()}
