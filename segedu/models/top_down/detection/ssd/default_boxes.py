r"""SSD's default boxes (Liu et al., ECCV 2016, section 2.2 "Choosing scales and aspect ratios
for default boxes"): a few boxes at every cell of every feature map, of a scale that grows with
the map's depth.

Feature map :math:`k` of :math:`m` gets the scale :math:`s_k` (a fraction of the image side;
torchvision's SSD300 uses 0.07, 0.15, 0.33, 0.51, 0.69, 0.87, and 1.05 for the last
:math:`s_{m+1}`), so the fine ``conv4_3`` map finds small objects and the 1 x 1 map the ones
filling the image. At each cell, centred at :math:`((j + 0.5) / f_k, (i + 0.5) / f_k)` with
:math:`f_k = \text{image size} / \text{step}_k`, it places

- a square of side :math:`s_k` and one of side :math:`s'_k = \sqrt{s_k s_{k+1}}`,
- for each aspect ratio :math:`a` of the map (2, or 2 and 3), a box
  :math:`w = s_k \sqrt{a}, h = s_k / \sqrt{a}` and its transpose;

so 4 or 6 boxes per cell: 8,732 in all for SSD300. Sizes are clipped to at most the image
(``clip``), then the boxes are turned into ``xyxy`` pixels of the batch. The order is the head's:
position by position, row by row, then box by box. Equals torchvision's
``DefaultBoxGenerator``.

Unlike the R-CNN anchors (:class:`segedu.ops.AnchorGenerator`: whole pixels, corners at the
cell's corner), default boxes are centred on the cell and not rounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["DefaultBoxGenerator", "SSD300_ASPECT_RATIOS", "SSD300_SCALES", "SSD300_STEPS"]

SSD300_ASPECT_RATIOS = ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,))
SSD300_SCALES = (0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05)
SSD300_STEPS = (8, 16, 32, 64, 100, 300)


class DefaultBoxGenerator(nn.Module):
    """Default boxes for ``m`` feature maps.

    Args (keyword-only):
        aspect_ratios: per map, the ratios beyond 1 (each gives two boxes).
        scales: ``m + 1`` scales (fractions of the image side), the last only for
            :math:`s'_m`; ``None`` spaces ``m`` of them evenly from ``min_ratio`` to
            ``max_ratio`` and adds 1.0 (the paper's formula).
        min_ratio, max_ratio: used only when ``scales`` is ``None``.
        steps: per map, the image pixels per cell for the centres; ``None`` uses the map size.
        clip: clip the sizes to ``[0, 1]`` of the image.

    ``forward(image_list, feature_maps)``: one ``(R, 4)`` tensor of ``xyxy`` boxes per image of
    the batch, ``R = sum_k f_k^2 (2 + 2 len(aspect_ratios[k]))``.
    """

    def __init__(self, *, aspect_ratios: Sequence[Sequence[float]],
                 scales: Sequence[float] | None = None, min_ratio: float = 0.15,
                 max_ratio: float = 0.9, steps: Sequence[int] | None = None,
                 clip: bool = True) -> None:
        super().__init__()
        m = len(aspect_ratios)
        if steps is not None and len(steps) != m:
            raise ValueError(f"need one step per feature map: {m} maps, {len(steps)} steps")
        if scales is None:  # the paper's: evenly spaced, then 1.0 for the last s'_k
            scales = ([min_ratio + (max_ratio - min_ratio) * k / (m - 1.0) for k in range(m)]
                      + [1.0] if m > 1 else [min_ratio, max_ratio])
        if len(scales) != m + 1:
            raise ValueError(f"need {m + 1} scales for {m} feature maps, got {len(scales)}")
        self.aspect_ratios = [list(r) for r in aspect_ratios]
        self.scales = list(scales)
        self.steps = None if steps is None else list(steps)
        self.clip = clip
        self.wh_pairs = [self._cell_sizes(k) for k in range(m)]  # (2 + 2 len(ratios), 2) each

    def _cell_sizes(self, k: int) -> torch.Tensor:
        """Map ``k``'s box sizes ``(w, h)`` as fractions of the image."""
        s_k = self.scales[k]
        s_prime = math.sqrt(self.scales[k] * self.scales[k + 1])
        sizes = [[s_k, s_k], [s_prime, s_prime]]  # the two squares
        for ratio in self.aspect_ratios[k]:  # a wide box and a tall one per ratio
            w, h = s_k * math.sqrt(ratio), s_k / math.sqrt(ratio)
            sizes += [[w, h], [h, w]]
        return torch.as_tensor(sizes, dtype=torch.float32)

    def num_anchors_per_location(self) -> list[int]:
        """``2 + 2 len(aspect_ratios[k])`` boxes per cell of each map."""
        return [2 + 2 * len(r) for r in self.aspect_ratios]

    def normalised_boxes(self, grid_sizes: list[tuple[int, int]], image_size: tuple[int, int],
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """All default boxes ``(R, 4)`` as ``(cx, cy, w, h)`` fractions of the image."""
        boxes = []
        for k, (f_h, f_w) in enumerate(grid_sizes):
            # cells per image side for the centres: image / step (or the map's own size)
            y_f, x_f = ((image_size[0] / self.steps[k], image_size[1] / self.steps[k])
                        if self.steps is not None else (f_h, f_w))
            centres_x = ((torch.arange(0, f_w) + 0.5) / x_f).to(dtype=dtype)
            centres_y = ((torch.arange(0, f_h) + 0.5) / y_f).to(dtype=dtype)
            cy, cx = torch.meshgrid(centres_y, centres_x, indexing="ij")
            cx, cy = cx.reshape(-1), cy.reshape(-1)
            sizes = self.wh_pairs[k]
            # every position gets every size: centres repeated box by box
            centres = torch.stack((cx, cy) * len(sizes), dim=-1).reshape(-1, 2)
            sizes = sizes.clamp(min=0, max=1) if self.clip else sizes
            boxes.append(torch.cat((centres, sizes.repeat(f_h * f_w, 1)), dim=1))
        return torch.cat(boxes, dim=0)

    def forward(self, image_list, feature_maps: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(feature_maps) != len(self.wh_pairs):
            raise ValueError(f"got {len(feature_maps)} feature maps for {len(self.wh_pairs)} "
                             "default-box configurations")
        image_size = image_list.tensors.shape[-2:]  # (H, W) of the batch
        grid_sizes = [tuple(f.shape[-2:]) for f in feature_maps]
        boxes = self.normalised_boxes(grid_sizes, image_size, dtype=feature_maps[0].dtype)
        boxes = boxes.to(feature_maps[0].device)
        # (cx, cy, w, h) fractions -> xyxy pixels
        xy_size = torch.tensor([image_size[1], image_size[0]], device=boxes.device)
        xyxy = torch.cat([(boxes[:, :2] - 0.5 * boxes[:, 2:]) * xy_size,
                          (boxes[:, :2] + 0.5 * boxes[:, 2:]) * xy_size], -1)
        return [xyxy for _ in image_list.image_sizes]
