"""SOLOv2: the FPN pyramid, the category and kernel branches on every level's grid, the unified
mask features, and the masks, each a generated kernel convolved with the mask features."""

from __future__ import annotations

from ...models.top_down.solov2.model import SOLOv2
from ..diagram_structure import Block, Bus, Edge, Structure
from .common import fpn_pyramid

__all__ = ["solov2_structure"]


def solov2_structure(model: SOLOv2) -> Structure:
    """SOLOv2: the pyramid P2 .. P6; the category branch (class scores per grid cell) and the
    kernel branch (a 1x1 kernel per grid cell), shared by the levels and drawn with the first
    level's grid; the mask-feature branch fusing P2 .. P5 at 1/4 scale; the masks after
    Matrix NMS."""
    blocks, edges, levels = fpn_pyramid(model, "backbone.")
    blocks += [Block("category branch", (3, 0), module="category_branch"),
               Block("kernel branch", (3, 1.5), module="kernel_branch"),
               Block("mask features", (3, 3.5), module="mask_feature"),
               Block("masks", (4, 2.5), module="", pick=(0, "masks"), batched=False,
                     params=())]
    edges += [Edge("category branch", "masks", elbow="hv"), Edge("kernel branch", "masks"),
              Edge("mask features", "masks")]
    buses = (Bus(tuple(levels), ("category branch", "kernel branch")),
             Bus(tuple(levels[:4]), ("mask features",)))
    return Structure(tuple(blocks), tuple(edges), buses,
                     (("shared by P2 .. P6", ("category branch", "kernel branch")),))
