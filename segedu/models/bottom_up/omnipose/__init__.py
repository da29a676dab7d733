"""Omnipose (Cutler et al., Nature Methods 2022): flows up a smooth distance field, for cells of
any shape.

- :mod:`.neighbours`: the 3x3 stencil, :func:`connectivity` (the affinity graph), :func:`boundary`;
- :mod:`.distance_field`: :func:`smooth_distance_field` (the eikonal iterations);
- :mod:`.flows`: :func:`masks_to_flows` (the normalised gradient of the field);
- :mod:`.reconstruction`: :func:`compute_masks` (suppressed Euler integration, skeleton
  clustering) and its steps;
- :mod:`.loss`: :func:`omnipose_targets`, :func:`omnipose_loss`;
- :mod:`.model`: :class:`Omnipose`, registered as ``get_model("omnipose")``.
"""

from .distance_field import default_iterations, eikonal_update, smooth_distance_field
from .flows import FLOW_SCALE, field_gradient, masks_to_flows, normalize_flows
from .loss import BACKGROUND_DISTANCE, omnipose_loss, omnipose_targets, weighted_mse
from .model import Omnipose, omnipose
from .neighbours import boundary, connectivity, neighbour_values
from .reconstruction import (
    cluster_end_points,
    compute_masks,
    divergence_rescale,
    follow_flows,
    hysteresis_foreground,
)

__all__ = [
    "BACKGROUND_DISTANCE", "FLOW_SCALE", "Omnipose", "boundary", "cluster_end_points",
    "compute_masks", "connectivity", "default_iterations", "divergence_rescale",
    "eikonal_update", "field_gradient", "follow_flows", "hysteresis_foreground",
    "masks_to_flows", "neighbour_values", "normalize_flows", "omnipose", "omnipose_loss",
    "omnipose_targets", "smooth_distance_field", "weighted_mse",
]
