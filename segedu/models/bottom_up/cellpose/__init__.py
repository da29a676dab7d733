"""Cellpose (Stringer et al., Nature Methods 2021): flows from heat diffusion, their following,
and masks.

- :mod:`.flows`: :func:`masks_to_flows` (the training target), :func:`mask_centers`;
- :mod:`.follow`: :func:`follow_flows` (Euler integration with bilinear interpolation);
- :mod:`.masks`: :func:`masks_from_positions` (clustering the end points), :func:`flow_error`,
  :func:`remove_bad_flow_masks`, :func:`fill_holes_and_remove_small`;
- :mod:`.postprocess`: :func:`compute_masks` (the whole post-processing);
- :mod:`.loss`: :func:`cellpose_loss`;
- :mod:`.model`: :class:`Cellpose`, registered as ``get_model("cellpose")``.
"""

from ..base import renumber
from .flows import default_diffusion_iterations, diffuse_heat, mask_centers, masks_to_flows
from .follow import follow_flows
from .loss import FLOW_SCALE, cellpose_loss
from .masks import (
    fill_holes_and_remove_small,
    flow_error,
    masks_from_positions,
    remove_bad_flow_masks,
)
from .model import Cellpose, cellpose
from .postprocess import compute_masks

__all__ = [
    "Cellpose",
    "FLOW_SCALE",
    "cellpose",
    "cellpose_loss",
    "compute_masks",
    "default_diffusion_iterations",
    "diffuse_heat",
    "fill_holes_and_remove_small",
    "flow_error",
    "follow_flows",
    "mask_centers",
    "masks_from_positions",
    "masks_to_flows",
    "remove_bad_flow_masks",
    "renumber",
]
